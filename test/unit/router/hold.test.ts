import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { HoldQueue } from '../../../src/router/hold';
import { ManualClock } from '../../support/manual-clock';


describe('hold queue', () => {
  test('an entry expires exactly at its deadline, not before', () => {
    const clock = new ManualClock();
    const expired: [string, number][] = [];
    const q = new HoldQueue<string>(clock, (item, waited) => expired.push([item, waited]));
    q.add('a', 10_000);
    clock.advance(9_999);
    assert.deepEqual(expired, []);
    assert.equal(q.size, 1);
    clock.advance(1);
    assert.deepEqual(expired, [['a', 10_000]]);
    assert.equal(q.size, 0);
    assert.equal(clock.pending, 0, 'no timer left armed');
  });

  test('entries with different deadlines expire in deadline order, one timer at a time', () => {
    const clock = new ManualClock();
    const expired: string[] = [];
    const q = new HoldQueue<string>(clock, (item) => expired.push(item));
    q.add('long', 5000);
    clock.advance(1000);
    q.add('short', 1000);
    assert.equal(clock.pending, 1);
    clock.advance(1000);
    assert.deepEqual(expired, ['short']);
    clock.advance(2999);
    assert.deepEqual(expired, ['short']);
    clock.advance(1);
    assert.deepEqual(expired, ['short', 'long']);
  });

  test('drain dispatches oldest first and reports the wait; refused ones stay', () => {
    const clock = new ManualClock();
    const q = new HoldQueue<string>(clock, () => assert.fail('nothing should expire'));
    q.add('a', 10_000);
    clock.advance(300);
    q.add('b', 10_000);
    clock.advance(200);
    q.add('c', 10_000);
    const got: [string, number][] = [];
    const n = q.drain((item, waited) => {
      if (item === 'b') return false;
      got.push([item, waited]);
      return true;
    }, false);
    assert.equal(n, 2);
    assert.deepEqual(got, [['a', 500], ['c', 0]]);
    assert.equal(q.size, 1);
    assert.equal(q.drain(() => true), 1);
    assert.equal(q.size, 0);
    assert.equal(clock.pending, 0);
  });

  test('FIFO drain stops at the first refusal', () => {
    const clock = new ManualClock();
    const q = new HoldQueue<number>(clock, () => undefined);
    for (let i = 0; i < 5; i++) q.add(i, 1000);
    const seen: number[] = [];
    q.drain((i) => {
      seen.push(i);
      return i < 2;
    });
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(q.size, 3);
  });

  test('a cancelled entry (client went away) never expires nor dispatches', () => {
    const clock = new ManualClock();
    const expired: string[] = [];
    const q = new HoldQueue<string>(clock, (i) => expired.push(i));
    const t = q.add('gone', 1000);
    q.add('stays', 2000);
    t.cancel();
    t.cancel();
    assert.equal(q.size, 1);
    clock.advance(5000);
    assert.deepEqual(expired, ['stays']);
  });

  test('expireAll (shutdown) expires everything at once', () => {
    const clock = new ManualClock();
    const expired: [string, number][] = [];
    const q = new HoldQueue<string>(clock, (i, w) => expired.push([i, w]));
    q.add('a', 1000);
    clock.advance(10);
    q.expireAll();
    assert.deepEqual(expired, [['a', 10]]);
    assert.equal(clock.pending, 0);
  });
});
