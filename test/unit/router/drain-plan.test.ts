/**
 * The router's side of the switchover drain (drain-plan.ts), scenario by scenario: pause the draining leader,
 * acknowledge once idle or at the wait timeout, resume on a new leader, on the key's removal, or after the timeout
 * plus margin (never paused for good), and acknowledge at once what this router does not route to.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialDrainMemory, planDrain, type DrainFacts, type DrainMemory } from '../../../src/router/drain-plan';
import type { DrainRequest } from '../../../src/model/drain';

const settings = { timeoutMs: 5000, marginMs: 15_000 };
const request: DrainRequest = { id: 'switchover-41', leader: 'node1', candidate: 'node2', timeoutMs: 5000, modRevision: 42 };
const facts = (o: Partial<DrainFacts> = {}): DrainFacts => ({ request, leader: 'node1', busy: 0, nowMs: 1000, ...o });

/** Runs the plan over a sequence of facts, as the executor does (an ack is confirmed before the next step). */
function run(steps: Partial<DrainFacts>[], memory: DrainMemory = initialDrainMemory) {
  const out = [];
  let m = memory;
  for (const s of steps) {
    const step = planDrain(facts(s), m, settings);
    m = step.actions.some((a) => a.type === 'ack') ? { ...step.memory, acked: (step.actions.find((a) => a.type === 'ack') as { id: string }).id } : step.memory;
    out.push(step);
  }
  return out;
}

describe('planDrain: a router follows the leader\'s drain request', () => {
  it('nothing pending: nothing to do', () => {
    const s = planDrain(facts({ request: undefined }), initialDrainMemory, settings);
    assert.deepEqual(s.actions, []);
    assert.equal(s.reason, 'no drain pending');
  });

  it('its leader is draining with transactions in flight: pause it and wait for them, until the wait timeout', () => {
    const [s] = run([{ busy: 3 }]);
    assert.deepEqual(s!.actions, [{ type: 'pause', member: 'node1' }]);
    assert.equal(s!.reason, 'drain switchover-41: pausing node1 for the switchover to node2; drain switchover-41: waiting for 3 transaction(s) on node1');
    assert.equal(s!.nextCheckAtMs, 6000);
  });

  it('the last transaction finishes: acknowledge', () => {
    const [, s] = run([{ busy: 3 }, { busy: 0, nowMs: 1800 }]);
    assert.deepEqual(s!.actions, [{ type: 'ack', id: 'switchover-41' }]);
    assert.match(s!.reason, /no transaction in flight on node1: drained/);
  });

  it('idle at once: pause and acknowledge in one step', () => {
    const [s] = run([{ busy: 0 }]);
    assert.deepEqual(s!.actions, [{ type: 'pause', member: 'node1' }, { type: 'ack', id: 'switchover-41' }]);
  });

  it('the wait timeout passes with a transaction still running: acknowledge anyway (it may fail, as without a drain)', () => {
    const [, s] = run([{ busy: 1 }, { busy: 1, nowMs: 6000 }]);
    assert.deepEqual(s!.actions, [{ type: 'ack', id: 'switchover-41' }]);
    assert.match(s!.reason, /wait timeout passed with 1 transaction\(s\) in flight on node1: acknowledging, they may fail/);
  });

  it('the request\'s shorter timeout caps the router\'s own', () => {
    const [s] = run([{ busy: 1, request: { ...request, timeoutMs: 2000 } }]);
    assert.equal(s!.nextCheckAtMs, 3000);
  });

  it('after the acknowledgement the pause holds while the old leader demotes (no leader in the table yet)', () => {
    const [, , s] = run([{ busy: 0 }, { leader: undefined, nowMs: 3000 }, { leader: undefined, nowMs: 4000 }]);
    assert.deepEqual(s!.actions, []);
    assert.equal(s!.reason, 'drain switchover-41: node1 drained, waiting for the new leader');
    assert.equal(s!.nextCheckAtMs, 1000 + 5000 + 15_000);
  });

  it('the table shows the new leader: resume', () => {
    const [, , s] = run([{ busy: 0 }, { leader: undefined, nowMs: 3000 }, { leader: 'node2', nowMs: 4000 }]);
    assert.deepEqual(s!.actions, [{ type: 'resume', member: 'node1' }]);
    assert.equal(s!.reason, 'drain switchover-41: resuming node1: node2 is the new leader');
  });

  it('the drain key goes away (the leader released its key, or gave up): resume', () => {
    const [, s] = run([{ busy: 0 }, { request: undefined, leader: undefined, nowMs: 3000 }]);
    assert.deepEqual(s!.actions, [{ type: 'resume', member: 'node1' }]);
    assert.match(s!.reason, /the drain key is gone/);
  });

  it('the agent died mid-switchover (key and leader stay): resume after the timeout and margin, never paused for good', () => {
    const [, , s] = run([{ busy: 0 }, { nowMs: 20_999 }, { nowMs: 21_000 }]);
    assert.deepEqual(s!.actions, [{ type: 'resume', member: 'node1' }]);
    assert.match(s!.reason, /past its timeout and margin/);
    const [again] = run([{ nowMs: 22_000 }], s!.memory);
    assert.deepEqual(again!.actions, [], 'the same request is not paused for again');
  });

  it('a request for a member this router does not route to: acknowledge at once, pause nothing', () => {
    const [s] = run([{ leader: 'node3' }]);
    assert.deepEqual(s!.actions, [{ type: 'ack', id: 'switchover-41' }]);
    assert.match(s!.reason, /node1 is not this router's leader \(node3\): nothing to drain/);
  });

  it('its table has no confirmed leader this moment but transactions run on the draining member: pause and wait for them', () => {
    const [s] = run([{ leader: undefined, busy: 2 }]);
    assert.deepEqual(s!.actions, [{ type: 'pause', member: 'node1' }]);
    assert.match(s!.reason, /waiting for 2 transaction\(s\) on node1/);
  });

  it('an acknowledgement that failed to be written is owed until it is', () => {
    const s1 = planDrain(facts({ leader: 'node3' }), initialDrainMemory, settings);
    const s2 = planDrain(facts({ leader: 'node3', nowMs: 1500 }), s1.memory, settings);
    assert.deepEqual(s2.actions, [{ type: 'ack', id: 'switchover-41' }]);
    const s3 = planDrain(facts({ leader: 'node3', nowMs: 2000 }), { ...s2.memory, acked: 'switchover-41' }, settings);
    assert.deepEqual(s3.actions, []);
  });
});
