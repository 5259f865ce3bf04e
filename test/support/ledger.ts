/**
 * A client ledger for the switchover and failover tests: clients, each on ONE client connection, run short
 * transactions (BEGIN, INSERT of its own (client, seq), COMMIT); every transaction's start and answer times,
 * acknowledged rows, failed transactions and failed connections are recorded, so a test can check every
 * acknowledged row afterwards, measure the write gap and tell which transactions were in flight at an instant.
 */
import pg from 'pg';
import { createLogger } from '../../src/log/logger';
import { loadRouterConfig, startRouter, type RunningRouter } from '../../src/router/index';
import { PASSWORD, type TestCluster } from './cluster';
import { waitFor } from './wait';

export const LEDGER_TABLE = 'create table if not exists ledger (client int not null, seq int not null, primary key (client, seq))';

/** One transaction of the ledger: begun at `t0`, answered (committed or failed) at `t1` (performance.now() ms). */
export interface LedgerTxn {
  client: number;
  seq: number;
  t0: number;
  t1?: number;
  ok?: boolean;
}

export interface Ledger {
  /** Every transaction begun, in the order begun. */
  txns: LedgerTxn[];
  acked: { client: number; seq: number; at: number }[];
  failures: { client: number; seq: number; code: string | undefined; message: string; startedAt: number }[];
  connectionErrors: string[];
  /** Stops the loops after their current transaction and closes the connections. */
  stop(): Promise<void>;
}

export async function startLedgerClients(port: number, n: number): Promise<Ledger> {
  const ledger: Omit<Ledger, 'stop'> = { txns: [], acked: [], failures: [], connectionErrors: [] };
  let running = true;
  const clients = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const cl = new pg.Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', application_name: `ledger-${i}` });
    cl.on('error', (err) => ledger.connectionErrors.push(`client ${i}: ${err.message}`));
    cl.on('end', () => running && ledger.connectionErrors.push(`client ${i}: connection ended`));
    await cl.connect();
    return cl;
  }));
  const loops = clients.map(async (cl, i) => {
    for (let seq = 0; running; seq++) {
      const startedAt = Date.now();
      const txn: LedgerTxn = { client: i, seq, t0: performance.now() };
      ledger.txns.push(txn);
      try {
        await cl.query('begin');
        await cl.query('insert into ledger (client, seq) values ($1, $2)', [i, seq]);
        await cl.query('commit');
        Object.assign(txn, { t1: performance.now(), ok: true });
        ledger.acked.push({ client: i, seq, at: Date.now() });
      } catch (err) {
        Object.assign(txn, { t1: performance.now(), ok: false });
        ledger.failures.push({ client: i, seq, code: (err as { code?: string }).code, message: (err as Error).message, startedAt });
        await cl.query('rollback').catch(() => undefined);
        if (ledger.connectionErrors.length > 0) return;
      }
      // Pacing: each client runs about 50 transactions a second at most, so the 2-core host is not saturated.
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  let stopped: Promise<void> | undefined;
  return {
    ...ledger,
    stop() {
      running = false;
      stopped ??= Promise.all(loops).then(() => Promise.all(clients.map((cl) => cl.end().catch(() => undefined)))).then(() => undefined);
      return stopped;
    },
  };
}

/**
 * Transactions in flight at an instant (performance.now() ms): begun before it and not answered before it. A kill
 * is an interval (the SIGKILL sent at `from`, the last process gone at `to`): then begun before `to` and not
 * answered before `from`, as every such transaction may have had bytes on a server still alive.
 */
export function inFlightAt(txns: readonly LedgerTxn[], from: number, to = from): LedgerTxn[] {
  return txns.filter((t) => t.t0 < to && (t.t1 === undefined || t.t1 > from));
}

/** The longest time without an acknowledged transaction, from `from` on. */
export function longestGap(acked: { at: number }[], from: number): number {
  const times = [from, ...acked.map((a) => a.at).filter((x) => x >= from)].sort((a, b) => a - b);
  let gap = 0;
  for (let k = 1; k < times.length; k++) gap = Math.max(gap, times[k]! - times[k - 1]!);
  return gap;
}

/** Acknowledged rows missing from `rows` (the ledger read back from a node). */
export function lostRows(acked: { client: number; seq: number }[], rows: { client: number; seq: number }[]): { client: number; seq: number }[] {
  const stored = new Set(rows.map((r) => `${r.client}/${r.seq}`));
  return acked.filter((a) => !stored.has(`${a.client}/${a.seq}`));
}

/** The router's log lines, kept to explain a failure (PGHA_TEST_LOG=1: printed at debug level instead). */
export function routerTestLog(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } });
  return { lines, log };
}

/**
 * A router for `c` with one transaction-mode (or `poolMode`) write listener ('write', held up to 30 s, pool size 8) and fast health
 * checks; it logs clients in by SCRAM with the cluster's password. Resolves once it routes to a confirmed leader.
 */
export async function startLedgerRouter(c: TestCluster, logger: ReturnType<typeof createLogger>, o: { metrics?: boolean; poolSize?: number; poolMode?: 'transaction' | 'passthrough' } = {}): Promise<RunningRouter> {
  const config = loadRouterConfig({
    scope: c.scope,
    etcd: { hosts: [c.etcd.endpoint] },
    listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '30s', pool_mode: o.poolMode ?? 'transaction' }],
    pool: { size: o.poolSize ?? 8, queue_timeout: '30s' },
    health: { interval: '1s', timeout: '800ms', fast_interval: '50ms' },
    ...(o.metrics ? { metrics: { listen: '127.0.0.1:0' } } : {}),
  }, 'ledger router');
  const router = await startRouter(config, { logger, poolAuth: { secrets: { lookup: async () => ({ kind: 'plain', password: PASSWORD }) }, type: 'scram-sha-256' } });
  await waitFor('the router confirms the leader', () => router.table().leader !== undefined, { timeoutMs: 60_000, intervalMs: 100 });
  return router;
}
