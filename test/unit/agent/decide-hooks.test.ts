import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/decide';
import { aCluster, anObservation, peer } from '../../support/agent-builders';

const healthyCluster = () =>
  aCluster().initialized().leader('ty-db1').optime(50_000_000)
    .member('ty-db1', 5432, { role: 'master' }).member('ty-db2', 5433).member('ty-db3', 5434);

describe('decide: pre_promote failed (Patroni enforce_primary_role, is_healthiest_node)', () => {
  const failedPromote = { kind: 'promote' as const, ok: false, code: 'pre_promote_failed', error: 'the pre_promote script did not exit 0', finishedMs: 999_000 };

  it('gives the leader key back instead of promoting again, and stays out of the race for ttl', () => {
    const obs = { ...anObservation({ name: 'ty-db2', view: healthyCluster().leader('ty-db2').build(), lockValidForMs: 10_000 }), finishedTask: failedPromote };
    const d = decide(obs, {});
    assert.deepEqual(d.actions, [{ type: 'release_leader' }]);
    assert.equal(d.reason, 'Promotion cancelled because the pre-promote script failed');
    assert.equal(d.memory.raceBackoffUntilMs, obs.nowMs + obs.dynamic.ttlSeconds * 1000);
  });

  it('does not race while backing off, though it is the healthiest member', () => {
    const view = healthyCluster().noLeader().build();
    const obs = anObservation({ name: 'ty-db2', view, peers: [peer('ty-db3', { replicaLocation: 49_000_000 })] });
    const d = decide(obs, { raceBackoffUntilMs: obs.nowMs + 1 });
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily');
  });

  it('races again once ttl has passed', () => {
    const view = healthyCluster().noLeader().build();
    const obs = anObservation({ name: 'ty-db2', view, peers: [peer('ty-db3', { replicaLocation: 49_000_000 })] });
    const d = decide(obs, { raceBackoffUntilMs: obs.nowMs });
    assert.deepEqual(d.actions.map((a) => a.type), ['acquire_leader', 'promote']);
  });

  it('retries an ordinary failed promotion as before (no release)', () => {
    const obs = {
      ...anObservation({ name: 'ty-db2', view: healthyCluster().leader('ty-db2').build(), lockValidForMs: 10_000 }),
      finishedTask: { ...failedPromote, code: 'internal' },
    };
    const d = decide(obs, {});
    assert.deepEqual(d.actions.map((a) => a.type), ['promote']);
    assert.equal(d.memory.raceBackoffUntilMs, undefined);
  });
});
