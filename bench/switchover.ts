/**
 * Switchover and failover under a steady write load through the router (issue 4, item 7).
 *
 *   bench/switchover.sh [--clients 3] [--pre 3] [--post 5] [--only switchover|kill] [--sync] [--keep]
 *
 * A 3-node pgha cluster (startLocalCluster: one etcd, three agents with their PostgreSQL, `ttl: 5, loop_wait: 1,
 * retry_timeout: 2`), a router process (`pgha router -c router.yml`, one write listener with hold_timeout 30s) and
 * in this process `--clients` persistent-connection writers plus `--clients` new-connection-per-INSERT writers,
 * all through the router's write port. Each INSERT has a unique id; an id counts as acknowledged when the INSERT
 * returned. Two phases, each `--pre` seconds of load, the event, then load until the cluster has a new leader and
 * the old primary streams again (or a timeout), then `--post` seconds:
 *
 *  (a) switchover: POST /switchover {"leader","candidate"} to the leader's REST API;
 *  (b) kill: SIGKILL of the leader's agent and of its postmaster; the agent is restarted once the new leader key
 *      appears (its postgres must then rejoin by itself).
 *
 * Printed per phase: longest write gap (between consecutive acknowledgements, all clients), failed connection
 * attempts, failed transactions (an INSERT that errored on an open connection), lost acknowledged writes (ids
 * acknowledged but missing on the new leader afterwards), time for the old primary to stream again, and the
 * router's switchover/hold metrics. It prints figures and asserts nothing. After a failure a writer waits 50 ms
 * before it tries again (so a fast failure cannot spin).
 */
import { mkdtempSync, chmodSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { startLocalCluster, type LocalCluster } from '../src/demo/local-cluster';
import { spawnManaged, type Managed } from '../src/demo/process';
import { freePort } from '../src/demo/free-port';
import { EtcdStore } from '../src/dcs/etcd/etcd-store';
import { readCluster } from '../src/dcs/read';
import { clusterKeys } from '../src/model/keys';
import type { ClusterView } from '../src/model/cluster';
import { isHealthy } from '../src/cli/demo-command';

const PASSWORD = 'test%123';
const PGHA_BIN = resolve(__dirname, '..', '..', 'bin', 'pgha.js');
const RETRY_PAUSE_MS = 50;

type Phase = 'switchover' | 'kill';

interface Options {
  clients: number;
  preSec: number;
  postSec: number;
  phases: Phase[];
  sync: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { clients: 3, preSec: 3, postSec: 5, phases: ['switchover', 'kill'], sync: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a number`);
      return v;
    };
    if (a === '--clients') o.clients = Math.max(1, Math.round(num()));
    else if (a === '--pre') o.preSec = num();
    else if (a === '--post') o.postSec = num();
    else if (a === '--only') {
      const p = argv[++i];
      if (p !== 'switchover' && p !== 'kill') throw new Error('--only takes switchover or kill');
      o.phases = [p];
    } else if (a === '--sync') o.sync = true;
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument ${a}; use --clients N --pre S --post S --only switchover|kill --sync --keep`);
  }
  return o;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
/** A time relative to the event, with its sign. */
const signed = (ms: number): string => `${ms < 0 ? '-' : '+'}${secs(Math.abs(ms))}`;

function pgClient(port: number): Client {
  const c = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 60_000, query_timeout: 30_000 });
  c.on('error', () => undefined);
  return c;
}

/** Counts error messages by their first words (bounded). */
class Tally {
  total = 0;
  readonly byMessage = new Map<string, number>();
  add(err: unknown): void {
    this.total++;
    const msg = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 90);
    if (this.byMessage.size < 20 || this.byMessage.has(msg)) this.byMessage.set(msg, (this.byMessage.get(msg) ?? 0) + 1);
  }
  describe(): string {
    return [...this.byMessage].map(([m, n]) => `${n}× ${m}`).join('; ');
  }
}

