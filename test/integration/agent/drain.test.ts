/**
 * Issue 13 item 4 on real agents and etcd: the switchover drain handshake. With no router registered a switchover
 * does not wait (the agent says so). With a registered router (the router's own drain code, over a fake pool that is
 * busy for 1 s after the pause) the leader demotes only after the acknowledgement: the old leader is still a running
 * primary when the router acknowledges, and the agent's "drain finished" comes after it. patronictl list still
 * works with the routers' and drain keys present.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ClusterCache } from '../../../src/dcs/cluster-cache';
import { clusterKeys } from '../../../src/model/keys';
import { encodeDrainRequest } from '../../../src/model/drain';
import { createLogger } from '../../../src/log/logger';
import { realScheduler } from '../../../src/lib/clock';
import { RouterRegistry } from '../../../src/router/registration';
import { RouterDrain } from '../../../src/router/drain';
import { Pauses, type Drainable } from '../../../src/router/drainable';
import { sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';

/** Time the fake pool reports a transaction in flight after it was paused. */
const BUSY_MS = 1000;

function run(file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
  });
}

/** The agent's JSON log lines with this message. */
function logLines(file: string, msg: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('switchover drain between agents and routers', { timeout: 600_000 }, () => {
  let c: TestCluster;
  const stops: (() => Promise<void> | void)[] = [];
  before(async () => {
    c = await startTestCluster({ nodes: 2, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 }, extra: () => 'switchover_drain:\n  timeout: 5s\n' });
    await c.waitHealthy(180_000);
  });
  after(async () => {
    for (const s of stops.reverse()) await s();
    if (c) await c.close();
  });

  async function switchover(): Promise<{ leader: number; candidate: number; ms: number }> {
    const v = await c.waitHealthy(120_000);
    const leader = c.leaderIndex(v);
    const candidate = 1 - leader;
    // As an operator reads list first: a candidate still replaying is refused as lagging.
    await waitFor('the candidate caught up', async () => {
      const w = await c.view();
      const lead = Number(w.members.get(c.nodes[leader]!.name)?.doc.xlog_location);
      const cand = Number(w.members.get(c.nodes[candidate]!.name)?.doc.xlog_location);
      return Number.isFinite(lead) && Number.isFinite(cand) && lead - cand <= 1024 * 1024;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const t0 = Date.now();
    const res = await fetch(`http://127.0.0.1:${c.nodes[leader]!.apiPort}/switchover`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ leader: c.nodes[leader]!.name, candidate: c.nodes[candidate]!.name }),
      signal: AbortSignal.timeout(90_000),
    });
    assert.equal(res.status, 200, await res.text());
    await waitFor('the candidate leads', async () => (await c.view()).leader?.name === c.nodes[candidate]!.name, { timeoutMs: 60_000, intervalMs: 100 });
    return { leader, candidate, ms: Date.now() - t0 };
  }

  it('no router registered: the switchover does not wait for any', async (t) => {
    const s = await switchover();
    const skipped = logLines(c.nodes[s.leader]!.logFile, 'switchover drain skipped');
    assert.equal(skipped.at(-1)?.reason, 'no router registered: demoting at once');
    assert.equal(logLines(c.nodes[s.leader]!.logFile, 'switchover drain started').length, 0);
    t.diagnostic(`switchover without routers: new leader after ${s.ms} ms`);
  });

  it('a registered router busy for 1 s: the leader demotes after its acknowledgement', async (t) => {
    const logger = createLogger({ level: 'silent' });
    const keys = clusterKeys('/service', c.scope);
    const cache = new ClusterCache(c.store, keys, { logger });
    await cache.start();
    stops.push(() => cache.stop());
    const v = await c.waitHealthy(120_000);
    const leaderNode = c.nodes[c.leaderIndex(v)]!;
    const events: { what: string; at: number; member?: string; primary?: boolean }[] = [];
    const pool: Drainable = {
      pause: (member) => events.push({ what: 'pause', at: Date.now(), ...(member ? { member } : {}) }),
      resume: (member) => events.push({ what: 'resume', at: Date.now(), ...(member ? { member } : {}) }),
      // One transaction is in flight until it "finishes" BUSY_MS after the pause.
      busy: () => (events.some((e) => e.what === 'idle') ? 0 : 1),
      idle: async () => {
        await new Promise((r) => setTimeout(r, BUSY_MS));
        // The transaction "finishes" on the old leader: it must still be a running primary.
        const rows = await sql<{ rec: boolean }>(leaderNode.pgPort, 'select pg_is_in_recovery() as rec');
        events.push({ what: 'idle', at: Date.now(), primary: rows[0]!.rec === false });
      },
    };
    const registry = new RouterRegistry({ store: c.store, keys, scheduler: realScheduler, logger }, { id: 'it-router', pid: process.pid, host: 'localhost' });
    const drain = new RouterDrain({ registry, view: () => cache.view(), leader: () => cache.view()?.leader?.name, pauses: new Pauses(pool), scheduler: realScheduler, logger, timeoutMs: 5000 });
    cache.onChange(() => drain.evaluate());
    registry.start();
    stops.push(async () => {
      drain.stop();
      await registry.stop();
    });
    await waitFor('the router registered', async () => (await c.view()).routers?.has('it-router'), { timeoutMs: 30_000 });

    const s = await switchover();
    assert.equal(c.nodes[s.leader], leaderNode);
    const acked = await waitFor('the acknowledgement in etcd', async () => {
      const r = (await c.view()).routers?.get('it-router');
      return r?.drained ? r : undefined;
    }, { timeoutMs: 30_000 });
    const pause = events.find((e) => e.what === 'pause')!;
    const idle = events.find((e) => e.what === 'idle')!;
    assert.equal(pause.member, leaderNode.name, 'the router paused the leader being switched away from');
    assert.equal(idle.primary, true, 'the old leader was still a running primary when the router went idle');
    const finished = logLines(leaderNode.logFile, 'switchover drain finished').at(-1);
    assert.ok(finished, 'the agent logged the end of the drain');
    assert.deepEqual(finished.acked, ['it-router']);
    assert.equal(finished.id, acked.drained);
    assert.ok(Number(finished.durationMs) >= BUSY_MS - 50, `the agent waited ${String(finished.durationMs)} ms`);
    assert.ok(Date.parse(String(finished.time)) >= idle.at, 'the demote went on only after the router was idle');
    await waitFor('the router resumed', () => events.some((e) => e.what === 'resume'), { timeoutMs: 30_000 });
    await waitFor('the drain key removed', async () => (await c.view()).drain === undefined, { timeoutMs: 30_000 });
    t.diagnostic(`switchover with a router busy ${BUSY_MS} ms: agent waited ${String(finished.durationMs)} ms; new leader after ${s.ms} ms`);

    // patronictl reads the cluster with a router key and a drain key present (for no member: nothing pauses).
    await c.store.put(keys.drain, encodeDrainRequest({ id: 'list-check', leader: 'nobody', timeoutMs: 1000 }));
    const list = await run('patronictl', ['-c', c.nodes[0]!.configFile, 'list']);
    await c.store.delete(keys.drain);
    assert.equal(list.code, 0, list.out);
    for (const n of c.nodes) assert.match(list.out, new RegExp(n.name));
  });
});
