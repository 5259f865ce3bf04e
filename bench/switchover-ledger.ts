/**
 * Issue 13's switchover target as a benchmark: 32 clients, each on ONE connection, run short transactions (BEGIN,
 * INSERT, COMMIT) through a router's write port while the agents switch the leader over (REST /switchover).
 *
 *   bench/switchover.sh --ledger [--rounds 2] [--clients 32]
 *
 * Two rows, run alternately in the same cluster (2 agents, etcd, PostgreSQL 15; ttl 10, loop_wait 1,
 * switchover_drain.timeout 5 s), so a loaded machine weighs on both alike:
 *  - pooled: a transaction-mode write listener (the router registers for the drain: sessions survive);
 *  - passthrough: today's mode (sessions end with the old leader; a client reconnects and goes on). The pooled
 *    router stays registered meanwhile, so the old leader drains it (idle) there too, as in a mixed deployment.
 * Printed per switchover: the longest write gap (between consecutive acknowledged transactions, all clients, from
 * the request on) against the < 1 s target, failed transactions, failed connections (a connection that ended or
 * could not be opened), acknowledged rows missing on the new leader, and the timeline of the agents' and the
 * router's steps (test/support/switchover-timeline.ts) that explains the gap. It asserts nothing.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { RunningRouter } from '../src/router/index';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../test/support/cluster';
import { LEDGER_TABLE, longestGap, lostRows, routerTestLog, startLedgerRouter } from '../test/support/ledger';
import { formatTimeline, timelineEvents } from '../test/support/switchover-timeline';
import { waitFor } from '../test/support/wait';

type Mode = 'pooled' | 'passthrough';

interface Row {
  mode: Mode;
  gapMs: number;
  acked: number;
  failedTxns: number;
  failedConnections: number;
  lost: number;
  routedMs: number;
  errors: string[];
}

/** Clients that reconnect after a lost connection (passthrough needs it), counting what failed. */
function startClients(port: number, n: number, table: string) {
  const acked: { client: number; seq: number; at: number }[] = [];
  const errors = new Map<string, number>();
  let failedTxns = 0;
  let failedConnections = 0;
  let running = true;
  const note = (err: unknown) => {
    const m = (err instanceof Error ? err.message : String(err)).slice(0, 80);
    errors.set(m, (errors.get(m) ?? 0) + 1);
  };
  const loops = Array.from({ length: n }, async (_, i) => {
    let seq = 0;
    while (running) {
      const cl = new pg.Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 30_000 });
      let lost = false;
      cl.on('error', () => (lost = true));
      try {
        await cl.connect();
      } catch (err) {
        failedConnections++;
        note(err);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      while (running && !lost) {
        try {
          await cl.query('begin');
          await cl.query(`insert into ${table} (client, seq) values ($1, $2)`, [i, seq]);
          await cl.query('commit');
          acked.push({ client: i, seq, at: Date.now() });
        } catch (err) {
          failedTxns++;
          note(err);
          await cl.query('rollback').catch(() => undefined);
        }
        seq++;
        // Pacing as in the integration test: about 50 transactions a second per client at most.
        await new Promise((r) => setTimeout(r, 20));
      }
      if (lost && running) {
        failedConnections++;
        note(new Error('connection ended'));
      }
      await cl.end().catch(() => undefined);
    }
  });
  return {
    acked,
    errors,
    counts: () => ({ failedTxns, failedConnections }),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function switchover(c: TestCluster, router: RunningRouter, routerLines: string[], mode: Mode, clients: number, round: number): Promise<Row> {
  const table = `ledger_${mode}_${round}`;
  const v0 = await c.waitHealthy(180_000);
  const li = c.leaderIndex(v0);
  const old = c.nodes[li]!;
  const candidate = c.nodes[1 - li]!;
  await sql(old.pgPort, `create table if not exists ${table} (client int not null, seq int not null, primary key (client, seq))`);
  await waitFor('the router routes to the leader', () => router.table().leader?.member === old.name, { timeoutMs: 60_000, intervalMs: 50 });
  const w = startClients(router.ports.write!, clients, table);
  try {
    await waitFor('transactions flowing', () => w.acked.length >= clients * 5, { timeoutMs: 60_000, intervalMs: 50 });
    await waitFor('the candidate caught up', async () => {
      const v = await c.view();
      const lead = Number(v.members.get(old.name)?.doc.xlog_location);
      const cand = Number(v.members.get(candidate.name)?.doc.xlog_location);
      return Number.isFinite(lead) && Number.isFinite(cand) && lead - cand <= 1024 * 1024;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const linesBefore = routerLines.length;
    const t0 = Date.now();
    const res = await fetch(`http://127.0.0.1:${old.apiPort}/switchover`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ leader: old.name, candidate: candidate.name }), signal: AbortSignal.timeout(90_000),
    });
    const answer = `${res.status} ${(await res.text()).trim()}`;
    await waitFor('the router routes to the new leader', () => router.table().leader?.member === candidate.name, { timeoutMs: 60_000, intervalMs: 20 });
    const routedMs = Date.now() - t0;
    const at = Date.now();
    await waitFor('transactions flowing on the new leader', () => w.acked.filter((a) => a.at > at).length >= clients * 5, { timeoutMs: 60_000, intervalMs: 50 });
    await w.stop();
    const end = Date.now();
    const lost = lostRows(w.acked, await sql<{ client: number; seq: number }>(candidate.pgPort, `select client, seq from ${table}`));
    const { failedTxns, failedConnections } = w.counts();
    const row: Row = {
      mode, gapMs: longestGap(w.acked, t0), acked: w.acked.length, failedTxns, failedConnections, lost: lost.length, routedMs,
      errors: [...w.errors].map(([m, k]) => `${k}× ${m}`),
    };
    console.log(`\n--- ${mode}, switchover ${old.name} → ${candidate.name} (API: ${answer.slice(0, 60)})`);
    const events = [
      ...timelineEvents('old', readFileSync(old.logFile, 'utf8').split('\n'), t0 - 50, end),
      ...timelineEvents('new', readFileSync(candidate.logFile, 'utf8').split('\n'), t0 - 50, end),
      ...timelineEvents('router', routerLines.slice(linesBefore), t0 - 50, end),
    ];
    for (const line of formatTimeline(events, t0)) console.log(`  ${line}`);
    console.log(`  ${describeRow(row)}`);
    return row;
  } finally {
    await w.stop();
  }
}

