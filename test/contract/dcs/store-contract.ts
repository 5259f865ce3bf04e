/**
 * The ClusterStore contract: what the agent and the router rely on, checked against every implementation
 * (memory-store.test.ts, etcd-store.test.ts). A harness supplies the store and the two things that differ:
 * how time passes for leases, and how history is compacted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseNotFoundError, type ClusterStore, type Watch, type WatchEvent } from '../../../src/dcs/store';
import { waitFor } from '../../support/wait';

export interface StoreHarness {
  store: ClusterStore;
  /**
   * Lets a lease of `ttlSeconds` run out without keepalives, until `gone()` is true. Memory: moves the fake
   * clock; etcd: waits in real time (etcd may raise short TTLs to its minimum).
   */
  letLeaseExpire(ttlSeconds: number, gone: () => Promise<boolean>): Promise<void>;
  /** Compacts the history below `revision`. */
  compact(revision: number): Promise<void>;
  /** How long to wait for asynchronous watch deliveries. */
  watchTimeoutMs: number;
  teardown(): Promise<void>;
}

export interface WatchRecorder {
  events: WatchEvent[];
  batches: { revision: number; count: number }[];
  progress: number[];
  lost?: { reason: string; compacted: boolean };
  watch: Watch;
}

export function record(store: ClusterStore, prefix: string, fromRevision: number): WatchRecorder {
  const rec: Partial<WatchRecorder> & Pick<WatchRecorder, 'events' | 'batches' | 'progress'> = { events: [], batches: [], progress: [] };
  rec.watch = store.watchPrefix(prefix, fromRevision, {
    onEvents: (events, revision) => {
      rec.events.push(...events);
      rec.batches.push({ revision, count: events.length });
    },
    onProgress: (revision) => rec.progress.push(revision),
    onLost: (reason, compacted) => (rec.lost = { reason, compacted }),
  });
  return rec as WatchRecorder;
}

const summary = (events: WatchEvent[], prefix: string) => events.map((e) => `${e.type} ${e.kv.key.slice(prefix.length)}${e.type === 'put' ? `=${e.kv.value}` : ''}`);

