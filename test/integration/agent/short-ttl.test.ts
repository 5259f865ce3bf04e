/**
 * Issue 2 acceptance with `ttl: 5, loop_wait: 1, retry_timeout: 2`: kill -9 of the leader gives a new leader within
 * 6 s; stopping etcd makes the primary stop taking writes before ttl has passed since its last renewal; with etcd
 * back the cluster heals by itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { PASSWORD, sql, startTestCluster, waitForWritesRefused, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';

const TTL_MS = 5000;

describe('short ttl (5 s, loop_wait 1 s, retry_timeout 2 s)', { timeout: 600_000 }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster({ dcs: { ttl: 5, loop_wait: 1, retry_timeout: 2 } });
    await c.waitHealthy(120_000);
  });
  after(async () => {
    if (c) await c.close();
  });

  it('elects a new leader within 6 s of kill -9 of the leader agent and postgres', async (t) => {
    const li = c.leaderIndex(await c.view());
    const old = c.nodes[li]!;
    const pmPid = Number(readFileSync(join(old.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const killedAt = Date.now();
    c.agents[li]!.child.kill('SIGKILL');
    process.kill(pmPid, 'SIGKILL');
    const next = await waitFor('a new leader key', async () => {
      const v = await c.view();
      return v.leader && v.leader.name !== old.name ? v.leader.name : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    const tookMs = Date.now() - killedAt;
    t.diagnostic(`new leader ${next} holds the key ${tookMs} ms after the kill`);
    assert.ok(tookMs <= 6000, `new leader ${next} after ${tookMs} ms (expected within 6000 ms)`);
    const ni = c.nodes.findIndex((n) => n.name === next);
    await waitFor('writes on the new leader', async () => {
      await sql(c.nodes[ni]!.pgPort, 'CREATE TABLE IF NOT EXISTS t_after_kill (id int)');
      return true;
    }, { timeoutMs: 30_000 });
    await c.agents[li]!.exited;
    c.startAgent(li);
    await c.waitHealthy(180_000);
  });

  it('stops taking writes before ttl when etcd stops, and heals when etcd returns', async (t) => {
    // The node killed by the previous test is still rejoining: start from a leader that takes writes now (the leader
    // is read again on every try), and say what the agents did if it never does.
    const { leader, writer } = await waitFor('a leader taking writes', async () => {
      const l = c.nodes[c.leaderIndex(await c.view())];
      if (!l) return undefined;
      const w = new Client({ host: '127.0.0.1', port: l.pgPort, user: 'admin', password: PASSWORD, database: 'postgres' });
      w.on('error', () => undefined);
      try {
        await w.connect();
        await w.query('CREATE TABLE IF NOT EXISTS fence_probe (id bigserial primary key, at timestamptz default now())');
        return { leader: l, writer: w };
      } catch (err) {
        t.diagnostic(`${l.name} did not take a write yet: ${String(err)}`);
        void w.end().catch(() => undefined);
        return undefined;
      }
    }, { timeoutMs: 60_000, intervalMs: 200 }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${c.nodes.map((_, i) => c.logTail(i, 25)).join('\n---\n')}`);
    });
    let lastAck = 0;
    let writing = true;
    const loop = (async () => {
      while (writing) {
        try {
          await writer.query('INSERT INTO fence_probe DEFAULT VALUES');
          lastAck = Date.now();
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor('writes flowing', () => lastAck > 0, { timeoutMs: 10_000 });
    const stoppedAt = Date.now();
    await c.stopEtcd();
    try {
      await waitForWritesRefused(leader.pgPort, 'INSERT INTO fence_probe DEFAULT VALUES', { timeoutMs: 30_000, intervalMs: 50 });
      writing = false;
      await loop;
      // The last renewal happened before etcd stopped: writes must end within ttl of it, so within ttl of the stop.
      t.diagnostic(`last write acknowledged ${lastAck - stoppedAt} ms after etcd stopped`);
      assert.ok(lastAck - stoppedAt < TTL_MS, `last write acknowledged ${lastAck - stoppedAt} ms after etcd stopped`);
    } finally {
      writing = false;
      await writer.end().catch(() => undefined);
      await c.startEtcd();
    }
    const healed = await c.waitHealthy(180_000);
    assert.ok(healed.leader, 'one leader again');
  });
});
