/**
 * Failsafe mode (issue 15 item 1, Patroni 3.0's failsafe_mode) on real etcd and 3 agents with postgres, ttl 20:
 * etcd stopped for longer than the leader's validity (ttl − margin = 15 s after its last keepalive): the leader keeps
 * taking writes because every member confirms it; with one replica's agent frozen (its API silent) as well, the
 * leader stops taking writes before ttl has passed since etcd stopped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'pg';
import { PASSWORD, startTestCluster, waitForWritesRefused, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';

const TTL_MS = 20_000;

async function getJson(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A writer on one connection to the leader's postgres, every 50 ms; it stops at the first refused write. */
function startWriter(port: number) {
  const w = { lastAckMs: 0, acks: 0, failed: undefined as string | undefined, running: true, done: Promise.resolve() };
  const client = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres' });
  client.on('error', () => undefined);
  w.done = (async () => {
    try {
      await client.connect();
      await client.query('CREATE TABLE IF NOT EXISTS failsafe_probe (id bigserial primary key)');
      while (w.running) {
        await client.query('INSERT INTO failsafe_probe DEFAULT VALUES');
        w.acks++;
        w.lastAckMs = Date.now();
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch (err) {
      w.failed = String(err);
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return w;
}

describe('failsafe mode: etcd down', { timeout: 900_000 }, () => {
  let c: TestCluster;
  const frozen: number[] = [];
  before(async () => {
    c = await startTestCluster({ dcs: { ttl: 20, loop_wait: 2, retry_timeout: 4, failsafe_mode: true } });
    await c.waitHealthy(180_000);
  });
  after(async () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    if (c) await c.close();
  });

  /** The leader, once its /failsafe key lists all three members. */
  async function leaderWithTopology() {
    return waitFor('the leader and a /failsafe key with 3 members', async () => {
      const i = c.leaderIndex(await c.view());
      const node = c.nodes[i];
      if (!node) return undefined;
      const fs = await getJson(node.apiPort, '/failsafe').catch(() => undefined);
      return fs?.status === 200 && Object.keys(fs.body).length === 3 ? { i, node } : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
  }

  it('the leader keeps taking writes through a 25 s etcd stop while every member confirms it', async (t) => {
    const { node } = await leaderWithTopology();
    const w = startWriter(node.pgPort);
    await waitFor('writes flowing', () => w.acks > 0 || w.failed !== undefined, { timeoutMs: 15_000 });
    const stoppedAt = Date.now();
    await c.stopEtcd();
    let sawActive = false;
    try {
      // Longer than the validity a keepalive gives (15 s): only failsafe rounds can keep it primary.
      await waitFor('25 s of etcd down', async () => {
        const doc = await getJson(node.apiPort, '/patroni').catch(() => undefined);
        if (doc?.body.failsafe_mode_is_active === true) sawActive = true;
        return w.failed !== undefined || Date.now() - stoppedAt >= 25_000;
      }, { timeoutMs: 60_000, intervalMs: 500 });
      t.diagnostic(`${w.acks} writes acknowledged, last ${w.lastAckMs - stoppedAt} ms after etcd stopped`);
      assert.equal(w.failed, undefined, `a write failed with etcd down: ${w.failed}\n${c.logTail(c.nodes.indexOf(node), 30)}`);
      assert.ok(w.lastAckMs - stoppedAt >= 24_000, 'writes kept being acknowledged');
      assert.ok(sawActive, '/patroni showed failsafe_mode_is_active');
    } finally {
      w.running = false;
      await w.done;
      await c.startEtcd();
    }
    const healed = await c.waitHealthy(180_000);
    assert.equal(healed.leader?.name, node.name, 'the same leader once etcd is back');
  });

  it('with one replica\'s API silent as well, the leader stops taking writes before ttl', async (t) => {
    const { i: li, node } = await leaderWithTopology();
    const ri = li === 0 ? 1 : 0;
    const agentPid = c.agents[ri]!.pid;
    const w = startWriter(node.pgPort);
    await waitFor('writes flowing', () => w.acks > 0 || w.failed !== undefined, { timeoutMs: 15_000 });
    process.kill(agentPid, 'SIGSTOP');
    frozen.push(agentPid);
    const stoppedAt = Date.now();
    await c.stopEtcd();
    try {
      await waitForWritesRefused(node.pgPort, 'INSERT INTO failsafe_probe DEFAULT VALUES', { timeoutMs: 60_000, intervalMs: 100 });
      w.running = false;
      await w.done;
      t.diagnostic(`last write acknowledged ${w.lastAckMs - stoppedAt} ms after etcd stopped`);
      assert.ok(w.lastAckMs - stoppedAt < TTL_MS, `last write acknowledged ${w.lastAckMs - stoppedAt} ms after etcd stopped`);
    } finally {
      w.running = false;
      await w.done;
      process.kill(agentPid, 'SIGCONT');
      frozen.splice(frozen.indexOf(agentPid), 1);
      await c.startEtcd();
    }
    const healed = await c.waitHealthy(180_000);
    assert.ok(healed.leader, 'one leader again');
  });
});
