import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LagTracker } from '../../../src/router/lag';
import { aMember, aView } from '../../support/builders';
import { aPrimaryAgent, aReplicaAgent } from './builders';

const tracker = () => new LagTracker({ position: 'replay', historyMs: 60_000 });

describe('seconds lag', () => {
  test('a replica at the leader position has 0 lag, even when the primary is idle for long', () => {
    const t = tracker();
    t.observeReference(1000, 0);
    assert.deepEqual(t.lagOf(1000, 3_600_000), { bytes: 0, seconds: 0, referenceLsn: 1000, positionLsn: 1000 });
  });

  test('lag = observation time - first time the leader was seen beyond the replica position', () => {
    const t = tracker();
    t.observeReference(1000, 0);
    t.observeReference(2000, 1000);
    t.observeReference(3000, 2000);
    t.observeReference(4000, 3000);
    // Replica replayed 2500 when observed at 3500: the leader first had WAL past 2500 at t=2000.
    const l = t.lagOf(2500, 3500);
    assert.equal(l.bytes, 1500);
    assert.equal(l.seconds, 1.5);
    assert.equal(l.secondsLowerBound, undefined);
  });

  test('a paused replica grows its seconds lag with time', () => {
    const t = tracker();
    t.observeReference(1000, 0);
    t.observeReference(2000, 1000);
    assert.equal(t.lagOf(1000, 5000).seconds, 4);
    assert.equal(t.lagOf(1000, 9000).seconds, 8);
  });

  test('behind every position in the history: only a lower bound', () => {
    const t = tracker();
    t.observeReference(5000, 1000);
    const l = t.lagOf(100, 3000);
    assert.equal(l.seconds, 2);
    assert.equal(l.secondsLowerBound, true);
  });

  test('positions that do not advance add no sample; a new leader resets the history', () => {
    const t = tracker();
    t.setLeader('node1');
    t.observeReference(5000, 0);
    t.observeReference(5000, 1000);
    t.observeReference(4000, 2000);
    assert.equal(t.referenceLsn(), 5000);
    t.setLeader('node2');
    assert.equal(t.referenceLsn(), undefined);
  });

  test('update: reference = max(leader REST location, status optime, leader key xlog_location)', () => {
    const t = tracker();
    const view = aView({
      leader: 'node1',
      optime: 9000,
      members: [aMember('node1', { role: 'master', xlog_location: 8000 }), aMember('node2'), aMember('node3')],
    });
    const health = new Map([
      ['node1', aPrimaryAgent({ location: 10_000 }, { okAtMs: 100 })],
      ['node2', aReplicaAgent({ replayedLocation: 7000, receivedLocation: 9500 }, { okAtMs: 150 })],
    ]);
    const lags = t.update(view, health, 200);
    assert.equal(lags.get('node2')?.bytes, 3000);
    assert.equal(lags.get('node2')?.observedAtMs, 150);
    assert.deepEqual(lags.get('node3'), {}, 'no REST answer: unknown');
    assert.equal(lags.has('node1'), false);
    const recv = new LagTracker({ position: 'receive', historyMs: 60_000 }).update(view, health, 200);
    assert.equal(recv.get('node2')?.bytes, 500);
  });
});
