/** ClusterCache against real etcd: watch latency, contact while etcd is frozen, restarts, losing cluster members. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterCache } from '../../../src/dcs/cluster-cache';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { clusterKeys } from '../../../src/model/keys';
import { startEtcd, startEtcdCluster, type EtcdCluster, type EtcdServer } from '../../support/etcd';
import { waitFor } from '../../support/wait';

/** Contact checks every 200 ms: fast enough to see etcd freeze and come back within a test's patience. */
const CONTACT_INTERVAL_MS = 200;

describe('ClusterCache against a single etcd', { timeout: 180_000 }, () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let scope = 0;
  const freshKeys = () => clusterKeys('/pgha-cache', `s${process.pid}-${++scope}`);

  before(async () => {
    etcd = await startEtcd();
    // A short deadline so that a frozen etcd is noticed quickly.
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 2000 });
  });
  after(async () => {
    await store?.close();
    await etcd?.destroy();
  });

  it('sees leader key changes within the watch latency', async (t) => {
    const keys = freshKeys();
    const cache = new ClusterCache(store, keys, { contactIntervalMs: CONTACT_INTERVAL_MS });
    t.after(() => cache.stop());
    await cache.start();
    const latencies: number[] = [];
    for (const name of ['node1', 'node2', 'node3', '']) {
      const t0 = performance.now();
      if (name) await store.put(keys.leader, name);
      else await store.delete(keys.leader);
      await waitFor(`the cache to see leader "${name}"`, () => (cache.view()?.leader?.name ?? '') === name, { timeoutMs: 10_000, intervalMs: 2 });
      latencies.push(performance.now() - t0);
    }
    t.diagnostic(`write-to-view latencies (ms): ${latencies.map((l) => l.toFixed(1)).join(', ')}`);
    assert.ok(Math.max(...latencies) < 2000, `latencies ${latencies.join(', ')}`);
    assert.equal(cache.state, 'live');
  });

  it('lastContactMs advances on an idle watch, stops while etcd is frozen (SIGSTOP), resumes after SIGCONT', async (t) => {
    const keys = freshKeys();
    const cache = new ClusterCache(store, keys, { contactIntervalMs: CONTACT_INTERVAL_MS });
    t.after(() => cache.stop());
    await cache.start();
    const first = cache.lastContactMs()!;
    await waitFor('contact to advance while idle', () => cache.lastContactMs()! > first, { timeoutMs: 10_000, intervalMs: 20 });

    await etcd.freeze();
    const frozenAt = performance.now();
    try {
      await waitFor('the cache to call etcd down', () => cache.state === 'down', { timeoutMs: 15_000, intervalMs: 20 });
      const stale = cache.lastContactMs()!;
      assert.ok(stale <= frozenAt, 'no contact after the freeze');
      await waitFor('another contact check to fail', () => performance.now() - frozenAt > 3000, { timeoutMs: 10_000, intervalMs: 100 });
      assert.equal(cache.lastContactMs(), stale, 'contact stays put while etcd is frozen');
    } finally {
      etcd.thaw();
    }
    const resumedAt = performance.now();
    await waitFor('contact to resume', () => cache.state === 'live' && cache.lastContactMs()! >= resumedAt, { timeoutMs: 15_000, intervalMs: 20 });
    await store.put(keys.leader, 'after-freeze');
    await waitFor('the cache to see a change after the freeze', () => cache.view()?.leader?.name === 'after-freeze', { timeoutMs: 10_000, intervalMs: 20 });
  });

  it('re-lists and watches again after etcd restarts', async (t) => {
    const keys = freshKeys();
    const cache = new ClusterCache(store, keys, { contactIntervalMs: CONTACT_INTERVAL_MS });
    t.after(() => cache.stop());
    await store.put(keys.leader, 'before');
    await cache.start();
    assert.equal(cache.view()?.leader?.name, 'before');
    await etcd.stop();
    await waitFor('the cache to notice', () => cache.state === 'relisting' || cache.state === 'down', { timeoutMs: 15_000, intervalMs: 20 });
    await etcd.restart();
    await waitFor('the cache to be live again', () => cache.state === 'live', { timeoutMs: 20_000, intervalMs: 20 });
    await waitFor('a write to succeed', () => store.put(keys.leader, 'after').then(() => true), { timeoutMs: 20_000 });
    await waitFor('the cache to see the write', () => cache.view()?.leader?.name === 'after', { timeoutMs: 10_000, intervalMs: 20 });
  });
});

describe('EtcdStore and ClusterCache against a 3-member etcd cluster', { timeout: 240_000 }, () => {
  let cluster: EtcdCluster;
  const keys = clusterKeys('/pgha-cache', `cluster${process.pid}`);

  before(async () => {
    cluster = await startEtcdCluster(3);
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('keeps working when the member it talks to stops', async (t) => {
    const [m0] = cluster.members;
    const store = new EtcdStore({ hosts: cluster.endpoints, deadlineMs: 5000 });
    const cache = new ClusterCache(store, keys, { contactIntervalMs: CONTACT_INTERVAL_MS });
    t.after(async () => {
      cache.stop();
      await store.close();
    });
    await cache.start();
    await m0!.stop();
    try {
      await waitFor('a write through the other members', () => store.put(keys.leader, 'm0-stopped').then(() => true), { timeoutMs: 20_000 });
      await waitFor('the cache to follow on another member', () => cache.view()?.leader?.name === 'm0-stopped', { timeoutMs: 20_000, intervalMs: 20 });
      const lease = await store.grantLease(10);
      assert.equal(await store.reattachOrCreate(keys.leader, 'm0-stopped', lease), true);
      assert.ok((await store.keepAlive(lease)) > 0);
      await store.revokeLease(lease);
    } finally {
      await m0!.restart();
    }
  });

  it('drops a watch on a frozen member (SIGSTOP) and follows the cluster through another one', async (t) => {
    const [m0, m1, m2] = cluster.members;
    // m1 first: the store's calls and the cache's watch start there.
    const store = new EtcdStore({ hosts: [m1!.endpoint, m2!.endpoint, m0!.endpoint], deadlineMs: 3000 });
    const cache = new ClusterCache(store, keys, { contactIntervalMs: CONTACT_INTERVAL_MS, stallMs: 2000 });
    t.after(async () => {
      cache.stop();
      await store.close();
    });
    await cache.start();
    await m1!.freeze();
    const frozenAt = performance.now();
    try {
      await waitFor('a write through the other members', () => store.put(keys.leader, 'm1-frozen').then(() => true), { timeoutMs: 30_000 });
      await waitFor('the cache to see it through another member', () => cache.view()?.leader?.name === 'm1-frozen', { timeoutMs: 30_000, intervalMs: 20 });
      await waitFor('contact after the freeze', () => cache.state === 'live' && cache.lastContactMs()! > frozenAt, { timeoutMs: 30_000, intervalMs: 20 });
      t.diagnostic(`cache followed the cluster again ${(performance.now() - frozenAt).toFixed(0)} ms after the freeze`);
    } finally {
      m1!.thaw();
    }
  });
});
