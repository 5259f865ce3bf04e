/**
 * Files in and around the data directory: permissions, the config files pgha writes, standby.signal,
 * pgpass, emptying the directory. Every file is written atomically (temp file + rename) and owned by the
 * postgres OS user, because postgres and its tools must read them and libpq ignores a pgpass that others can read.
 */
import { promises as fs } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { BASE_CONF, RECOVERY_PARAMETERS } from './config-files';
import { PostgresStateError } from './errors';
import type { RunAs } from './tool';

/** The uid that must own the data dir: the runAs user, else this process. */
function expectedUid(runAs?: RunAs): number | undefined {
  return runAs?.uid ?? process.getuid?.();
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates the data dir if needed and makes it 0700 and owned by the postgres user (postgres refuses other
 * modes than 0700/0750 and other owners). Refuses, rather than chowns, a dir owned by someone else when we
 * are not root: that is a misconfiguration to report.
 */
export async function prepareDataDir(dataDir: string, runAs?: RunAs): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const st = await fs.stat(dataDir);
  const uid = expectedUid(runAs);
  if (uid !== undefined && st.uid !== uid) {
    if (process.getuid?.() === 0 && runAs) await fs.chown(dataDir, runAs.uid, runAs.gid);
    else throw new PostgresStateError('data_dir_owner', `data directory ${dataDir} is owned by uid ${st.uid}, expected uid ${uid}`);
  }
  if ((st.mode & 0o777) !== 0o700) await fs.chmod(dataDir, 0o700);
}

/** True when the data dir does not exist or has no entries (what initdb and pg_basebackup need). */
export async function isDataDirEmpty(dataDir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dataDir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/** Writes a file atomically, mode 0600, owned by runAs when given. */
export async function writeOwnedFile(path: string, content: string, runAs?: RunAs, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.pgha-tmp`);
  await fs.writeFile(tmp, content, { mode });
  await fs.chmod(tmp, mode);
  if (runAs && process.getuid?.() === 0) await fs.chown(tmp, runAs.uid, runAs.gid);
  await fs.rename(tmp, path);
}

/**
 * Installs pgha's postgresql.conf. The first time, the original (initdb's or the backup's) is kept as
 * postgresql.base.conf, which the new file includes (reference §6.3).
 */
export async function writePostgresqlConf(dataDir: string, content: string, runAs?: RunAs): Promise<void> {
  const conf = join(dataDir, 'postgresql.conf');
  const base = join(dataDir, BASE_CONF);
  if (!(await exists(base))) {
    if (await exists(conf)) await fs.rename(conf, base);
    else await writeOwnedFile(base, '', runAs);
  }
  await writeOwnedFile(conf, content, runAs);
}

export async function writePgHba(dataDir: string, content: string, runAs?: RunAs): Promise<void> {
  await writeOwnedFile(join(dataDir, 'pg_hba.conf'), content, runAs);
}

/** Writes the pgpass file (0600, owned by the postgres user, or libpq ignores it). */
export async function writePgpassFile(path: string, content: string, runAs?: RunAs): Promise<void> {
  await writeOwnedFile(path, content, runAs);
}

/** standby.signal: on PG12+ its presence makes postgres start as a standby. */
export async function writeStandbySignal(dataDir: string, runAs?: RunAs): Promise<void> {
  await writeOwnedFile(join(dataDir, 'standby.signal'), '', runAs);
}

export async function removeStandbySignal(dataDir: string): Promise<void> {
  await fs.rm(join(dataDir, 'standby.signal'), { force: true });
}

/**
 * Removes recovery settings from postgresql.auto.conf (`pg_basebackup -R` or ALTER SYSTEM put them there), since
 * auto.conf is read last and would override the recovery section pgha writes. Returns the names removed.
 */
export async function removeRecoverySettingsFromAutoConf(dataDir: string, runAs?: RunAs): Promise<string[]> {
  const path = join(dataDir, 'postgresql.auto.conf');
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed: string[] = [];
  const kept = text.split('\n').filter((line) => {
    const name = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?/.exec(line)?.[1]?.toLowerCase();
    if (name !== undefined && RECOVERY_PARAMETERS.has(name)) {
      removed.push(name);
      return false;
    }
    return true;
  });
  if (removed.length > 0) await writeOwnedFile(path, kept.join('\n'), runAs);
  return removed;
}

/**
 * Empties the data dir but keeps the directory itself (it may be a mount point, and its ownership and
 * mode are set up by the operator). The caller must have stopped postgres.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await Promise.all(entries.map((name) => fs.rm(join(dataDir, name), { recursive: true, force: true })));
}

