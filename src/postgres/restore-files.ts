/**
 * Files of a data directory restored by a custom bootstrap (a backup tool, a clone script) before its first start
 * under pgha, as Patroni 3.0.2 writes them on PG12+ (config.py write_recovery_conf, replace_pg_hba while
 * running_custom_bootstrap; bootstrap.py _post_restore).
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { hbaRole, quoteConfValue } from './config-files';
import { isValidParameterName } from './parameters';
import type { RunAs } from './tool';
import { writeOwnedFile } from './data-dir';

/** The `# recovery.conf` section from the configured `recovery_conf`, names sorted, every value quoted. */
export function renderRestoreRecovery(settings: Readonly<Record<string, string>>): string {
  let out = '# recovery.conf\n';
  for (const name of Object.keys(settings).sort()) {
    if (!isValidParameterName(name)) throw new Error(`not a parameter name: ${JSON.stringify(name)}`);
    out += `${name} = ${quoteConfValue(settings[name]!)}\n`;
  }
  return out;
}

/**
 * pg_hba lines put first while a restored server is being taken over: the superuser's password in the restored
 * cluster is not known yet (it is set by the role step), so the agent's own connections over the socket and
 * loopback are trusted until then. Patroni trusts every user there; pgha only the superuser it connects as.
 */
export function restoreTrustLines(superuser: string): string[] {
  const su = hbaRole(superuser);
  return [
    '# Temporary, while pgha takes over a restored cluster (removed once the superuser password is set).',
    `local   all          ${su.padEnd(24)} trust`,
    `host    all          ${su.padEnd(24)} 127.0.0.1/32      trust`,
    `host    all          ${su.padEnd(24)} ::1/128           trust`,
  ];
}

/**
 * Signal files: `recovery` writes recovery.signal and removes standby.signal, `standby` writes standby.signal;
 * `none` removes both unless the tool's own recovery configuration is kept.
 */
export async function applyRestoreSignal(dataDir: string, signal: 'recovery' | 'standby' | 'none', keepExisting: boolean, runAs?: RunAs): Promise<void> {
  const standby = join(dataDir, 'standby.signal');
  const recovery = join(dataDir, 'recovery.signal');
  if (signal === 'standby') return writeOwnedFile(standby, '', runAs);
  if (signal === 'recovery') {
    await fs.rm(standby, { force: true });
    return writeOwnedFile(recovery, '', runAs);
  }
  if (keepExisting) return;
  await fs.rm(standby, { force: true });
  await fs.rm(recovery, { force: true });
}

/** Patroni's _post_restore: a `promote` trigger file left in the data directory would promote postgres at once. */
export async function removePromoteTrigger(dataDir: string): Promise<void> {
  await fs.rm(join(dataDir, 'promote'), { force: true });
}
