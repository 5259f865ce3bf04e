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
import { createLogger } from '../../../src/log/logger';
import { loadRouterConfig, startRouter, type RunningRouter } from '../../../src/router/index';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';

const CLIENTS = 32;
/** The router's log lines, kept to explain a failure (the drain's and the pools' steps). */
const logLines: string[] = [];
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : createLogger({ level: 'info', destination: { write: (line: string) => void logLines.push(line) } });

describe('sessions survive a planned switchover (transaction mode, drain)', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let router: RunningRouter | undefined;
  before(async () => {
    c = await startTestCluster({ nodes: 2, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 }, extra: () => 'switchover_drain:\n  timeout: 5s\n' });
    const v = await c.waitHealthy(180_000);
    await sql(c.nodes[c.leaderIndex(v)]!.pgPort, 'create table if not exists ledger (id bigserial primary key, client int not null, seq int not null)');
    const config = loadRouterConfig({
      scope: c.scope,
      etcd: { hosts: [c.etcd.endpoint] },
      listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '30s', pool_mode: 'transaction' }],
      pool: { size: 8, queue_timeout: '30s' },
      health: { interval: '1s', timeout: '800ms', fast_interval: '50ms' },
      metrics: { listen: '127.0.0.1:0' },
    }, 'drain switchover test');
    router = await startRouter(config, { logger: log, poolAuth: { secrets: { lookup: async () => ({ kind: 'plain', password: PASSWORD }) }, type: 'scram-sha-256' } });
    await waitFor('the router confirms the leader', () => router!.table().leader !== undefined, { timeoutMs: 60_000, intervalMs: 100 });
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
      await waitFor('the transaction waits in the paused pool', async () => {
        const st = (await fetch(`http://127.0.0.1:${metrics}/status`).then((r) => r.json())) as { paused: Record<string, string[]> };
        return st.paused['*']?.[0] === 'operator' && router!.status() !== undefined;
      }, { timeoutMs: 10_000 });
      // The scenario keeps the pool paused for 300 ms: a select answers in about a millisecond when not paused.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done, false, 'no answer while paused');
      await fetch(`http://127.0.0.1:${metrics}/resume`, { method: 'POST' }).then((r) => r.arrayBuffer());
      assert.equal(await q, 42);
    } finally {
      await cl.end().catch(() => undefined);
    }
  });

  it('32 clients, a switchover: every acknowledged transaction kept, none failed, no connection lost', async (t) => {
    const port = router!.ports.write!;
    const acked: { client: number; seq: number; at: number }[] = [];
    const failures: string[] = [];
    const connectionErrors: string[] = [];
    let running = true;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
      const cl = new pg.Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', application_name: `ledger-${i}` });
      cl.on('error', (err) => connectionErrors.push(`client ${i}: ${err.message}`));
      await cl.connect();
      return cl;
    }));
    const loops = clients.map(async (cl, i) => {
      for (let seq = 0; running; seq++) {
        try {
          await cl.query('begin');
          await cl.query('insert into ledger (client, seq) values ($1, $2)', [i, seq]);
          await cl.query('commit');
          acked.push({ client: i, seq, at: Date.now() });
        } catch (err) {
          failures.push(`client ${i} seq ${seq}: ${(err as Error).message}`);
          await cl.query('rollback').catch(() => undefined);
          if (connectionErrors.length > 0) return;
        }
        // Pacing: each client runs about 50 transactions a second at most, so the 2-core host is not saturated.
        await new Promise((r) => setTimeout(r, 20));
      }
    });
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
      running = false;
      await Promise.all(loops);

      const times = acked.map((a) => a.at).filter((x) => x >= t0 - 1000).sort((a, b) => a - b);
      let gap = 0;
      for (let k = 1; k < times.length; k++) gap = Math.max(gap, times[k]! - times[k - 1]!);
      const rows = await sql<{ client: number; seq: number }>(candidate.pgPort, 'select client, seq from ledger');
      const stored = new Set(rows.map((r) => `${r.client}/${r.seq}`));
      const lost = acked.filter((a) => !stored.has(`${a.client}/${a.seq}`));
      const drained = readFileSync(c.nodes[li]!.logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"switchover drain finished"')).at(-1);
      t.diagnostic(`old leader's drain: ${drained ?? '(none logged)'}`);
      t.diagnostic(`switchover with ${CLIENTS} pooled clients: ${acked.length} transactions acknowledged, ${failures.length} failed, ${connectionErrors.length} connection errors, ${lost.length} lost; longest write gap ${gap} ms; new leader routed ${at - t0} ms after the request`);
      if (lost.length + connectionErrors.length + failures.length > 0) {
        for (const line of logLines.filter((l) => /drain|switchover|retired|lost|routing changed/.test(l))) t.diagnostic(line.trim());
      }
      assert.deepEqual(lost, [], 'every acknowledged transaction is on the new leader');
      assert.deepEqual(connectionErrors, [], 'no client connection failed');
      assert.deepEqual(failures, [], 'no transaction failed');
    } finally {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((cl) => cl.end().catch(() => undefined)));
    }
  });
});
