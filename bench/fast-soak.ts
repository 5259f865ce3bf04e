/**
 * The fast profile's soak (issue 14 item 3; docs/fast-profile.md): a 3-node cluster with `ttl 5, loop_wait 1,
 * retry_timeout 2` in synchronous mode, a router, pgbench and a client ledger writing through the router, and etcd
 * frozen (SIGSTOP of the etcd process this run started) for 1–3 s at random intervals. It counts failovers (another
 * member leads) and fenced restarts (the leader stopped its postgres at its fencing point and started it again,
 * keeping the key); either is false unless a stall of GUARANTEED_STALL_MS or more just came before it.
 *
 *   node dist/bench/fast-soak.js [MINUTES=60] [SEED=1]      (scripts/fast-soak.sh runs it)
 *
 * It prints figures and asserts nothing; the exit code is 1 when a false failover or fence, or a lost write, was seen.
 * Env: FAST_SOAK_STALL_MS=1000-3000 (stall bounds), FAST_SOAK_GAP_S=10-40 (seconds between stalls),
 * FAST_SOAK_RATE=200 (pgbench -R, transactions/s; the machine is shared).
 */
import { execFile } from 'node:child_process';
import { loadavg as osLoad } from 'node:os';
import { silentLogger } from '../src/log/logger';
import { loadRouterConfig, startRouter, type RunningRouter } from '../src/router/index';
import type { ClusterView } from '../src/model/cluster';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../test/support/cluster';
import { freePorts } from '../test/support/ports';
import { Rng } from '../test/support/sim/rng';
import { FAST_DCS } from '../test/scenario/support/harness';
import { Ledger, LEDGER_TABLE } from '../test/scenario/support/ledger';

interface Stall { at: number; ms: number }
interface Change { at: number; kind: 'failover' | 'fenced-restart'; what: string }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const iso = (ms: number) => new Date(ms).toISOString();
function bounds(name: string, def: [number, number]): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(process.env[name] ?? '');
  return m ? [Number(m[1]), Number(m[2])] : def;
}

/**
 * The leader and whether its postgres runs as primary. A change of name is a failover; the same name with postgres
 * stopped (or starting) in between is the leader fencing itself and starting again: no failover, yet a write outage.
 */
function epoch(v: ClusterView): { leader: string; up: boolean } {
  const l = v.leader?.name;
  const doc = l ? v.members.get(l)?.doc : undefined;
  return { leader: l ?? '(no leader)', up: doc?.state === 'running' && doc.timeline !== undefined };
}

/**
 * At ttl 5 the leader's validity ends ttl − margin = 3.75 s after the send of its last good keepalive, which may
 * precede a stall by one keepalive interval (1.25 s): a stall shorter than 2.5 s can never fence it; a longer one
 * can, depending on where the keepalives fall. A leader change or fence after such a stall is explained.
 */
const GUARANTEED_STALL_MS = 5000 - 1250 - 1250;

interface PgbenchResult { processed: number; failed: number; aborted: number; tps: number; note?: string }

/** One pgbench chunk through the router: a connection lost aborts a client for the rest of the chunk only. */
function pgbench(port: number, seconds: number, rate: number): Promise<PgbenchResult> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', 'admin', '-c', '4', '-j', '2', '-T', String(seconds), '-R', String(rate), 'postgres'];
  return new Promise((resolve) => {
    execFile('pgbench', args, { env: { ...process.env, PGPASSWORD: PASSWORD }, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
      const aborted = (stderr.match(/client \d+ aborted/g) ?? []).length;
      resolve({
        processed: num(/number of transactions actually processed: (\d+)/),
        failed: num(/number of failed transactions: (\d+)/),
        aborted,
        tps: num(/tps = ([\d.]+)/),
        ...(err && !aborted ? { note: stderr.split('\n').slice(-3).join(' ') } : {}),
      });
    });
  });
}

