/**
 * The router's side of a planned switchover, against real etcd and real PostgreSQL 15 (a primary and a streaming
 * replica) with stub agents: the test plays the agents' part of the protocol by writing the `failover` key and
 * moving the leader key. While the request is pending, new write connections wait (not routed to the old leader,
 * which is about to demote) and the open one stays; when the leader key moves and the new leader's agent confirms,
 * they land on it. A request cleared without a move (rolled back) releases them to the old leader.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, startReplicaOf, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PatroniKeys, connectTo, one, startStubAgent, type StubAgent } from './harness';

const SCOPE = 'switchovertest';
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();

interface Status {
  writable: boolean;
  writeReason: string;
  switchover: { from: string; to: string | null; holdingWrites: boolean } | null;
  listeners: { write: { connections: { held: number } } };
}

describe('router during a planned switchover (real etcd and postgres, stub agents)', { timeout: 300_000 }, () => {
  let etcd: TestEtcd | undefined;
  let store: EtcdStore | undefined;
  let keys: PatroniKeys;
  const pgs: TestPostgres[] = [];
  const stubs: StubAgent[] = [];
  let router: RunningRouter | undefined;
  let node1: StubAgent, node2: StubAgent;
  const figures: Record<string, number> = {};
  const writePort = () => router!.ports.write!;
  const status = () => router!.status() as Status;
  const portOf = (sql = 'select inet_server_port() as port') => one<{ port: number }>(writePort(), sql).then((r) => r.port);

  before(async () => {
    etcd = await startEtcd();
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    keys = new PatroniKeys(store, SCOPE);
    const pg0 = await initPrimary({ name: 'node1' });
    pgs.push(pg0);
    pgs.push(await startReplicaOf(pg0, { name: 'node2' }));
    node1 = await startStubAgent('node1', pgs[0]!);
    node2 = await startStubAgent('node2', pgs[1]!);
    stubs.push(node1, node2);
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    await keys.member(node1, 'master');
    await keys.member(node2, 'replica');
    await keys.leader('node1');
    const config = loadRouterConfig(
      {
        scope: SCOPE,
        etcd: { hosts: [etcd.endpoint], deadline: '2s' },
        listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '20s' }],
        metrics: { listen: '127.0.0.1:0' },
        health: { interval: '200ms', timeout: '200ms', fast_interval: '20ms', max_age: '1s' },
        lease: { margin: '1s' },
        switchover_hold: '30s',
        drain_timeout: '1s',
      },
      'switchover integration test',
    );
    router = await startRouter(config, { logger: log });
    await waitFor('node1 confirmed', () => router!.table().pools.write!.backends[0]?.member === 'node1', { timeoutMs: 30_000, intervalMs: 20 });
  });

  after(async () => {
    await router?.stop().catch(() => undefined);
    for (const s of stubs) await s.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    for (const pg of pgs) await pg.destroy();
    await etcd?.destroy();
    if (Object.keys(figures).length) console.log(`router switchover figures: ${JSON.stringify(figures)}`);
  });

  test('pending switchover: new writes wait, the open session stays; the leader key moves: they land on the new leader', async () => {
    const old = await connectTo(writePort());
    let oldClosedAt = 0;
    old.on('end', () => (oldClosedAt ||= performance.now()));
    old.on('error', () => (oldClosedAt ||= performance.now()));
    try {
      await keys.failover({ leader: 'node1', member: 'node2' });
      await waitFor('switchover pending', () => status().switchover?.holdingWrites === true, { timeoutMs: 10_000, intervalMs: 5 });
      assert.equal(status().writable, false);
      assert.match(status().writeReason, /^switchover to node2 pending: new writes are held/);
      const heldSince = performance.now();
      const pending = Promise.all([portOf(), portOf(), portOf()]);
      await waitFor('three new write connections held', () => status().listeners.write.connections.held === 3, { timeoutMs: 10_000, intervalMs: 5 });
      // The open session is the old leader's to end, not the router's.
      const still = (await old.query('select inet_server_port() as port')).rows[0] as { port: number };
      assert.equal(still.port, pgs[0]!.port);
      assert.equal(oldClosedAt, 0);
      // The agents' part: the old leader demotes and the candidate takes the key and promotes.
      node1.override = { role: 'replica' };
      node2.override = { role: 'master', xlog: { location: 1 } };
      const moved = performance.now();
      await keys.leader('node2');
      const ports = await pending;
      const landed = performance.now();
      assert.deepEqual(ports, [pgs[1]!.port, pgs[1]!.port, pgs[1]!.port]);
      await waitFor('open write to the old leader closed', () => oldClosedAt > 0, { timeoutMs: 5000, intervalMs: 5 });
      await keys.failover({});
      figures.heldMs = Math.round(landed - heldSince);
      figures.leaderKeyToHeldLandedMs = Math.round(landed - moved);
      figures.leaderKeyToOldClosedMs = Math.round(oldClosedAt - moved);
      assert.ok(landed - moved < 2000, `held writes landed ${landed - moved} ms after the leader key moved`);
      const metrics = await fetch(`http://127.0.0.1:${router!.ports.metrics}/metrics`).then((r) => r.text());
      assert.match(metrics, /pgha_router_switchover_held_connections_total\{listener="write"\} 3/);
      assert.match(metrics, /pgha_router_switchovers_total\{outcome="completed"\} 1/);
    } finally {
      await old.end().catch(() => undefined);
      node1.override = {};
      node2.override = {};
      await keys.failover({});
      await keys.leader('node1');
      await waitFor('node1 leads again', () => router!.table().pools.write!.backends[0]?.member === 'node1', { timeoutMs: 10_000, intervalMs: 20 });
    }
  });

  test('switchover rolled back (the key cleared, the leader unchanged): held writes land on the old leader', async () => {
    await keys.failover({ leader: 'node1', member: 'node2' });
    await waitFor('switchover pending', () => status().switchover?.holdingWrites === true, { timeoutMs: 10_000, intervalMs: 5 });
    const pending = portOf();
    await waitFor('a new write connection held', () => status().listeners.write.connections.held === 1, { timeoutMs: 10_000, intervalMs: 5 });
    const cleared = performance.now();
    await keys.failover({});
    assert.equal(await pending, pgs[0]!.port);
    figures.clearedToLandedMs = Math.round(performance.now() - cleared);
    assert.equal(status().writable, true);
    assert.equal(status().switchover, null);
  });

  test('a deleted failover key releases them too; a request naming another leader holds nothing', async () => {
    await keys.failover({ member: 'node2' });
    await waitFor('switchover pending', () => status().switchover?.holdingWrites === true, { timeoutMs: 10_000, intervalMs: 5 });
    const pending = portOf();
    await waitFor('held', () => status().listeners.write.connections.held === 1, { timeoutMs: 10_000, intervalMs: 5 });
    await keys.failover(undefined);
    assert.equal(await pending, pgs[0]!.port);
    await keys.failover({ leader: 'node7', member: 'node2' });
    // A later key the table shows (ttl): once it is seen, the view holds the stale request too (watch order).
    await keys.config({ ttl: 31, loop_wait: 10, retry_timeout: 10 });
    await waitFor('the stale request is in the view', () => router!.table().ttlMs === 31_000, { timeoutMs: 10_000, intervalMs: 5 });
    assert.equal(status().switchover, null);
    assert.equal(status().writable, true);
    assert.equal(await portOf(), pgs[0]!.port);
    await keys.failover({});
  });
});