export function runStoreContract(label: string, setup: () => Promise<StoreHarness>): void {
  describe(`ClusterStore contract: ${label}`, { timeout: 180_000 }, () => {
    let h: StoreHarness;
    let store: ClusterStore;
    let n = 0;
    const base = `/pgha-contract-${process.pid}-${Date.now()}/`;
    /** A fresh prefix per test, so tests never see each other's keys. */
    const fresh = () => `${base}t${++n}/`;

    before(async () => {
      h = await setup();
      store = h.store;
    });
    after(async () => {
      await h?.teardown();
    });

    it('createIfAbsent: of several concurrent racers exactly one wins, and its value is stored', async () => {
      const k = `${fresh()}leader`;
      const racers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
      const results = await Promise.all(racers.map((v) => store.createIfAbsent(k, v)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await store.get(k))?.value, racers[results.indexOf(true)]);
      assert.equal(await store.createIfAbsent(k, 'late'), false);
    });

    it('put and get: revisions grow, create revision stays, no lease reads as "0"', async () => {
      const k = `${fresh()}k`;
      assert.equal(await store.get(k), undefined);
      await store.put(k, 'one');
      const first = (await store.get(k))!;
      assert.deepEqual({ key: first.key, value: first.value, lease: first.lease }, { key: k, value: 'one', lease: '0' });
      assert.equal(first.createRevision, first.modRevision);
      await store.put(k, 'two');
      const second = (await store.get(k))!;
      assert.equal(second.value, 'two');
      assert.equal(second.createRevision, first.createRevision);
      assert.ok(second.modRevision > first.modRevision);
    });

    it('readPrefix: only keys under the prefix, in key order, at a revision covering them', async () => {
      const p = fresh();
      await store.put(`${p}b`, '2');
      await store.put(`${p}a`, '1');
      await store.put(`${p}c/d`, '3');
      await store.put(`${p.slice(0, -1)}x`, 'outside');
      const { revision, kvs } = await store.readPrefix(p);
      assert.deepEqual(kvs.map((kv) => kv.key.slice(p.length)), ['a', 'b', 'c/d']);
      assert.ok(kvs.every((kv) => kv.modRevision <= revision));
      const serializable = await store.readPrefix(p, { serializable: true });
      assert.equal(serializable.kvs.length, 3);
    });

    it('delete and deletePrefix remove exactly their keys; deleting a missing key is fine', async () => {
      const p = fresh();
      await store.put(`${p}a`, '1');
      await store.put(`${p}sub/b`, '2');
      await store.put(`${p}sub/c`, '3');
      await store.delete(`${p}a`);
      await store.delete(`${p}missing`);
      assert.equal(await store.get(`${p}a`), undefined);
      await store.deletePrefix(`${p}sub/`);
      assert.deepEqual((await store.readPrefix(p)).kvs, []);
    });

    it('leases: keys on a lease vanish when it expires without keepalives, and keepAlive then reports 0', async () => {
      const k = `${fresh()}member`;
      const lease = await store.grantLease(2);
      assert.match(lease, /^[1-9]\d*$/, 'a lease id is a decimal string');
      await store.put(k, 'leased', lease);
      assert.equal((await store.get(k))?.lease, lease, 'the lease id round-trips exactly (int64)');
      const ttl = await store.keepAlive(lease);
      assert.ok(ttl >= 2, `keepAlive reports the TTL (${ttl})`);
      await h.letLeaseExpire(ttl, async () => (await store.get(k)) === undefined);
      assert.equal(await store.keepAlive(lease), 0);
    });

    it('leases: revoking deletes the keys at once; keepAlive and a second revoke see no lease', async () => {
      const p = fresh();
      const lease = await store.grantLease(30);
      await store.put(`${p}a`, '1', lease);
      await store.put(`${p}b`, '2', lease);
      await store.put(`${p}c`, '3');
      await store.revokeLease(lease);
      assert.deepEqual((await store.readPrefix(p)).kvs.map((kv) => kv.key.slice(p.length)), ['c']);
      assert.equal(await store.keepAlive(lease), 0);
      await store.revokeLease(lease);
    });

    it('leases: a put without a lease detaches the key from its lease', async () => {
      const k = `${fresh()}k`;
      const lease = await store.grantLease(30);
      await store.put(k, 'on lease', lease);
      await store.put(k, 'detached');
      await store.revokeLease(lease);
      assert.equal((await store.get(k))?.value, 'detached');
    });

    it('writes naming an unknown lease fail with LeaseNotFoundError, unless their compare fails first', async () => {
      const p = fresh();
      const lease = await store.grantLease(30);
      await store.revokeLease(lease);
      await assert.rejects(store.put(`${p}a`, 'x', lease), LeaseNotFoundError);
      await assert.rejects(store.createIfAbsent(`${p}b`, 'x', lease), LeaseNotFoundError);
      await store.put(`${p}c`, 'taken');
      assert.equal(await store.createIfAbsent(`${p}c`, 'x', lease), false);
      assert.equal(await store.get(`${p}a`), undefined);
    });

    it('putIfModRevision: only at the exact mod revision; 0 means "only if absent"', async () => {
      const k = `${fresh()}config`;
      assert.equal(await store.putIfModRevision(k, 'v1', 0), true);
      assert.equal(await store.putIfModRevision(k, 'again', 0), false);
      const kv = (await store.get(k))!;
      assert.equal(await store.putIfModRevision(k, 'stale', kv.modRevision - 1), false);
      assert.equal((await store.get(k))?.modRevision, kv.modRevision, 'a failed compare writes nothing');
      assert.equal(await store.putIfModRevision(k, 'v2', kv.modRevision), true);
      assert.equal((await store.get(k))?.value, 'v2');
      assert.equal(await store.putIfModRevision(`${k}-missing`, 'x', 5), false);
    });

    it('putIfValue: only when the current value matches; a missing key matches no value, not even ""', async () => {
      const k = `${fresh()}leader`;
      assert.equal(await store.putIfValue(k, 'x', ''), false);
      assert.equal(await store.get(k), undefined);
      await store.put(k, 'node1');
      assert.equal(await store.putIfValue(k, 'node2', 'node3'), false);
      const lease = await store.grantLease(30);
      assert.equal(await store.putIfValue(k, 'node1', 'node1', lease), true);
      assert.equal((await store.get(k))?.lease, lease);
      await store.revokeLease(lease);
    });

    it('deleteIfValue: deletes only the expected value', async () => {
      const k = `${fresh()}leader`;
      await store.put(k, 'node1');
      assert.equal(await store.deleteIfValue(k, 'node2'), false);
      assert.equal((await store.get(k))?.value, 'node1');
      assert.equal(await store.deleteIfValue(k, 'node1'), true);
      assert.equal(await store.get(k), undefined);
      assert.equal(await store.deleteIfValue(k, 'node1'), false);
    });

    it('deleteIfModRevision: only at the exact mod revision (a missing key has mod revision 0)', async () => {
      const k = `${fresh()}sync`;
      await store.put(k, '{}');
      const kv = (await store.get(k))!;
      assert.equal(await store.deleteIfModRevision(k, kv.modRevision + 1), false);
      assert.ok(await store.get(k));
      assert.equal(await store.deleteIfModRevision(k, kv.modRevision), true);
      assert.equal(await store.get(k), undefined);
      assert.equal(await store.deleteIfModRevision(k, kv.modRevision), false);
      assert.equal(await store.deleteIfModRevision(k, 0), true, 'etcd: compare mod == 0 holds for a missing key');
    });

    it('reattachOrCreate: moves our key to a new lease, creates it when absent, refuses another owner', async () => {
      const k = `${fresh()}leader`;
      const l1 = await store.grantLease(30);
      const l2 = await store.grantLease(30);
      await store.put(k, 'me', l1);
      const before = (await store.get(k))!;
      assert.equal(await store.reattachOrCreate(k, 'me', l2), true);
      const moved = (await store.get(k))!;
      assert.equal(moved.lease, l2);
      assert.equal(moved.createRevision, before.createRevision);
      await store.revokeLease(l1);
      assert.equal((await store.get(k))?.value, 'me', 'no longer on the old lease');
      await store.delete(k);
      assert.equal(await store.reattachOrCreate(k, 'me', l2), true);
      assert.equal((await store.get(k))?.lease, l2);
      await store.put(k, 'someone-else');
      assert.equal(await store.reattachOrCreate(k, 'me', l2), false);
      assert.equal((await store.get(k))?.value, 'someone-else');
      await store.revokeLease(l2);
    });

    it('watch from readPrefix revision + 1 sees every later put and delete, in order', async () => {
      const p = fresh();
      await store.put(`${p}before`, 'x');
      const { revision } = await store.readPrefix(p);
      const rec = record(store, p, revision + 1);
      try {
        await store.put(`${p}a`, '1');
        await store.put(`${p}b`, '2');
        await store.put(`${p.slice(0, -1)}-outside`, 'ignored');
        await store.delete(`${p}a`);
        await store.put(`${p}b`, '3');
        await waitFor('four events', () => rec.events.length >= 4, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
        assert.deepEqual(summary(rec.events, p), ['put a=1', 'put b=2', 'delete a', 'put b=3']);
        const revs = rec.events.map((e) => e.kv.modRevision);
        assert.deepEqual(revs, [...revs].sort((x, y) => x - y));
        const lastPut = rec.events[3]!.kv;
        assert.equal(lastPut.createRevision, rec.events[1]!.kv.modRevision);
        assert.ok(rec.batches.every((b) => b.revision >= revision));
        assert.ok(rec.batches.at(-1)!.revision >= lastPut.modRevision, 'the batch revision covers its events');
        assert.equal(rec.lost, undefined);
      } finally {
        rec.watch.close();
      }
    });

    it('watch from an older revision replays history first', async () => {
      const p = fresh();
      await store.put(`${p}k`, '1');
      const from = (await store.get(`${p}k`))!.modRevision;
      await store.put(`${p}k`, '2');
      await store.delete(`${p}k`);
      const rec = record(store, p, from);
      try {
        await waitFor('three replayed events', () => rec.events.length >= 3, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
        assert.deepEqual(summary(rec.events, p), ['put k=1', 'put k=2', 'delete k']);
      } finally {
        rec.watch.close();
      }
    });

    it('watch: leased keys that expire or are revoked arrive as deletes, with the lease id on puts', async () => {
      const p = fresh();
      const { revision } = await store.readPrefix(p);
      const rec = record(store, p, revision + 1);
      try {
        const lease = await store.grantLease(30);
        await store.put(`${p}m`, 'x', lease);
        await store.revokeLease(lease);
        await waitFor('put and delete', () => rec.events.length >= 2, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
        assert.deepEqual(summary(rec.events, p), ['put m=x', 'delete m']);
        assert.equal(rec.events[0]!.kv.lease, lease);
      } finally {
        rec.watch.close();
      }
    });

    it('watch: requestProgress is answered with a revision covering every write so far', async () => {
      const p = fresh();
      const { revision } = await store.readPrefix(p);
      const rec = record(store, p, revision + 1);
      try {
        await store.put(`${p}a`, '1');
        await waitFor('the event', () => rec.events.length >= 1, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
        await store.put(`${p.slice(0, -1)}-elsewhere`, 'x');
        const { revision: now } = await store.readPrefix(p);
        rec.watch.requestProgress();
        await waitFor('a progress answer', () => rec.progress.some((r) => r >= now), { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
        assert.equal(rec.events.length, 1);
      } finally {
        rec.watch.close();
      }
    });

    it('watch: close() stops deliveries and never reports the watch lost', async () => {
      const p = fresh();
      const { revision } = await store.readPrefix(p);
      const rec = record(store, p, revision + 1);
      await store.put(`${p}a`, '1');
      await waitFor('the event', () => rec.events.length >= 1, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
      rec.watch.close();
      await store.put(`${p}b`, '2');
      const probe = record(store, p, revision + 1);
      await waitFor('a second watcher to see both', () => probe.events.length >= 2, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
      probe.watch.close();
      assert.equal(rec.events.length, 1);
      assert.equal(rec.lost, undefined);
    });

    it('watch from a compacted revision is lost with compacted = true; from the compaction point it works', async () => {
      const p = fresh();
      await store.put(`${p}k`, '1');
      const old = (await store.get(`${p}k`))!.modRevision;
      await store.put(`${p}k`, '2');
      const revision = (await store.get(`${p}k`))!.modRevision;
      await h.compact(revision);
      const rec = record(store, p, old);
      const ok = record(store, p, revision);
      try {
        await waitFor('onLost', () => rec.lost, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
        assert.equal(rec.lost?.compacted, true);
        assert.deepEqual(rec.events, []);
        await store.put(`${p}k`, '3');
        await waitFor('events after compaction', () => ok.events.length >= 2, { timeoutMs: h.watchTimeoutMs, intervalMs: 10 });
        assert.deepEqual(summary(ok.events, p), ['put k=2', 'put k=3']);
        assert.equal(ok.lost, undefined);
      } finally {
        rec.watch.close();
        ok.watch.close();
      }
    });
  });
}