/** Writers through the router; acknowledged ids with their times. */
class Workload {
  readonly acks: { id: number; at: number }[] = [];
  readonly connectFailures = { persistent: new Tally(), fresh: new Tally() };
  readonly txFailures = { persistent: new Tally(), fresh: new Tally() };
  connectAttempts = 0;
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly port: number,
    readonly base: number,
  ) {}

  start(clients: number): void {
    for (let i = 0; i < clients; i++) {
      this.loops.push(this.persistent(i));
      this.loops.push(this.fresh(clients + i));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async persistent(n: number): Promise<void> {
    let seq = 0;
    let c: Client | undefined;
    while (this.running) {
      if (!c) {
        const fresh = pgClient(this.port);
        this.connectAttempts++;
        try {
          await fresh.connect();
          c = fresh;
        } catch (err) {
          this.connectFailures.persistent.add(err);
          await fresh.end().catch(() => undefined);
          await sleep(RETRY_PAUSE_MS);
          continue;
        }
      }
      const id = this.base + n * 100_000_000 + seq++;
      try {
        await c.query('insert into bench_writes (id, client) values ($1, $2)', [id, n]);
        this.acks.push({ id, at: now() });
      } catch (err) {
        this.txFailures.persistent.add(err);
        await c.end().catch(() => undefined);
        c = undefined;
        await sleep(RETRY_PAUSE_MS);
      }
    }
    await c?.end().catch(() => undefined);
  }

  private async fresh(n: number): Promise<void> {
    let seq = 0;
    while (this.running) {
      const c = pgClient(this.port);
      this.connectAttempts++;
      try {
        await c.connect();
      } catch (err) {
        this.connectFailures.fresh.add(err);
        await c.end().catch(() => undefined);
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      const id = this.base + n * 100_000_000 + seq++;
      try {
        await c.query('insert into bench_writes (id, client) values ($1, $2)', [id, n]);
        this.acks.push({ id, at: now() });
      } catch (err) {
        this.txFailures.fresh.add(err);
        await sleep(RETRY_PAUSE_MS);
      }
      await c.end().catch(() => undefined);
    }
  }
}

interface Env {
  cluster: LocalCluster;
  store: EtcdStore;
  keys: ReturnType<typeof clusterKeys>;
  writePort: number;
  metricsPort: number;
}

async function view(env: Env): Promise<ClusterView> {
  return readCluster(env.store, env.keys);
}

async function waitHealthy(env: Env, timeoutMs: number): Promise<ClusterView | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = await view(env).catch(() => undefined);
    if (v && isHealthy(v, env.cluster.nodes.length)) return v;
    await sleep(250);
  }
  return undefined;
}

async function routerStatus(env: Env): Promise<{ writable: boolean; writeReason: string; leader: { member: string } | null }> {
  return (await fetch(`http://127.0.0.1:${env.metricsPort}/status`).then((r) => r.json())) as { writable: boolean; writeReason: string; leader: { member: string } | null };
}

