/**
 * Issue 14 item 1: the fence process outlives its agent. One node, ttl 16 s: the fencing point is 4 s before etcd
 * can expire the lease, and a grant is renewed every 4 s, so a killed agent leaves its fence at least 8 s; enough
 * for a restarted agent (Node's start, the first cycle, re-attaching the leader key) on a loaded machine, where a
 * ttl of 6 s left 3 to 4.5 s and the restart took longer. kill -9 of the agent, then SIGSTOP of the agent: postgres stops while etcd still
 * holds the leader key (the key lives on the agent's lease: it is there exactly as long as the lease). An agent
 * restarted within the deadline adopts the running fence: the fence sends no stop, and there is still one fence.
 * (The restarted agent may restart postgres itself: decide demotes a primary whose key sits on a lease it does not
 * renew; that is the agent's choice, not the fence's.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';
import { fenceDirFor, isFence, LOG_FILE, postmasterPid, PID_FILE } from '../../../src/fence/files';
import { processesMatching } from '../../scenario/support/harness';

const TTL_MS = 16_000;

describe('the fence process (one node, ttl 16 s)', { timeout: 600_000 }, () => {
  let c: TestCluster;
  const fences = new Set<number>();
  let dataDir = '';
  let leaderKey = '';

  const fencePid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(join(fenceDirFor(dataDir), PID_FILE), 'utf8').trim());
      if (isFence(pid, dataDir)) fences.add(pid);
      return isFence(pid, dataDir) ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  /** How many stop signals the fences of this node have logged. */
  const fenceStops = () => {
    try {
      return readFileSync(join(fenceDirFor(dataDir), LOG_FILE), 'utf8').split('\n').filter((l) => l.includes('stopping postgres')).length;
    } catch {
      return 0;
    }
  };
  const fencesRunning = () => processesMatching(new RegExp(` fence \\S+ ${dataDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));

  /** A leader whose postgres runs and whose fence holds a grant. */
  async function armedLeader(): Promise<{ pm: number; fence: number }> {
    await c.waitHealthy(120_000);
    return waitFor('postgres running with its fence', () => {
      const pm = postmasterPid(dataDir);
      const fence = fencePid();
      return pm && fence ? { pm, fence } : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
  }

  /** Polls every 20 ms until postgres is gone and the leader key (our lease) has expired; the times of both. */
  async function stopAndExpiry(since: number): Promise<{ pgGoneMs: number; keyGoneMs: number }> {
    let pgGoneMs = 0;
    let keyGoneMs = 0;
    await waitFor('postgres stopped and the leader key expired', async () => {
      if (!pgGoneMs && postmasterPid(dataDir) === undefined) pgGoneMs = Date.now() - since;
      if (!keyGoneMs && !(await c.store.get(leaderKey))) keyGoneMs = Date.now() - since;
      return pgGoneMs && keyGoneMs;
    }, { timeoutMs: 4 * TTL_MS, intervalMs: 20 });
    return { pgGoneMs, keyGoneMs };
  }

  before(async () => {
    c = await startTestCluster({ nodes: 1, dcs: { ttl: 16, loop_wait: 1, retry_timeout: 3 } });
    dataDir = c.nodes[0]!.dataDir;
    leaderKey = `/service/${c.scope}/leader`;
  });
  after(async () => {
    for (const a of c?.agents ?? []) if (a) process.kill(a.pid, 'SIGCONT');
    if (c) await c.close();
    for (const pid of fences) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // exited by itself
      }
    }
  });

  it('an agent restarted while its fence runs adopts it: the fence sends no stop, one fence', async (t) => {
    const { fence } = await armedLeader();
    const stopsBefore = fenceStops();
    c.agents[0]!.child.kill('SIGKILL');
    await c.agents[0]!.exited;
    c.startAgent(0);
    // A whole ttl: without the hand-over, the old grant's deadline (at most ttl − margin away) would have passed.
    const since = Date.now();
    await waitFor('a ttl with the restarted agent', () => Date.now() - since > TTL_MS, { timeoutMs: 4 * TTL_MS, intervalMs: 200 });
    assert.equal(fenceStops(), stopsBefore, 'the fence sent no stop');
    assert.equal(fencePid(), fence, 'the same fence holds the grant');
    assert.deepEqual(fencesRunning(), [fence], 'one fence process for the data directory');
    t.diagnostic(`fence ${fence} held the grant over ${Date.now() - since} ms after the restart without a stop`);
  });

  it('kill -9 of the agent: postgres stops before the lease can expire in etcd', async (t) => {
    const { fence } = await armedLeader();
    const killedAt = Date.now();
    c.agents[0]!.child.kill('SIGKILL');
    const { pgGoneMs, keyGoneMs } = await stopAndExpiry(killedAt);
    t.diagnostic(`postgres gone ${pgGoneMs} ms after the kill, the leader key (lease) expired at ${keyGoneMs} ms`);
    assert.ok(pgGoneMs < keyGoneMs, `postgres stopped (${pgGoneMs} ms) before the lease expired (${keyGoneMs} ms)`);
    await waitFor('the fence exits once postgres is down', () => !isFence(fence, dataDir), { timeoutMs: 10_000, intervalMs: 50 });
    await c.agents[0]!.exited;
    c.startAgent(0);
  });

  it('SIGSTOP of the agent: postgres stops before the lease can expire; after SIGCONT the agent starts it again', async (t) => {
    await armedLeader();
    const agent = c.agents[0]!;
    const frozenAt = Date.now();
    process.kill(agent.pid, 'SIGSTOP');
    try {
      const { pgGoneMs, keyGoneMs } = await stopAndExpiry(frozenAt);
      t.diagnostic(`postgres gone ${pgGoneMs} ms after SIGSTOP, the leader key (lease) expired at ${keyGoneMs} ms`);
      assert.ok(pgGoneMs < keyGoneMs, `postgres stopped (${pgGoneMs} ms) before the lease expired (${keyGoneMs} ms)`);
    } finally {
      process.kill(agent.pid, 'SIGCONT');
    }
    await armedLeader();
  });
});