function describeRow(r: Row): string {
  const target = r.gapMs < 1000 ? 'met' : 'NOT met';
  return `${r.mode.padEnd(11)} gap ${String(r.gapMs).padStart(5)} ms (< 1000 ms: ${target})  failed txns ${r.failedTxns}  failed connections ${r.failedConnections}  lost ${r.lost}  acked ${r.acked}  routed after ${r.routedMs} ms${r.errors.length ? `  [${r.errors.join('; ')}]` : ''}`;
}

function parseArgs(argv: string[]): { rounds: number; clients: number } {
  const o = { rounds: 2, clients: 32 };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--rounds' && v > 0) o.rounds = Math.round(v);
    else if (argv[i] === '--clients' && v > 0) o.clients = Math.round(v);
    else if (argv[i] !== '--ledger') throw new Error(`unknown argument ${argv[i]}; use --rounds N --clients N`);
    if (argv[i] !== '--ledger') i++;
  }
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const c = await startTestCluster({ nodes: 2, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 }, extra: () => 'switchover_drain:\n  timeout: 5s\n' });
  const routers: Partial<Record<Mode, { router: RunningRouter; lines: string[] }>> = {};
  const rows: Row[] = [];
  try {
    const v = await c.waitHealthy(180_000);
    await sql(c.nodes[c.leaderIndex(v)]!.pgPort, LEDGER_TABLE);
    for (const mode of ['pooled', 'passthrough'] as const) {
      const { lines, log } = routerTestLog();
      routers[mode] = { router: await startLedgerRouter(c, log, { poolMode: mode === 'pooled' ? 'transaction' : 'passthrough' }), lines };
    }
    await waitFor('the pooled router registered for drains', async () => ((await c.view()).routers?.size ?? 0) === 1, { timeoutMs: 30_000 });
    console.log(`switchover ledger bench: ${o.clients} clients, ${o.rounds} round(s) of pooled then passthrough, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`);
    for (let round = 0; round < o.rounds; round++) {
      for (const mode of ['pooled', 'passthrough'] as const) rows.push(await switchover(c, routers[mode]!.router, routers[mode]!.lines, mode, o.clients, round));
    }
  } finally {
    for (const r of Object.values(routers)) await r?.router.stop().catch((err: unknown) => console.error('router stop failed', err));
    await c.close();
  }
  console.log(`\n=== summary (${o.clients} clients; target: pooled 0 failed transactions, 0 failed connections, gap < 1 s)`);
  for (const r of rows) console.log(describeRow(r));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
