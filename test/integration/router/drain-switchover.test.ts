/**
 * Issue 13's switchover target on real agents, etcd and PostgreSQL 15: 32 clients run short transactions (BEGIN,
 * INSERT, COMMIT) through a transaction-mode write listener of a router that registers for drains; a switchover
 * (the agents' REST /switchover) moves the leader. A client ledger checks that every acknowledged transaction is on
 * the new leader; the target is 0 failed transactions and 0 failed connections, and the longest write gap is
 * printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { RunningRouter } from '../../../src/router/index';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { LEDGER_TABLE, longestGap, lostRows, routerTestLog, startLedgerClients, startLedgerRouter } from '../../support/ledger';
import { waitFor } from '../../support/wait';
import { formatTimeline, timelineEvents } from '../../support/switchover-timeline';

const CLIENTS = 32;
/** The router's log lines, kept to explain a failure (the drain's and the pools' steps). */
const { lines: logLines, log } = routerTestLog();

describe('sessions survive a planned switchover (transaction mode, drain)', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let router: RunningRouter | undefined;
  before(async () => {
    c = await startTestCluster({ nodes: 2, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 }, extra: () => 'switchover_drain:\n  timeout: 5s\n' });
    const v = await c.waitHealthy(180_000);
    await sql(c.nodes[c.leaderIndex(v)]!.pgPort, LEDGER_TABLE);
    router = await startLedgerRouter(c, log, { metrics: true });
    await waitFor('the router registered for drains', async () => ((await c.view()).routers?.size ?? 0) === 1, { timeoutMs: 30_000 });
  });
  after(async () => {
    await router?.stop().catch(() => undefined);
    if (c) await c.close();
  });

  it('operator PAUSE/RESUME: a transaction waits while paused, its connection open, and runs on resume', async () => {
    const metrics = router!.ports.metrics!;
    const cl = new pg.Client({ host: '127.0.0.1', port: router!.ports.write!, user: 'admin', password: PASSWORD, database: 'postgres' });
    await cl.connect();
    try {
      await cl.query('select 1');
      const paused = await fetch(`http://127.0.0.1:${metrics}/pause`, { method: 'POST' }).then((r) => r.json());
      assert.deepEqual(paused, { paused: { '*': ['operator'] } });
      let done = false;
      const q = cl.query('select 42 as v').then((r) => {
        done = true;
        return r.rows[0].v as number;
      });
      // The pool itself must count the client as waiting: a condition, not a pause of fixed length.
      await waitFor('the transaction waits in the paused pool', async () => {
        const st = (await fetch(`http://127.0.0.1:${metrics}/status`).then((r) => r.json())) as { paused: Record<string, string[]>; pools: { cl_waiting: number }[] };
        return st.paused['*']?.[0] === 'operator' && st.pools.some((p) => p.cl_waiting >= 1);
      }, { timeoutMs: 10_000 });
      assert.equal(done, false, 'no answer while paused');
      await fetch(`http://127.0.0.1:${metrics}/resume`, { method: 'POST' }).then((r) => r.arrayBuffer());
      assert.equal(await q, 42);
    } finally {
      await cl.end().catch(() => undefined);
    }
  });

  it('32 clients, a switchover: every acknowledged transaction kept, none failed, no connection lost', async (t) => {
    const ledger = await startLedgerClients(router!.ports.write!, CLIENTS);
    const { acked, failures, connectionErrors } = ledger;
    try {
      await waitFor('transactions flowing', () => acked.length >= CLIENTS * 5, { timeoutMs: 60_000, intervalMs: 50 });
      const v = await c.view();
      const li = c.leaderIndex(v);
      const candidate = c.nodes[1 - li]!;
      await waitFor('the candidate caught up', async () => {
        const w = await c.view();
        const lead = Number(w.members.get(c.nodes[li]!.name)?.doc.xlog_location);
        const cand = Number(w.members.get(candidate.name)?.doc.xlog_location);
        return Number.isFinite(lead) && Number.isFinite(cand) && lead - cand <= 1024 * 1024;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      const t0 = Date.now();
      const res = await fetch(`http://127.0.0.1:${c.nodes[li]!.apiPort}/switchover`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ leader: c.nodes[li]!.name, candidate: candidate.name }),
        signal: AbortSignal.timeout(90_000),
      });
      assert.equal(res.status, 200, await res.text());
      await waitFor('the router routes to the new leader', () => router!.table().leader?.member === candidate.name, { timeoutMs: 60_000, intervalMs: 50 });
      const at = Date.now();
      await waitFor('transactions flowing on the new leader', () => acked.filter((a) => a.at > at).length >= CLIENTS * 5, { timeoutMs: 60_000, intervalMs: 50 });
      await ledger.stop();

      const gap = longestGap(acked, t0 - 1000);
      const lost = lostRows(acked, await sql<{ client: number; seq: number }>(candidate.pgPort, 'select client, seq from ledger'));
      const end = Date.now();
      const events = [
        ...timelineEvents('old', readFileSync(c.nodes[li]!.logFile, 'utf8').split('\n'), t0 - 50, end),
        ...timelineEvents('new', readFileSync(candidate.logFile, 'utf8').split('\n'), t0 - 50, end),
        ...timelineEvents('router', logLines, t0 - 50, end),
      ];
      for (const line of formatTimeline(events, t0)) t.diagnostic(line);
      t.diagnostic(`switchover with ${CLIENTS} pooled clients: ${acked.length} transactions acknowledged, ${failures.length} failed, ${connectionErrors.length} connection errors, ${lost.length} lost; longest write gap ${gap} ms; new leader routed ${at - t0} ms after the request`);
      if (lost.length + connectionErrors.length + failures.length > 0) {
        for (const line of logLines.filter((l) => /drain|switchover|retired|lost|routing changed/.test(l))) t.diagnostic(line.trim());
      }
      assert.deepEqual(lost, [], 'every acknowledged transaction is on the new leader');
      assert.deepEqual(connectionErrors, [], 'no client connection failed');
      assert.deepEqual(failures.map((f) => `client ${f.client} seq ${f.seq}: ${f.message}`), [], 'no transaction failed');
      // The target is < 1 s (bench/switchover.sh --ledger prints it). On a machine loaded 15 times over its cores
      // every agent tick takes seconds and the gap reached 10.7 s with nothing wrong (its timeline showed each step
      // slow, none missing), so this bound only catches a switchover that hangs (a hold until switchover_hold).
      assert.ok(gap < 15_000, `longest write gap ${gap} ms < 15000 ms`);
    } finally {
      await ledger.stop();
    }
  });
});
