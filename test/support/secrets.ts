/**
 * A secrets audit of a running test cluster: every place an operator, a monitoring system or another local user
 * can read is searched for the passwords, in the forms they could leak in (plain, URL-encoded, base64 as in a
 * Basic header).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TestCluster } from './cluster';

const run = promisify(execFile);

export function secretForms(secrets: readonly string[]): string[] {
  const forms = secrets.flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64')]);
  return [...new Set(forms)];
}

export interface SecretsAudit {
  /** `source: form` for every secret found. */
  leaks: string[];
  checked: string[];
  /** Sources that were empty: an audit of nothing proves nothing. */
  empty: string[];
  pgpassFiles: { path: string; mode: number }[];
}

export async function findSecrets(c: TestCluster, secrets: readonly string[], restPaths: readonly string[]): Promise<SecretsAudit> {
  const audit: SecretsAudit = { leaks: [], checked: [], empty: [], pgpassFiles: [] };
  const look = (source: string, text: string) => {
    audit.checked.push(source);
    if (!text.trim()) audit.empty.push(source);
    for (const s of secrets) if (text.includes(s)) audit.leaks.push(`${source}: ${JSON.stringify(s)}`);
  };
  for (const n of c.nodes) {
    look(`${n.name} agent log`, readFileSync(n.logFile, 'utf8'));
    for (const f of postgresTextFiles(n.dataDir)) look(`${n.name} ${f.slice(n.dataDir.length + 1)}`, readFileSync(f, 'utf8'));
    for (const path of restPaths) {
      for (const accept of ['application/json', 'text/html']) {
        const res = await fetch(`http://127.0.0.1:${n.apiPort}${path}`, { headers: { accept }, signal: AbortSignal.timeout(30_000) });
        look(`${n.name} GET ${path} (${accept})`, `${JSON.stringify([...res.headers])}\n${await res.text()}`);
      }
    }
    const pgpass = join(dirname(n.dataDir), 'pgpass');
    if (existsSync(pgpass)) audit.pgpassFiles.push({ path: pgpass, mode: statSync(pgpass).mode & 0o777 });
  }
  const { kvs } = await c.store.readPrefix('/');
  look('etcd keys', kvs.map((kv) => `${kv.key}=${kv.value}`).join('\n'));
  const { stdout } = await run('ps', ['-eo', 'args', '--no-headers'], { maxBuffer: 16 << 20 });
  look('ps output of the cluster\'s processes', stdout.split('\n').filter((l) => l.includes(c.dir)).join('\n'));
  return audit;
}

/** The configuration files postgres reads and the server log, if any (the YAML itself holds passwords by design). */
function postgresTextFiles(dataDir: string): string[] {
  const files = readdirSync(dataDir).filter((f) => f.endsWith('.conf') || f.endsWith('.opts')).map((f) => join(dataDir, f));
  for (const logDir of ['log', 'pg_log']) {
    const d = join(dataDir, logDir);
    if (existsSync(d)) files.push(...readdirSync(d).map((f) => join(d, f)));
  }
  return files;
}
