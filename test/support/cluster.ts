/** Integration harness: a real etcd and real agents (each with its postgres) as processes, stopped by PID. */
import { Client } from 'pg';
import { join } from 'node:path';
import { chmodSync, readFileSync, existsSync } from 'node:fs';
import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from '../../src/demo/local-cluster';
import { EtcdStore } from '../../src/dcs/etcd/etcd-store';
import { readCluster } from '../../src/dcs/read';
import { clusterKeys } from '../../src/model/keys';
import type { ClusterView } from '../../src/model/cluster';
import { isHealthy } from '../../src/cli/demo-command';
import { tempDir, removeDir } from './tmp';
import { waitFor } from './wait';

export const PASSWORD = 'test%123';

export interface TestCluster extends LocalCluster {
  dir: string;
  store: EtcdStore;
  view(): Promise<ClusterView>;
  waitHealthy(timeoutMs?: number): Promise<ClusterView>;
  leaderIndex(view: ClusterView): number;
  /** Stops everything; on failure keeps the agent logs' tails in the error output. */
  close(): Promise<void>;
  logTail(i: number, lines?: number): string;
}

/** `env`: variables added to the agents' environment (PATRONI_* overrides shared by every node). */
export async function startTestCluster(opts: Omit<LocalClusterOptions, 'dir' | 'env'> & { env?: NodeJS.ProcessEnv } = {}): Promise<TestCluster> {
  const dir = tempDir('it');
  chmodSync(dir, 0o755);
  const local = await startLocalCluster({ ...opts, dir, env: { ...process.env, ...opts.env } });
  const store = new EtcdStore({ hosts: [local.etcd.endpoint], deadlineMs: 5000 });
  const keys = clusterKeys('/service', local.scope);
  const t: TestCluster = {
    ...local,
    dir,
    store,
    view: () => readCluster(store, keys),
    waitHealthy: (timeoutMs = 90_000) =>
      waitFor('one leader and all replicas streaming', async () => {
        const v = await readCluster(store, keys);
        return isHealthy(v, local.nodes.length) ? v : undefined;
      }, { timeoutMs, intervalMs: 300 }).catch((err: unknown) => {
        // A cluster that never got healthy: the agents' own last lines say why.
        const tails = local.nodes.map((n, i) => `--- ${n.name}\n${t.logTail(i, 25)}`).join('\n');
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tails}`);
      }),
    leaderIndex: (v) => local.nodes.findIndex((n) => n.name === v.leader?.name),
    logTail: (i, lines = 40) => {
      const f = local.nodes[i]!.logFile;
      return existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-lines).join('\n') : '(no log)';
    },
    async close() {
      await store.close().catch(() => undefined);
      await local.stop();
      if (!process.env.PGHA_KEEP_TEST_DIRS) removeDir(dir);
    },
  };
  return t;
}

/** Waits until the postgres on `port` refuses `insert` (stopped, read-only or unreachable). */
export async function waitForWritesRefused(port: number, insert: string, o: { timeoutMs: number; intervalMs: number }): Promise<void> {
  await waitFor('the primary to refuse writes', async () => {
    try {
      await sql(port, insert);
      return false;
    } catch {
      return true;
    }
  }, o);
}

export async function sql<T = Record<string, unknown>>(port: number, text: string, user = 'admin'): Promise<T[]> {
  const client = new Client({ host: '127.0.0.1', port, user, password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 5000 });
  // A server stopping between the query's answer and end() sends a FATAL (57P01) that pg emits as an 'error' event;
  // what matters to the caller already came through connect() and query().
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function httpStatus(port: number, path: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

export function configFiles(): string[] {
  return [1, 2, 3].map((i) => join(__dirname, '..', '..', '..', 'config', `pgha-node${i}.yml`));
}