async function routerMetrics(env: Env): Promise<string[]> {
  const text = await fetch(`http://127.0.0.1:${env.metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#') && /pgha_router_(switchover|connections_refused_total|connections_closed_on_leader_change_total|hold_seconds_count|backend_connect_failures_total|leader_changes_total)/.test(l))
    .filter((l) => !/ 0$/.test(l) && !l.includes('_bucket{'));
}

/** Polls `until` every `everyMs` up to `timeoutMs`; returns the time it first held, or undefined. */
async function timeUntil(timeoutMs: number, everyMs: number, until: () => Promise<boolean>): Promise<number | undefined> {
  const end = now() + timeoutMs;
  while (now() < end) {
    if (await until().catch(() => false)) return now();
    await sleep(everyMs);
  }
  return undefined;
}

/** True when `member` streams from the postgres on `port` (pg_stat_replication, application_name = member name). */
async function streamsFrom(port: number, member: string): Promise<boolean> {
  const c = pgClient(port);
  try {
    await c.connect();
    const r = await c.query<{ state: string }>('select state from pg_stat_replication where application_name = $1', [member]);
    return r.rows.some((row) => row.state === 'streaming');
  } finally {
    await c.end().catch(() => undefined);
  }
}

function longestGap(acks: readonly { at: number }[], from: number, to: number): { gapMs: number; startMs: number } {
  const times = acks.map((a) => a.at).filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let best = { gapMs: 0, startMs: from };
  let prev = from;
  for (const t of [...times, to]) {
    if (t - prev > best.gapMs) best = { gapMs: t - prev, startMs: prev };
    prev = t;
  }
  return best;
}

async function runPhase(env: Env, phase: Phase, index: number, o: Options): Promise<boolean> {
  const before = await waitHealthy(env, 180_000);
  if (!before) {
    console.log(`\n${phase}: the cluster is not healthy (leader plus streaming replicas) after 180 s: skipped`);
    return false;
  }
  const oldName = before.leader!.name;
  const li = env.cluster.nodes.findIndex((n) => n.name === oldName);
  const old = env.cluster.nodes[li]!;
  const candidate = env.cluster.nodes.find((n) => n.name !== oldName)!;
  await timeUntil(30_000, 100, async () => (await routerStatus(env)).leader?.member === oldName && (await routerStatus(env)).writable);

  const wl = new Workload(env.writePort, (index + 1) * 10_000_000_000);
  const started = now();
  wl.start(o.clients);
  await sleep(o.preSec * 1000);

  const t0 = now();
  let eventNote = '';
  let restartAt: number | undefined;
  let post: Promise<string> | undefined;
  if (phase === 'switchover') {
    post = fetch(`http://127.0.0.1:${old.apiPort}/switchover`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ leader: oldName, candidate: candidate.name }),
      signal: AbortSignal.timeout(90_000),
    }).then(
      async (r) => `HTTP ${r.status} ${(await r.text()).trim().slice(0, 120)} after ${secs(now() - t0)}`,
      (err: unknown) => `failed: ${String(err)} after ${secs(now() - t0)}`,
    );
    eventNote = `POST /switchover {"leader":"${oldName}","candidate":"${candidate.name}"} to ${oldName}`;
  } else {
    const pidFile = join(old.dataDir, 'postmaster.pid');
    const pmPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
    env.cluster.agents[li]?.child.kill('SIGKILL');
    if (pmPid) {
      try {
        process.kill(pmPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    eventNote = `kill -9 of ${oldName}'s agent and postmaster (pid ${pmPid || 'unknown'})`;
  }

  // A new leader key (not the old leader), then (kill) restart the old agent, then the old primary must stream.
  let newLeader: string | undefined;
  const leaderAt = await timeUntil(60_000, 50, async () => {
    const v = await view(env);
    newLeader = v.leader && v.leader.name !== oldName ? v.leader.name : undefined;
    return newLeader !== undefined;
  });
  if (phase === 'kill') {
    await env.cluster.agents[li]?.exited;
    env.cluster.startAgent(li);
    restartAt = now();
  }
  let streamAt: number | undefined;
  if (newLeader) {
    const port = env.cluster.nodes.find((n) => n.name === newLeader)!.pgPort;
    streamAt = await timeUntil(120_000, 100, () => streamsFrom(port, oldName));
  }
  const postResult = post ? await post : undefined;
  await sleep(o.postSec * 1000);
  await wl.stop();
  const ended = now();

  // Acknowledged ids missing on the leader now.
  const after = await view(env);
  const finalLeader = after.leader?.name;
  let lost: number | string = 'unknown (no leader)';
  let lostSample: number[] = [];
  if (finalLeader) {
    const port = env.cluster.nodes.find((n) => n.name === finalLeader)!.pgPort;
    const c = pgClient(port);
    try {
      await c.connect();
      const r = await c.query<{ id: string }>('select id from bench_writes where id >= $1 and id < $2', [wl.base, wl.base + 10_000_000_000]);
      const present = new Set(r.rows.map((row) => Number(row.id)));
      const missing = wl.acks.filter((a) => !present.has(a.id)).map((a) => a.id);
      lost = missing.length;
      lostSample = missing.slice(0, 5);
    } catch (err) {
      lost = `unknown (${String(err)})`;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  const gap = longestGap(wl.acks, started, ended);
  const firstAfter = wl.acks.filter((a) => a.at > t0 && (leaderAt === undefined || a.at >= leaderAt)).reduce((m, a) => Math.min(m, a.at), Number.POSITIVE_INFINITY);
  const rel = (t: number | undefined): string => (t === undefined || !Number.isFinite(t) ? 'never' : signed(t - t0));
  const cf = wl.connectFailures;
  const tf = wl.txFailures;
  console.log(`\n=== ${phase}: ${eventNote} (${o.clients} persistent + ${o.clients} new-connection writers)`);
  if (postResult) console.log(`  switchover API answer          ${postResult}`);
  console.log(`  new leader key                 ${newLeader ?? 'none'} at ${rel(leaderAt)}${finalLeader && finalLeader !== newLeader ? ` (now ${finalLeader})` : ''}`);
  console.log(`  first write acknowledged after ${rel(firstAfter)} (on the new leader)`);
  console.log(`  longest write gap              ${secs(gap.gapMs)} (from ${signed(gap.startMs - t0)} relative to the event)`);
  console.log(`  writes acknowledged            ${wl.acks.length} in ${secs(ended - started)}, ${wl.connectAttempts} connection attempts`);
  console.log(`  failed connection attempts     ${cf.persistent.total + cf.fresh.total} (persistent writers ${cf.persistent.total}, new-connection writers ${cf.fresh.total})`);
  for (const t of [cf.persistent, cf.fresh]) if (t.total) console.log(`      ${t.describe()}`);
  console.log(`  failed transactions            ${tf.persistent.total + tf.fresh.total} (persistent writers ${tf.persistent.total}, new-connection writers ${tf.fresh.total})`);
  for (const t of [tf.persistent, tf.fresh]) if (t.total) console.log(`      ${t.describe()}`);
  console.log(`  lost acknowledged writes       ${lost}${lostSample.length ? ` (e.g. ids ${lostSample.join(', ')})` : ''}${finalLeader ? ` (checked on ${finalLeader})` : ''}`);
  if (phase === 'kill') {
    console.log(`  old primary streaming again    ${streamAt && restartAt ? `${secs(streamAt - restartAt)} after its agent restarted (${rel(streamAt)} after the kill)` : 'not within 120 s of its agent restarting'}`);
  } else {
    console.log(`  old primary streaming again    ${streamAt ? `${rel(streamAt)} after the request` : 'not within 120 s'}`);
  }
  console.log(`  router metrics so far          ${(await routerMetrics(env)).join('\n                                 ') || '(none)'}`);
  return true;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'pgha-switchover-'));
  chmodSync(dir, 0o755);
  const dcs: Record<string, unknown> = { ttl: 5, loop_wait: 1, retry_timeout: 2, ...(o.sync ? { synchronous_mode: true } : {}) };
  console.log(`switchover bench: 3 nodes, dcs ${JSON.stringify(dcs)}, files under ${dir}`);
  const cluster = await startLocalCluster({ dir, env: process.env, dcs });
  const store = new EtcdStore({ hosts: [cluster.etcd.endpoint], deadlineMs: 5000 });
  let router: Managed | undefined;
  try {
    const writePort = await freePort();
    const metricsPort = await freePort();
    const routerYml = join(dir, 'router.yml');
    writeFileSync(
      routerYml,
      `scope: ${cluster.scope}
namespace: /service/
etcd: {hosts: ["${cluster.etcd.endpoint}"]}
listeners:
  - {name: write, role: primary, listen: "127.0.0.1:${writePort}", hold_timeout: 30s}
metrics: {listen: "127.0.0.1:${metricsPort}"}
health: {interval: 250ms, timeout: 250ms, fast_interval: 50ms, max_age: 1s}
lease: {margin: 1s}
switchover_hold: 30s
`,
    );
    router = spawnManaged('router', process.execPath, [PGHA_BIN, 'router', '-c', routerYml], { logFile: join(dir, 'router.log'), env: process.env });
    const env: Env = { cluster, store, keys: clusterKeys('/service', cluster.scope), writePort, metricsPort };
    const healthy = await waitHealthy(env, 180_000);
    if (!healthy) throw new Error('the cluster did not become healthy within 180 s');
    const ready = await timeUntil(30_000, 100, async () => (await routerStatus(env)).writable);
    if (!ready) throw new Error(`the router has no writable leader: ${(await routerStatus(env).catch(() => undefined))?.writeReason ?? 'no status'}`);
    const c = pgClient(writePort);
    await c.connect();
    await c.query('create table if not exists bench_writes (id bigint primary key, client int not null, at timestamptz not null default now())');
    await c.end();
    console.log(`cluster healthy, leader ${healthy.leader!.name}; router write port ${writePort}, metrics ${metricsPort}`);
    for (const [i, phase] of o.phases.entries()) {
      if (!(await runPhase(env, phase, i, o))) break;
    }
  } finally {
    await router?.stop(10_000);
    await store.close();
    await cluster.stop();
    if (o.keep) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
