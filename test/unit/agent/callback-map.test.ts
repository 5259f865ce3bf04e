import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { callbackFor, INITIAL_CALLBACK_STATE, type CallbackState, type PostgresChange } from '../../../src/agent/callback-map';

/** Applies the changes in order and returns the callbacks fired, as Patroni's script would record them. */
function fire(changes: PostgresChange[], from: CallbackState = INITIAL_CALLBACK_STATE): { calls: string[]; state: CallbackState } {
  let state = from;
  const calls: string[] = [];
  for (const c of changes) {
    const step = callbackFor(state, c);
    state = step.state;
    if (step.call) calls.push(`${step.call.action} ${step.call.role}`);
  }
  return { calls, state };
}

const runningPrimary: CallbackState = { role: 'master', cbCalled: true };
const runningReplica: CallbackState = { role: 'replica', cbCalled: true };

describe('callbacks: what Patroni 3.0.2 fires at each transition', () => {
  it('a new cluster: the bootstrapping member starts as master, a cloned one as replica', () => {
    assert.deepEqual(fire([{ kind: 'started', role: 'master' }]).calls, ['on_start master']);
    assert.deepEqual(fire([{ kind: 'started', role: 'replica' }]).calls, ['on_start replica']);
  });

  it('a promotion: on_role_change master', () => {
    assert.deepEqual(fire([{ kind: 'promoted' }], runningReplica).calls, ['on_role_change master']);
  });

  it('a switchover: the old primary stops as demoted (graceful) and comes back with on_role_change replica', () => {
    const r = fire([{ kind: 'intent', intent: 'graceful_demote' }, { kind: 'stopped', wasRunning: true }, { kind: 'started', role: 'replica' }], runningPrimary);
    assert.deepEqual(r.calls, ['on_stop demoted', 'on_role_change replica']);
    assert.equal(r.state.role, 'replica');
  });

  it('a lost lock: the primary stops as master (immediate, no intent), then on_role_change replica', () => {
    const r = fire([{ kind: 'stopped', wasRunning: true }, { kind: 'started', role: 'replica' }], runningPrimary);
    assert.deepEqual(r.calls, ['on_stop master', 'on_role_change replica']);
  });

  it('a replica re-pointed at a new leader by a reload fires on_reload replica (it stays a replica)', () => {
    assert.deepEqual(fire([{ kind: 'intent', intent: 'follow' }, { kind: 'reloaded' }], runningReplica).calls, ['on_reload replica']);
  });

  it('a demoted primary re-pointed by a reload fires on_role_change replica, unless it fired nothing yet', () => {
    assert.deepEqual(fire([{ kind: 'intent', intent: 'follow' }, { kind: 'reloaded' }], { role: 'demoted', cbCalled: true }).calls, ['on_role_change replica']);
    assert.deepEqual(fire([{ kind: 'intent', intent: 'follow' }, { kind: 'reloaded' }], { role: 'master', cbCalled: false }).calls, ['on_reload master']);
  });

  it('a restart fires on_restart only, with the role postgres comes back in', () => {
    const r = fire([{ kind: 'intent', intent: 'restart' }, { kind: 'stopped', wasRunning: true }, { kind: 'started', role: 'master' }], runningPrimary);
    assert.deepEqual(r.calls, ['on_restart master']);
    assert.deepEqual(fire([{ kind: 'intent', intent: 'restart' }, { kind: 'stopped', wasRunning: true }, { kind: 'started', role: 'replica' }], runningReplica).calls, ['on_restart replica']);
  });

  it('a reload fires on_reload with the current role', () => {
    assert.deepEqual(fire([{ kind: 'reloaded' }], runningPrimary).calls, ['on_reload master']);
    assert.deepEqual(fire([{ kind: 'reloaded' }], runningReplica).calls, ['on_reload replica']);
  });

  it('a stop of a postgres that was not running fires nothing', () => {
    assert.deepEqual(fire([{ kind: 'stopped', wasRunning: false }], runningReplica).calls, []);
  });

  it('a replica stopped for a rewind and started again: on_stop replica, then on_start replica', () => {
    assert.deepEqual(fire([{ kind: 'stopped', wasRunning: true }, { kind: 'started', role: 'replica' }], runningReplica).calls, ['on_stop replica', 'on_start replica']);
  });

  it('a replica started again after its postgres crashed: on_start replica', () => {
    assert.deepEqual(fire([{ kind: 'started', role: 'replica' }], runningReplica).calls, ['on_start replica']);
  });

  it('an agent stopping its replica at shutdown: on_stop replica', () => {
    assert.deepEqual(fire([{ kind: 'stopped', wasRunning: true }], runningReplica).calls, ['on_stop replica']);
  });

  it('a primary started again after a crash (the lock still held) fires on_start master (Patroni: on_role_change replica, then master)', () => {
    assert.deepEqual(fire([{ kind: 'started', role: 'master' }], { role: 'master', cbCalled: true }).calls, ['on_start master']);
  });
});
