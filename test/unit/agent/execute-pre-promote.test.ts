import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../../src/agent/execute';
import type { LeaseKeeper } from '../../../src/agent/lease-keeper';
import type { PostgresOps } from '../../../src/agent/postgres-ops';
import type { AgentConfig } from '../../../src/config/types';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { clusterKeys } from '../../../src/model/keys';
import { silentLogger } from '../../../src/log/logger';

/** An executor over a memory store where `leader` holds the leader key, and a replica whose pre_promote says `yes`. */
async function setUp(yes: boolean, leader: string) {
  const store = new MemoryStore({ now: () => 0 });
  const keys = clusterKeys('/service', 'batman');
  await store.put(keys.leader, leader);
  const done: string[] = [];
  const ops = new Proxy({} as PostgresOps, {
    get: (_t, name: string) => {
      if (name === 'prePromote') return async () => (done.push('pre_promote'), yes);
      if (name === 'probe') return async () => ({ reachable: true, inRecovery: true, timeline: 1, replayLsn: 100 });
      if (name === 'timelineHistory') return async () => [];
      if (name === 'intend') return () => undefined;
      return async () => void done.push(name);
    },
  });
  const exec = new Executor({
    config: { name: 'ty-db2', scope: 'batman' } as AgentConfig, keys, store, ops, logger: silentLogger(),
    lease: {} as LeaseKeeper, exit: () => undefined, onPromoted: () => void done.push('loop woken'),
  });
  const promote = () => exec.runLong({ type: 'promote', reason: 'test' }, { view: undefined, dynamic: {} as never });
  return { done, promote };
}

describe('executor: pre_promote before a promotion', () => {
  it('a pre_promote that says no stops the promotion before anything (pre_promote_failed)', async () => {
    const { done, promote } = await setUp(false, 'ty-db2');
    await assert.rejects(promote(), { code: 'pre_promote_failed' });
    assert.deepEqual(done, ['pre_promote']);
  });

  it('a leader key lost while pre_promote ran stops the promotion too', async () => {
    const { done, promote } = await setUp(true, 'ty-db3');
    await assert.rejects(promote(), { code: 'lost_leader_before_promote' });
    assert.deepEqual(done, ['pre_promote']);
  });

  it('a pre_promote that says yes, the key still mine: pg_ctl promote', async () => {
    const { done, promote } = await setUp(true, 'ty-db2');
    await promote();
    assert.deepEqual(done.slice(0, 2), ['pre_promote', 'promote']);
  });

  it('postgres out of recovery wakes the loop at once, before the history key and the CHECKPOINT (routers wait for role master)', async () => {
    const { done, promote } = await setUp(true, 'ty-db2');
    await promote();
    const woken = done.indexOf('loop woken');
    assert.equal(done[woken - 1], 'promote', 'woken right after pg_ctl promote');
    assert.ok(woken < done.indexOf('checkpoint'), `woken before the CHECKPOINT: ${done.join(', ')}`);
  });
});
