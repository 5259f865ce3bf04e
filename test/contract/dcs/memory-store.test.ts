/** The ClusterStore contract on the in-memory fake, plus the fake's own controls (clock, outages, partitions). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { DcsUnavailableError } from '../../../src/lib/errors';
import { record, runStoreContract } from './store-contract';
import { waitFor } from '../../support/wait';

/** A fake clock in ms, moved by the test. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

runStoreContract('MemoryStore', async () => {
  const clock = fakeClock();
  const store = new MemoryStore({ now: clock.now });
  return {
    store,
    async letLeaseExpire(ttlSeconds, gone) {
      assert.equal(await gone(), false, 'the key is there before the TTL runs out');
      clock.advance(ttlSeconds * 1000 - 1);
      assert.equal(await gone(), false, 'still there 1 ms before the TTL runs out');
      clock.advance(1);
      assert.equal(await gone(), true, 'gone once the TTL has run out');
    },
    async compact(revision) {
      store.compact(revision);
    },
    watchTimeoutMs: 1000,
    async teardown() {
      await store.close();
    },
  };
});

describe('MemoryStore controls', () => {
  it('keepAlive pushes expiry a full TTL from now; expireLeases() delivers the deletions to watchers', async () => {
    const clock = fakeClock();
    const store = new MemoryStore({ now: clock.now });
    const lease = await store.grantLease(5);
    await store.put('/s/members/a', '{}', lease);
    clock.advance(4000);
    assert.equal(await store.keepAlive(lease), 5);
    clock.advance(4999);
    assert.ok(await store.get('/s/members/a'));
    const rec = record(store, '/s/', store.revision + 1);
    clock.advance(1);
    store.expireLeases();
    await waitFor('the expiry event', () => rec.events.length === 1, { timeoutMs: 1000, intervalMs: 1 });
    assert.deepEqual(rec.events.map((e) => `${e.type} ${e.kv.key}`), ['delete /s/members/a']);
  });

  it('a write has reached every watcher by the time its await returns', async () => {
    const store = new MemoryStore({ now: () => 0 });
    const rec = record(store, '/s/', store.revision + 1);
    await store.put('/s/a', '1');
    assert.equal(rec.events.length, 1);
    rec.watch.requestProgress();
    await store.get('/s/a');
    assert.deepEqual(rec.progress, [store.revision]);
  });

  it('raises short TTLs to minTtlSeconds, as etcd does', async () => {
    const store = new MemoryStore({ now: () => 0, minTtlSeconds: 2 });
    const lease = await store.grantLease(1);
    assert.equal(await store.keepAlive(lease), 2);
  });

  it('setAvailable(false): every call throws DcsUnavailableError and every watch is lost', async () => {
    const clock = fakeClock();
    const store = new MemoryStore({ now: clock.now });
    const lease = await store.grantLease(5);
    await store.put('/s/leader', 'a', lease);
    const rec = record(store, '/s/', store.revision + 1);
    store.setAvailable(false);
    await assert.rejects(store.get('/s/leader'), DcsUnavailableError);
    await assert.rejects(store.keepAlive(lease), DcsUnavailableError);
    await waitFor('the watch to be lost', () => rec.lost, { timeoutMs: 1000, intervalMs: 1 });
    assert.equal(rec.lost?.compacted, false);
    const late = record(store, '/s/', 1);
    await waitFor('a watch opened during the outage to be lost', () => late.lost, { timeoutMs: 1000, intervalMs: 1 });
  });

  it('after an outage every lease gets a full TTL again (etcd renews leases on a new raft leader)', async () => {
    const clock = fakeClock();
    const store = new MemoryStore({ now: clock.now });
    const lease = await store.grantLease(5);
    await store.put('/s/leader', 'a', lease);
    store.setAvailable(false);
    clock.advance(60_000);
    store.setAvailable(true);
    assert.equal((await store.get('/s/leader'))?.value, 'a');
    assert.equal(store.leaseRemainingMs(lease), 5000);
    clock.advance(5000);
    assert.equal(await store.get('/s/leader'), undefined);
  });

  it('client().setReachable(false) cuts one node off while the others carry on and its lease runs out', async () => {
    const clock = fakeClock();
    const store = new MemoryStore({ now: clock.now });
    const node1 = store.client();
    const node2 = store.client();
    const lease = await node1.grantLease(5);
    assert.equal(await node1.createIfAbsent('/s/leader', 'node1', lease), true);
    const rec1 = record(node1, '/s/', store.revision + 1);
    const rec2 = record(node2, '/s/', store.revision + 1);
    node1.setReachable(false);
    await assert.rejects(node1.keepAlive(lease), DcsUnavailableError);
    await waitFor('node1 watch lost', () => rec1.lost, { timeoutMs: 1000, intervalMs: 1 });
    clock.advance(5000);
    assert.equal(await node2.createIfAbsent('/s/leader', 'node2'), true);
    await waitFor('node2 to see the handover', () => rec2.events.length >= 2, { timeoutMs: 1000, intervalMs: 1 });
    assert.deepEqual(rec2.events.map((e) => `${e.type} ${e.kv.key}`), ['delete /s/leader', 'put /s/leader']);
    assert.equal(rec2.lost, undefined);
    node1.setReachable(true);
    assert.equal(await node1.keepAlive(lease), 0);
    await node2.close();
    await assert.rejects(node2.get('/s/leader'), DcsUnavailableError);
    assert.equal((await store.get('/s/leader'))?.value, 'node2', 'closing a client leaves the store usable');
  });

  it('compact() refuses a future revision', () => {
    const store = new MemoryStore({ now: () => 0 });
    assert.throws(() => store.compact(store.revision + 1), /current revision/);
  });
});
