/**
 * Many clients through a transaction-mode listener: n client connections to a real PostgreSQL through the router,
 * each running `SELECT 1` now and then (once per `intervalMs` on average, at random times), multiplexed onto the
 * listener's pool. Measures what issue 13 asks: the server connections PostgreSQL sees (pg_stat_activity, sampled
 * while the clients run), the router's memory (whole process tree) and the clients that failed.
 *
 * The clients speak the protocol directly (a startup message, then simple Query messages), as node-postgres'
 * per-connection objects would cost the bench process more memory than the router it measures.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Client as PgClient } from 'pg';
import { encodeStartup } from '../../src/router/wire';
import { PGBENCH_PASSWORD } from './pgbench';
import { sleep, stopChild, treeMemory } from './procs';
import { startRouterProcess } from './targets';

export interface ManyClientsOptions {
  port: number;
  clients: number;
  user: string;
  /** How long the clients run queries once all are connected. */
  durationSec: number;
  /** Mean time between one client's queries. */
  intervalMs: number;
  routerPid: number;
  /** Server connections PostgreSQL has for the pool's user now (pg_stat_activity). */
  serverConnections(): Promise<number>;
}

export interface ManyClientsResult {
  connected: number;
  openMs: number;
  queries: number;
  /** Clients that got an ErrorResponse, lost their connection or never finished the startup: by first reason. */
  failed: Map<string, number>;
  maxServerConnections: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  pssPeakMb: number;
  processes: number;
}

const QUERY = (() => {
  const sql = Buffer.from('SELECT 1\0');
  const b = Buffer.alloc(5 + sql.length);
  b[0] = 0x51; // 'Q'
  b.writeInt32BE(4 + sql.length, 1);
  sql.copy(b, 5);
  return b;
})();