async function main(): Promise<number> {
  const minutes = Number(process.argv[2] ?? 60);
  const rng = new Rng(Number(process.argv[3] ?? 1));
  const [stallLo, stallHi] = bounds('FAST_SOAK_STALL_MS', [1000, 3000]);
  const [gapLo, gapHi] = bounds('FAST_SOAK_GAP_S', [10, 40]);
  const rate = Number(process.env.FAST_SOAK_RATE ?? 200);
  const c: TestCluster = await startTestCluster({ scope: 'fastsoak', dcs: FAST_DCS });
  let router: RunningRouter | undefined;
  let ledger: Ledger | undefined;
  const etcdPid = c.etcd.pid;
  let stopped = false;
  const resumeEtcd = () => {
    try {
      process.kill(etcdPid, 'SIGCONT');
    } catch {
      // etcd already gone: nothing to resume
    }
  };
  // A soak ended by Ctrl-C or SIGTERM must not leave etcd frozen for the cluster's shutdown.
  const onSignal = () => {
    stopped = true;
    resumeEtcd();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const first = await c.waitHealthy(180_000);
    const [write, read] = await freePorts(2);
    router = await startRouter(loadRouterConfig({
      scope: 'fastsoak', namespace: '/service/', etcd: { hosts: [c.etcd.endpoint], deadline: '2s' },
      listeners: [
        { name: 'write', role: 'primary', listen: `127.0.0.1:${write}`, hold_timeout: '30s' },
        { name: 'read', role: 'replica', listen: `127.0.0.1:${read}`, max_lag: '16MB', hold_timeout: '10s' },
      ],
      health: { interval: '500ms', timeout: '400ms', fast_interval: '50ms' },
    }, 'fast soak router'), { logger: silentLogger() });
    const leaderPort = c.nodes[c.leaderIndex(first)]!.pgPort;
    await sql(leaderPort, `create table if not exists ${LEDGER_TABLE} (id bigint primary key)`);
    // Straight to the leader: a COPY through a router that is still settling on its first table is not the test.
    await new Promise<void>((resolve, reject) => execFile('pgbench', ['-h', '127.0.0.1', '-p', String(leaderPort), '-U', 'admin', '-i', '-s', '5', '-q', 'postgres'],
      { env: { ...process.env, PGPASSWORD: PASSWORD } }, (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve())));
    console.log(`fast soak: ${minutes} min, dcs ${JSON.stringify(FAST_DCS)}; etcd pid ${etcdPid} stalled ${stallLo}-${stallHi} ms every ${gapLo}-${gapHi} s; pgbench -c 4 -R ${rate} and a ledger through the router`);

    ledger = new Ledger(write!, 0);
    ledger.start();
    const startedAt = Date.now();
    const endAt = startedAt + minutes * 60_000;
    const stalls: Stall[] = [];
    const changes: Change[] = [];
    const bench: PgbenchResult[] = [];

    const staller = (async () => {
      while (!stopped && Date.now() < endAt) {
        await sleep(rng.int(gapLo * 1000, gapHi * 1000));
        if (stopped || Date.now() >= endAt) break;
        const ms = rng.int(stallLo, stallHi);
        const at = Date.now();
        process.kill(etcdPid, 'SIGSTOP');
        try {
          await sleep(ms);
        } finally {
          resumeEtcd();
        }
        stalls.push({ at, ms: Date.now() - at });
        console.log(`${iso(at)} etcd stalled ${Date.now() - at} ms`);
      }
    })();
    const watcher = (async () => {
      let current = epoch(first);
      let downSince: number | undefined;
      while (!stopped && Date.now() < endAt + 5000) {
        const v = await c.view().catch(() => undefined);
        const now = v ? epoch(v) : current;
        if (now.leader !== current.leader && now.leader !== '(no leader)') {
          changes.push({ at: Date.now(), kind: 'failover', what: `${current.leader} -> ${now.leader}` });
          console.log(`${iso(Date.now())} failover ${current.leader} -> ${now.leader}`);
          downSince = undefined;
        } else if (now.leader === current.leader && current.up && !now.up) {
          downSince = Date.now();
        } else if (now.leader === current.leader && !current.up && now.up && downSince !== undefined) {
          changes.push({ at: downSince, kind: 'fenced-restart', what: `${now.leader}'s postgres down ${((Date.now() - downSince) / 1000).toFixed(1)} s, leader kept` });
          console.log(`${iso(Date.now())} ${changes.at(-1)!.what}`);
          downSince = undefined;
        }
        // A moment with no leader key is not an epoch: the next leader is compared with the last one.
        if (now.leader !== '(no leader)') current = now;
        await sleep(250);
      }
    })();
    let lastReport = startedAt;
    while (!stopped && Date.now() < endAt) {
      const r = await pgbench(write!, Math.max(5, Math.min(60, Math.round((endAt - Date.now()) / 1000))), rate);
      bench.push(r);
      if (r.note) console.log(`${iso(Date.now())} pgbench: ${r.note}`);
      if (Date.now() - lastReport >= 5 * 60_000) {
        lastReport = Date.now();
        console.log(`${iso(lastReport)} ${Math.round((lastReport - startedAt) / 60_000)} min: ${stalls.length} stalls, ${changes.length} leader changes, ledger ${ledger.count()} acknowledged, longest gap ${ledger.figures().longestGapMs} ms`);
      }
    }
    await staller;
    await watcher;
    await ledger.stop();
    const healed = await c.waitHealthy(120_000);
    const rows = await sql<{ id: string }>(c.nodes[c.leaderIndex(healed)]!.pgPort, `select id from ${LEDGER_TABLE}`);
    const lost = ledger.lost(new Set(rows.map((r) => Number(r.id)))).length;
    const f = ledger.figures();
    // A leader change or fence is false unless a stall long enough to explain it (≥ GUARANTEED_STALL_MS) came just before.
    const explained = (ch: Change) => stalls.some((st) => st.ms >= GUARANTEED_STALL_MS && st.at <= ch.at && ch.at - (st.at + st.ms) < 10_000);
    const falseFailovers = changes.filter((ch) => ch.kind === 'failover' && !explained(ch)).length;
    const falseFences = changes.filter((ch) => ch.kind === 'fenced-restart' && !explained(ch)).length;
    const sum = (k: keyof PgbenchResult) => bench.reduce((n, r) => n + Number(r[k] ?? 0), 0);
    const stallMs = stalls.map((s) => s.ms);
    console.log([
      '',
      `fast soak figures (${minutes} min; the machine is shared with other test runs, load ${loadavg()}):`,
      `  etcd stalls (SIGSTOP): ${stalls.length}, ${stallMs.length ? `${Math.min(...stallMs)}-${Math.max(...stallMs)} ms, mean ${Math.round(stallMs.reduce((a, b) => a + b, 0) / stallMs.length)} ms` : ''}`,
      `  stalls of ${GUARANTEED_STALL_MS} ms or more (may fence the leader at ttl 5): ${stalls.filter((st) => st.ms >= GUARANTEED_STALL_MS).length}`,
      ...changes.map((ch) => `  ${ch.kind}: ${iso(ch.at)} ${ch.what}; nearest stall ${nearest(stalls, ch.at)}`),
      `  failovers: ${changes.filter((ch) => ch.kind === 'failover').length}, false failovers: ${falseFailovers}`,
      `  leader fenced itself and restarted (no failover): ${changes.filter((ch) => ch.kind === 'fenced-restart').length}, after a stall shorter than ${GUARANTEED_STALL_MS} ms: ${falseFences}`,
      `  pgbench: ${sum('processed')} transactions in ${bench.length} runs, ${sum('failed')} failed, ${sum('aborted')} clients aborted`,
      `  ledger: ${f.acknowledged} acknowledged, ${f.failedAttempts} failed attempts, longest write gap ${f.longestGapMs} ms, ${lost} acknowledged writes lost, double-writer ${f.doubleWriterMs} ms`,
    ].join('\n'));
    return falseFailovers + falseFences > 0 || lost > 0 ? 1 : 0;
  } finally {
    stopped = true;
    resumeEtcd();
    await ledger?.stop();
    await router?.stop().catch(() => undefined);
    await c.close();
  }
}

function nearest(stalls: readonly Stall[], at: number): string {
  const before = stalls.filter((s) => s.at <= at).at(-1);
  return before ? `${before.ms} ms, ended ${((at - before.at - before.ms) / 1000).toFixed(1)} s before` : 'none before';
}

function loadavg(): string {
  return osLoad().map((l) => l.toFixed(1)).join(' ');
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err);
  process.exit(2);
});
