/**
 * The agent shell's pure plans: outage tolerance, self-fencing, rejoin strategy, sync write order, slot retention.
 * Each scenario gives the observed facts and asserts the plan and its reason.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planOutage } from '../../../src/agent/plan-outage';
import { actionsWhenDecideFails, lockExpired, planFence } from '../../../src/agent/plan-fence';
import { planDivergedReplica, planRejoin, type RejoinSettings } from '../../../src/agent/plan-rejoin';
import { planSync } from '../../../src/agent/plan-sync';
import { MEMBER_SLOT_RETENTION_MS, planSlots } from '../../../src/agent/plan-slots';
import { aCluster, anObservation, runningPrimary, runningReplica } from '../../support/agent-builders';

const view = aCluster().initialized().leader('ty-db1').member('ty-db1', 5432, { role: 'master' }).build();
const down = { ok: false as const, error: 'etcd unavailable' };

describe('planOutage: a brief etcd outage is bridged by the last view', () => {
  it('etcd answers: its view is used and the outage clock is reset', () => {
    const p = planOutage({ dcs: { ok: true, view }, nowMs: 9000, retryTimeoutMs: 10_000, failingSinceMs: 1000, lastView: view });
    assert.equal(p.dcs.ok, true);
    assert.equal(p.failingSinceMs, undefined);
  });

  it('the first failed read starts the outage clock, and the last view stands in', () => {
    const p = planOutage({ dcs: down, nowMs: 5000, retryTimeoutMs: 10_000, failingSinceMs: undefined, lastView: view });
    assert.deepEqual(p.dcs, { ok: true, view, standIn: true });
    assert.equal(p.failingSinceMs, 5000);
    assert.match(p.reason, /within retry_timeout: the last view stands in/);
  });

  it('still failing just before retry_timeout: the last view still stands in', () => {
    const p = planOutage({ dcs: down, nowMs: 14_999, retryTimeoutMs: 10_000, failingSinceMs: 5000, lastView: view });
    assert.equal(p.dcs.ok, true);
    assert.equal(p.failingSinceMs, 5000);
  });

  it('failing for retry_timeout: decide sees etcd unavailable', () => {
    const p = planOutage({ dcs: down, nowMs: 15_000, retryTimeoutMs: 10_000, failingSinceMs: 5000, lastView: view });
    assert.deepEqual(p.dcs, down);
    assert.equal(p.reason, 'etcd unavailable for 10000 ms, not less than retry_timeout (10000 ms)');
  });

  it('no view was ever read: nothing stands in', () => {
    const p = planOutage({ dcs: down, nowMs: 5000, retryTimeoutMs: 10_000, failingSinceMs: undefined, lastView: undefined });
    assert.deepEqual(p.dcs, down);
    assert.equal(p.failingSinceMs, 5000);
  });
});

describe('planFence: at the fencing point, stop postgres unless it surely takes no writes', () => {
  it('a node that published itself primary is fenced without asking postgres anything', () => {
    assert.deepEqual(planFence({ publishedRole: 'primary' }), { step: 'fence', reason: 'published role primary' });
  });

  it('published replica: first asks whether postgres runs; a stopped postgres is spared', () => {
    assert.deepEqual(planFence({ publishedRole: 'replica' }), { step: 'ask', fact: 'running' });
    assert.equal(planFence({ publishedRole: 'replica', running: false }).step, 'spare');
  });

  it('published replica but running without standby.signal (promoted during a long tick): fenced, no SQL asked', () => {
    assert.deepEqual(planFence({ publishedRole: 'replica', running: true }), { step: 'ask', fact: 'standby_signal' });
    assert.deepEqual(planFence({ publishedRole: 'replica', running: true, standbySignal: false }),
      { step: 'fence', reason: 'postgres runs without standby.signal: a primary' });
  });

  it('with standby.signal, only a probe answering "in recovery" spares it; a failed probe fences', () => {
    const base = { publishedRole: 'replica', running: true, standbySignal: true };
    assert.deepEqual(planFence(base), { step: 'ask', fact: 'probe' });
    assert.equal(planFence({ ...base, probe: { reachable: true, inRecovery: true } }).step, 'spare');
    assert.equal(planFence({ ...base, probe: { reachable: true, inRecovery: false } }).step, 'fence');
    assert.equal(planFence({ ...base, probe: null }).step, 'fence');
  });

  it('after a long task, the lock counts as expired only with a lease whose validity ran out', () => {
    assert.equal(lockExpired({ haveLease: true, validUntilMs: 1000 }, 1000), true);
    assert.equal(lockExpired({ haveLease: true, validUntilMs: 1001 }, 1000), false);
    assert.equal(lockExpired({ haveLease: false, validUntilMs: 0 }, 1000), false);
  });

  it('when decide throws, a running primary past its lock validity is demoted; anything else waits', () => {
    const expired = anObservation({ view, postgres: runningPrimary(), lockValidForMs: -1000 });
    assert.deepEqual(actionsWhenDecideFails(expired), [{ type: 'demote', mode: 'offline' }]);
    const valid = anObservation({ view, postgres: runningPrimary(), lockValidForMs: 1000 });
    assert.deepEqual(actionsWhenDecideFails(valid), []);
    const replica = anObservation({ view, postgres: runningReplica(), leaseId: null });
    assert.deepEqual(actionsWhenDecideFails(replica), []);
  });
});

const settings = (o: Partial<RejoinSettings> = {}): RejoinSettings => ({
  usePgRewind: true, removeDataDirectoryOnRewindFailure: false, removeDataDirectoryOnDivergedTimelines: false, ...o,
});

describe('planRejoin: a former primary that diverged gets back in line', () => {
  it('waits for the new leader\'s checkpoint after its promotion before anything else', () => {
    assert.equal(planRejoin(settings(), true).step, 'wait_for_checkpoint');
    assert.equal(planRejoin(settings({ usePgRewind: false }), true).step, 'wait_for_checkpoint');
  });

  it('use_pg_rewind: rewinds; when that fails, moves the data directory aside (kept) and clones again', () => {
    assert.deepEqual(planRejoin(settings(), false), {
      step: 'rejoin', tryRewind: true, fallback: 'move_aside', reason: 'pg_rewind, else move the data directory aside and clone again',
    });
  });

  it('remove_data_directory_on_rewind_failure: a failed rewind wipes instead', () => {
    const p = planRejoin(settings({ removeDataDirectoryOnRewindFailure: true }), false);
    assert.equal(p.step === 'rejoin' && p.fallback, 'wipe');
  });

  it('use_pg_rewind off with remove_data_directory_on_diverged_timelines: no rewind, wipe and clone', () => {
    const p = planRejoin(settings({ usePgRewind: false, removeDataDirectoryOnDivergedTimelines: true }), false);
    assert.deepEqual(p.step === 'rejoin' && [p.tryRewind, p.fallback], [false, 'wipe']);
  });

  it('use_pg_rewind off and no removal allowed: starts as it is (remove_..._on_rewind_failure alone does not apply)', () => {
    const p = planRejoin(settings({ usePgRewind: false, removeDataDirectoryOnRewindFailure: true }), false);
    assert.deepEqual(p.step === 'rejoin' && [p.tryRewind, p.fallback], [false, 'start_as_is']);
  });
});

describe('planDivergedReplica: a running replica past the leader\'s timeline switch', () => {
  it('neither rewind nor re-clone allowed: only follows, even while the leader has not checkpointed', () => {
    assert.equal(planDivergedReplica(settings({ usePgRewind: false }), true).step, 'follow_as_is');
  });

  it('waits for the leader\'s checkpoint, then stops and rejoins', () => {
    assert.equal(planDivergedReplica(settings(), true).step, 'wait_for_checkpoint');
    assert.equal(planDivergedReplica(settings(), false).step, 'stop_and_rejoin');
    assert.equal(planDivergedReplica(settings({ usePgRewind: false, removeDataDirectoryOnDivergedTimelines: true }), false).step, 'stop_and_rejoin');
  });
});

describe('planSync: the sync key never names a standby postgres does not wait for', () => {
  const key = (standbys: string | null) => JSON.stringify({ leader: 'ty-db1', sync_standby: standbys });

  it('a standby joins: synchronous_standby_names first, then the key', () => {
    const steps = planSync({ standbys: ['ty-db2'], guc: '"ty-db2"', keyModRevision: 7 }, { leader: 'ty-db1', syncStandby: [] } as never, 'ty-db1');
    assert.deepEqual(steps, [{ type: 'set_guc', value: '"ty-db2"' }, { type: 'write_key', value: key('ty-db2'), modRevision: 7 }]);
  });

  it('a standby leaves: the key first, then synchronous_standby_names', () => {
    const steps = planSync({ standbys: ['ty-db3'], guc: '"ty-db3"', keyModRevision: 7 }, { leader: 'ty-db1', syncStandby: ['ty-db2', 'ty-db3'] } as never, 'ty-db1');
    assert.deepEqual(steps, [{ type: 'write_key', value: key('ty-db3'), modRevision: 7 }, { type: 'set_guc', value: '"ty-db3"' }]);
  });

  it('the key already says so: only the GUC is written (no key write to lose a race on)', () => {
    const steps = planSync({ standbys: ['ty-db3', 'ty-db2'], guc: 'x', keyModRevision: 7 }, { leader: 'ty-db1', syncStandby: ['ty-db2', 'ty-db3'] } as never, 'ty-db1');
    assert.deepEqual(steps, [{ type: 'set_guc', value: 'x' }]);
  });

  it('a key of another leader is taken over (created when absent) after the GUC', () => {
    const steps = planSync({ standbys: [], guc: undefined }, undefined, 'ty-db1');
    assert.deepEqual(steps, [{ type: 'set_guc', value: undefined }, { type: 'write_key', value: key(null), modRevision: undefined }]);
  });

  it('sync mode off: the key is deleted before the GUC is reset; no key, only the GUC', () => {
    assert.deepEqual(planSync({ off: true, standbys: [], guc: undefined, keyModRevision: 9 }, undefined, 'ty-db1'),
      [{ type: 'delete_key', modRevision: 9 }, { type: 'set_guc', value: undefined }]);
    assert.deepEqual(planSync({ off: true, standbys: [], guc: undefined }, undefined, 'ty-db1'), [{ type: 'set_guc', value: undefined }]);
  });
});

describe('planSlots: a slot per other member, kept a while after its member is gone', () => {
  it('the leader keeps a slot for every other member, not for itself', () => {
    const p = planSlots(new Map(), ['ty-db1', 'ty-db2', 'ty-db3'], 'ty-db1', 1000);
    assert.deepEqual(p.ensure, ['ty_db2', 'ty_db3']);
    assert.deepEqual(p.drop, []);
  });

  it('a member whose key vanished keeps its slot within the retention, and loses it after', () => {
    const seen = planSlots(new Map(), ['ty-db1', 'ty-db2'], 'ty-db1', 1000).seen;
    const within = planSlots(seen, ['ty-db1'], 'ty-db1', 1000 + MEMBER_SLOT_RETENTION_MS - 1);
    assert.deepEqual([within.ensure, within.drop], [['ty_db2'], []]);
    const after = planSlots(seen, ['ty-db1'], 'ty-db1', 1000 + MEMBER_SLOT_RETENTION_MS);
    assert.deepEqual([after.ensure, after.drop], [[], ['ty_db2']]);
  });

  it('a member back before the retention ends is seen afresh', () => {
    const seen = new Map([['ty_db2', 0]]);
    const p = planSlots(seen, ['ty-db2'], 'ty-db1', MEMBER_SLOT_RETENTION_MS + 5);
    assert.deepEqual([p.ensure, p.drop, p.seen.get('ty_db2')], [['ty_db2'], [], MEMBER_SLOT_RETENTION_MS + 5]);
  });
});