/** The 'M' (message) field of an ErrorResponse body. */
function errorText(body: Buffer): string {
  for (let i = 0; i < body.length && body[i] !== 0; ) {
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    if (body[i] === 0x4d) return body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return 'ErrorResponse';
}

/** One client: resolves `ready` at its first ReadyForQuery, counts each query's ReadyForQuery, fails once. */
class Client {
  private buf: Buffer = Buffer.alloc(0);
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  running = false;
  queries = 0;
  failure: string | undefined;
  readonly socket: Socket;

  constructor(
    port: number,
    user: string,
    private readonly onReady: () => void,
    private readonly onFail: () => void,
  ) {
    this.socket = connect({ port, host: '127.0.0.1' }, () => this.socket.write(encodeStartup({ user, database: 'postgres' })));
    this.socket.on('data', (d: Buffer) => this.read(d));
    this.socket.on('error', (err) => this.fail(`socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    this.socket.on('close', () => this.fail(this.started ? 'connection closed by the router' : 'closed before ReadyForQuery'));
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    while (this.buf.length - off >= 5) {
      const len = this.buf.readInt32BE(off + 1);
      if (this.buf.length - off < 1 + len) break;
      const type = this.buf[off]!;
      if (type === 0x45) this.fail(errorText(this.buf.subarray(off + 5, off + 1 + len)));
      else if (type === 0x5a) this.readyForQuery();
      off += 1 + len;
    }
    this.buf = this.buf.subarray(off);
  }

  private readyForQuery(): void {
    if (!this.started) {
      this.started = true;
      this.onReady();
    } else this.queries++;
    if (this.running) this.schedule();
  }

  schedule(intervalMs = 0): void {
    this.running = true;
    if (intervalMs > 0) this.intervalMs = intervalMs;
    this.timer = setTimeout(() => this.socket.write(QUERY), Math.random() * 2 * this.intervalMs);
  }

  private intervalMs = 1000;

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.socket.removeAllListeners('close');
    this.socket.destroy();
  }

  private fail(reason: string): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.onFail();
  }
}

export async function manyClients(o: ManyClientsOptions): Promise<ManyClientsResult> {
  const before = treeMemory(o.routerPid);
  let peak = before;
  const sampleMemory = () => {
    const m = treeMemory(o.routerPid);
    if (m.rssMb > peak.rssMb) peak = m;
  };
  let maxServer = 0;
  const sampleServer = async () => {
    maxServer = Math.max(maxServer, await o.serverConnections());
  };
  const clients: Client[] = [];
  const t0 = performance.now();
  const batch = 200;
  for (let i = 0; i < o.clients; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, o.clients - i) }, () => new Promise<void>((done) => clients.push(new Client(o.port, o.user, done, done)))),
    );
  }
  const openMs = performance.now() - t0;
  sampleMemory();
  for (const c of clients) if (c.failure === undefined) c.schedule(o.intervalMs);
  const end = performance.now() + o.durationSec * 1000;
  while (performance.now() < end) {
    await sleep(500);
    sampleMemory();
    await sampleServer();
  }
  for (const c of clients) c.running = false;
  // Let the queries in flight answer, so a query cut by the stop is not counted as a failure.
  await sleep(1000);
  const failed = new Map<string, number>();
  for (const c of clients) if (c.failure !== undefined) failed.set(c.failure, (failed.get(c.failure) ?? 0) + 1);
  for (const c of clients) c.stop();
  return {
    connected: clients.filter((c) => c.failure === undefined).length,
    openMs,
    queries: clients.reduce((a, c) => a + c.queries, 0),
    failed,
    maxServerConnections: maxServer,
    rssBeforeMb: before.rssMb,
    rssPeakMb: peak.rssMb,
    pssPeakMb: peak.pssMb,
    processes: peak.processes,
  };
}

/** The role the many clients log in as, so pg_stat_activity shows their pool's server connections apart. */
export const MANY_USER = 'many';

/** Creates MANY_USER (password PGBENCH_PASSWORD) on the bench postgres. */
export async function createManyUser(pgPort: number): Promise<void> {
  await withAdmin(pgPort, (c) => c.query(`CREATE ROLE ${MANY_USER} LOGIN PASSWORD '${PGBENCH_PASSWORD}'`));
}

async function withAdmin<T>(pgPort: number, f: (c: PgClient) => Promise<T>): Promise<T> {
  const c = new PgClient({ host: '127.0.0.1', port: pgPort, user: 'admin', password: PGBENCH_PASSWORD, database: 'postgres' });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

/**
 * A transaction-mode router process with a pool of `poolSize` in front of the bench postgres, `clients` clients
 * through it (one query per ~5 s each, for `durationSec`); prints one line and stops the router.
 */
export async function runManyClients(o: { dir: string; etcd: string; pgPort: number; userlist: string; clients: number; poolSize: number; durationSec: number }): Promise<void> {
  const started = await startRouterProcess(o.dir, 'router-many', o.etcd, 'bench', undefined, { mode: 'transaction', size: o.poolSize, userlist: o.userlist });
  if ('unsupported' in started) throw new Error(`router-many: ${started.unsupported}`);
  try {
    await withAdmin(o.pgPort, async (admin) => {
      const serverConnections = async () => Number((await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1', [MANY_USER])).rows[0].n);
      const r = await manyClients({ port: started.port, clients: o.clients, user: MANY_USER, durationSec: o.durationSec, intervalMs: 5000, routerPid: started.child.pid!, serverConnections });
      const failed = [...r.failed].map(([why, n]) => `${n} × ${why}`).join('; ');
      const failedCount = [...r.failed.values()].reduce((a, b) => a + b, 0);
      console.log(
        `\nmany clients (transaction mode, pool size ${o.poolSize}, trust at the router): ${r.connected + failedCount} client connections opened in ${r.openMs.toFixed(0)} ms, ` +
          `${r.queries} queries in ${o.durationSec} s (SELECT 1 every ~5 s each); server connections in pg_stat_activity: at most ${r.maxServerConnections} (target ≤ ${o.poolSize}); ` +
          `router (${r.processes} process(es)) rss ${r.rssBeforeMb.toFixed(0)} MB before, peak ${r.rssPeakMb.toFixed(0)} MB (pss ${r.pssPeakMb.toFixed(0)} MB; target < 300 MB: ${r.rssPeakMb < 300 ? 'met' : 'NOT met'}); ` +
          `failed clients ${failedCount}${failed ? ` (${failed})` : ''}`,
      );
    });
  } finally {
    await stopChild(started.child);
  }
}
