/**
 * The router in front of real PostgreSQL 15 (a primary and two streaming replicas) and a real etcd holding
 * Patroni-style keys written by this test, with one stub agent per member serving the /patroni JSON.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, startReplicaOf, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PatroniKeys, connectTo, enableTls, one, psql, selfSignedCert, startStubAgent, type StubAgent } from './harness';

const SCOPE = 'routertest';
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();

describe('router in front of real postgres and etcd', { timeout: 600_000 }, () => {
  let etcd: TestEtcd | undefined;
  let store: EtcdStore;
  let keys: PatroniKeys;
  const pgs: TestPostgres[] = [];
  const stubs: StubAgent[] = [];
  let router: RunningRouter | undefined;
  let primary: StubAgent, r1: StubAgent, r2: StubAgent;
  const figures: Record<string, number> = {};
  const writePort = () => router!.ports.write!;
  const readPort = () => router!.ports.read!;
  const poolOf = (l: string) => router!.table().pools[l]!.backends.map((b) => b.member).sort().join(',');
  const waitPool = (l: string, want: string, timeoutMs = 20_000) => waitFor(`${l} pool = ${want}`, () => poolOf(l) === want, { timeoutMs, intervalMs: 20 });

  before(async () => {
    etcd = await startEtcd();
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    keys = new PatroniKeys(store, SCOPE);
    const pg0 = await initPrimary({ name: 'node1' });
    pgs.push(pg0);
    pgs.push(await startReplicaOf(pg0, { name: 'node2' }));
    pgs.push(await startReplicaOf(pg0, { name: 'node3' }));
    primary = await startStubAgent('node1', pgs[0]!);
    r1 = await startStubAgent('node2', pgs[1]!);
    r2 = await startStubAgent('node3', pgs[2]!);
    stubs.push(primary, r1, r2);
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    await keys.member(primary, 'master');
    await keys.member(r1, 'replica');
    await keys.member(r2, 'replica');
    await keys.leader('node1');
    const config = loadRouterConfig(
      {
        scope: SCOPE,
        namespace: '/service/',
        etcd: { hosts: [etcd.endpoint], deadline: '2s' },
        listeners: [
          { name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '3s' },
          { name: 'read', role: 'replica', listen: '127.0.0.1:0', max_lag: '256kB', hold_timeout: '3s' },
        ],
        metrics: { listen: '127.0.0.1:0' },
        health: { interval: '200ms', timeout: '200ms', fast_interval: '20ms', max_age: '1s' },
        lease: { margin: '1s' },
        startup_timeout: '5s',
        drain_timeout: '2s',
      },
      'integration test',
    );
    router = await startRouter(config, { logger: log });
    await waitFor('leader confirmed and two replicas', () => router!.table().leader?.member === 'node1' && poolOf('read') === 'node2,node3', { timeoutMs: 30_000, intervalMs: 50 });
  });

  after(async () => {
    if (etcd) {
      try {
        process.kill(etcd.pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    await router?.stop().catch(() => undefined);
    for (const s of stubs) await s.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    for (const pg of pgs) await pg.destroy();
    await etcd?.destroy();
    if (Object.keys(figures).length) console.log(`router integration figures: ${JSON.stringify(figures)}`);
    const dump = (globalThis as { __dumpHandles?: () => void }).__dumpHandles;
    if (dump) setTimeout(dump, 2000).unref();
  });

  test('writes land on the primary; reads on the replicas, spread over both', async () => {
    const w = await one<{ rec: boolean; port: number }>(writePort(), 'select pg_is_in_recovery() as rec, inet_server_port() as port');
    assert.deepEqual(w, { rec: false, port: pgs[0]!.port });
    await one(writePort(), 'create table if not exists t (id serial primary key, filler text)');
    const clients = [];
    const ports = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const c = await connectTo(readPort());
      clients.push(c);
      const row = (await c.query('select pg_is_in_recovery() as rec, inet_server_port() as port')).rows[0] as { rec: boolean; port: number };
      assert.equal(row.rec, true);
      ports.add(row.port);
    }
    for (const c of clients) await c.end();
    assert.deepEqual([...ports].sort(), [pgs[1]!.port, pgs[2]!.port].sort());
  });

  test('a noloadbalance replica never gets reads', async () => {
    await keys.member(r2, 'replica', { tags: { noloadbalance: true } });
    await waitPool('read', 'node2');
    for (let i = 0; i < 5; i++) {
      assert.equal((await one<{ port: number }>(readPort(), 'select inet_server_port() as port')).port, pgs[1]!.port);
    }
    await keys.member(r2, 'replica');
    await waitPool('read', 'node2,node3');
  });

  test('a replica paused behind the lag limit leaves the read pool and returns when resumed', async () => {
    await one(pgs[1]!.port, 'select pg_wal_replay_pause()');
    try {
      // ~4 MB of WAL on the primary while node2 does not replay.
      await one(writePort(), "insert into t (filler) select repeat('x', 200) from generate_series(1, 15000)");
      await waitPool('read', 'node3');
      const status = router!.status() as { members: { member: string; pools: Record<string, { reason: string }> }[] };
      assert.match(status.members.find((m) => m.member === 'node2')!.pools.read!.reason, /lag \d+ bytes > max_lag 262144/);
      for (let i = 0; i < 4; i++) {
        assert.equal((await one<{ port: number }>(readPort(), 'select inet_server_port() as port')).port, pgs[2]!.port);
      }
    } finally {
      await one(pgs[1]!.port, 'select pg_wal_replay_resume()');
    }
    await waitPool('read', 'node2,node3');
  });

  async function sleepingQueryPid(port: number): Promise<number> {
    return waitFor(
      'the pg_sleep query running',
      async () => {
        const r = await one<{ pid: number | null }>(port, "select (select pid from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active' limit 1) as pid");
        return r.pid ?? undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  }

  async function cancelThroughRouter(sslmode: 'disable' | 'require'): Promise<{ res: Awaited<ReturnType<typeof psql>>; port: number }> {
    let child: Parameters<NonNullable<Parameters<typeof psql>[2]>>[0] | undefined;
    const running = psql(`host=127.0.0.1 port=${readPort()} user=admin dbname=postgres sslmode=${sslmode} gssencmode=disable`, 'select pg_sleep(30)', (c) => (child = c));
    // Which replica runs it? The one where pg_stat_activity shows it.
    const port = await waitFor(
      'the query on a replica',
      async () => {
        for (const pg of pgs.slice(1)) {
          const r = await one<{ n: string }>(pg.port, "select count(*) as n from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'");
          if (Number(r.n) > 0) return pg.port;
        }
        return undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    await sleepingQueryPid(port);
    child!.kill('SIGINT');
    const res = await running;
    return { res, port };
  }

  test('cancel through the read port cancels the query on the right replica', async () => {
    const { res } = await cancelThroughRouter('disable');
    assert.match(res.stderr, /canceling statement due to user request/);
    assert.ok(res.ms < 20_000, `psql took ${res.ms} ms`);
    figures.cancelPlainMs = res.ms;
  });

  test('with TLS end to end (sslmode=require): the session is encrypted and cancel still works', async () => {
    const tls = selfSignedCert();
    try {
      for (const pg of pgs) await enableTls(pg, tls.cert, tls.key);
      const ssl = await psql(`host=127.0.0.1 port=${readPort()} user=admin dbname=postgres sslmode=require gssencmode=disable`, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      assert.equal(ssl.stdout.trim(), 't', ssl.stderr);
      const { res } = await cancelThroughRouter('require');
      assert.match(res.stderr, /canceling statement due to user request/);
      assert.ok(res.ms < 20_000);
      // The cancel's own connection may still be counted after psql returns: wait for the counters.
      await waitFor('both cancel counters', async () => {
        const metrics = await fetch(`http://127.0.0.1:${router!.ports.metrics}/metrics`).then((r) => r.text());
        return /pgha_router_cancel_requests_total\{listener="read",outcome="broadcast"\} [1-9]/.test(metrics)
          && /pgha_router_cancel_requests_total\{listener="read",outcome="routed"\} [1-9]/.test(metrics);
      }, { timeoutMs: 10_000, intervalMs: 100 });
    } finally {
      tls.remove();
    }
  });

  test('no leader: new writes wait and go through when the leader key appears', async () => {
    await keys.leader(undefined);
    await waitFor('no leader', () => router!.table().leader === undefined, { timeoutMs: 10_000, intervalMs: 20 });
    const t0 = Date.now();
    const pending = one<{ port: number }>(writePort(), 'select inet_server_port() as port');
    await new Promise((r) => setTimeout(r, 700));
    await keys.leader('node1');
    const row = await pending;
    assert.equal(row.port, pgs[0]!.port);
    assert.ok(Date.now() - t0 >= 700, 'it waited');
  });

  test('no leader past hold_timeout: psql shows the router error, not a dropped connection', async () => {
    await keys.leader(undefined);
    await waitFor('no leader', () => router!.table().leader === undefined, { timeoutMs: 10_000, intervalMs: 20 });
    const res = await psql(`host=127.0.0.1 port=${writePort()} user=admin dbname=postgres`, 'select 1');
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /pgha router: no writable primary available for listener "write": no leader key/);
    assert.doesNotMatch(res.stderr, /closed the connection unexpectedly/);
    assert.ok(res.ms >= 2500, `refused after ${res.ms} ms (hold_timeout 3 s)`);
    await keys.leader('node1');
    await waitFor('leader back', () => router!.table().leader?.member === 'node1', { timeoutMs: 10_000, intervalMs: 20 });
  });

  test('leader key moves: open writes to the old leader close at once, new writes reach the new leader', async () => {
    const old = await connectTo(writePort());
    assert.equal(((await old.query('select inet_server_port() as port')).rows[0] as { port: number }).port, pgs[0]!.port);
    let closedAt = 0;
    old.on('end', () => (closedAt ||= performance.now()));
    old.on('error', () => (closedAt ||= performance.now()));
    // node2's agent now claims primary and node1's replica (as after a switchover), then the key moves.
    r1.override = { role: 'master', xlog: { location: 1 } };
    primary.override = { role: 'replica' };
    const t0 = performance.now();
    await keys.leader('node2');
    const first = await waitFor(
      'a write connection to node2',
      async () => {
        const r = await one<{ port: number }>(writePort(), 'select inet_server_port() as port');
        return r.port === pgs[1]!.port ? performance.now() : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 1 },
    );
    await waitFor('old connection closed', () => closedAt > 0, { timeoutMs: 5000, intervalMs: 5 });
    figures.leaderKeyToFirstWriteMs = Math.round(first - t0);
    figures.leaderKeyToOldWriteClosedMs = Math.round(closedAt - t0);
    assert.ok(closedAt - t0 < 1000, `old write connection closed after ${closedAt - t0} ms`);
    assert.ok(first - t0 < 2000, `first new write after ${first - t0} ms`);
    // And back.
    r1.override = {};
    primary.override = {};
    await keys.leader('node1');
    await waitFor('node1 leads again', () => router!.table().leader?.member === 'node1', { timeoutMs: 10_000, intervalMs: 20 });
  });

  test('etcd frozen: writes refused after ttl - margin, reads keep working; etcd back: writes resume', async () => {
    await keys.config({ ttl: 4, loop_wait: 1, retry_timeout: 1 });
    await waitFor('ttl 4 s in use', () => router!.table().ttlMs === 4000, { timeoutMs: 10_000, intervalMs: 20 });
    const w = await connectTo(writePort());
    let closedAt = 0;
    w.on('end', () => (closedAt ||= performance.now()));
    w.on('error', () => (closedAt ||= performance.now()));
    process.kill(etcd!.pid, 'SIGSTOP');
    const t0 = performance.now();
    try {
      await waitFor('write connection closed', () => closedAt > 0, { timeoutMs: 15_000, intervalMs: 20 });
      figures.etcdFrozenToWritesClosedMs = Math.round(closedAt - t0);
      // Bound: last contact (≤ 1 s contact interval before the freeze) + 4 s - 1 s.
      assert.ok(closedAt - t0 <= 3500 && closedAt - t0 >= 1500, `writes stopped ${closedAt - t0} ms after the freeze`);
      assert.match(router!.table().writeReason, /etcd not reached/);
      const res = await psql(`host=127.0.0.1 port=${writePort()} user=admin dbname=postgres sslmode=disable`, 'select 1');
      assert.match(res.stderr, /no writable primary available.*etcd not reached/);
      const r = await one<{ rec: boolean }>(readPort(), 'select pg_is_in_recovery() as rec');
      assert.equal(r.rec, true);
    } finally {
      process.kill(etcd!.pid, 'SIGCONT');
    }
    const t1 = performance.now();
    await waitFor('writes resume', async () => (await one<{ rec: boolean }>(writePort(), 'select pg_is_in_recovery() as rec')).rec === false, { timeoutMs: 30_000, intervalMs: 50 });
    figures.etcdBackToWritesMs = Math.round(performance.now() - t1);
    // The watch itself must be back: a leader key change after the thaw is followed.
    r1.override = { role: 'master', xlog: { location: 1 } };
    primary.override = { role: 'replica' };
    const t2 = performance.now();
    await keys.leader('node2');
    await waitFor('leader change seen after the thaw', () => router!.table().leader?.member === 'node2', { timeoutMs: 15_000, intervalMs: 10 });
    figures.leaderChangeSeenAfterThawMs = Math.round(performance.now() - t2);
    r1.override = {};
    primary.override = {};
    await keys.leader('node1');
    await waitFor('node1 leads again', () => router!.table().leader?.member === 'node1', { timeoutMs: 15_000, intervalMs: 20 });
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
  });
});
