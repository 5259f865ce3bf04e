/**
 * Transaction mode: a client connection outlives its server connection (pool-design item 4). The server
 * connection is killed under the client (pg_terminate_backend from a direct connection), and the leader changes
 * (the harness moves the leader key and the agents' answers, as switchover.test.ts does): the client sees one 08006
 * error for the transaction in flight, and its next transaction runs on the same client connection — on the new
 * leader after the switch.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, startReplicaOf, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PASSWORD, PatroniKeys, connectTo, startStubAgent, type StubAgent } from './harness';

const SCOPE = 'poolloss';
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();

describe('router pool_mode transaction: server loss', { timeout: 600_000 }, () => {
  let etcd: TestEtcd | undefined;
  let store: EtcdStore | undefined;
  let keys: PatroniKeys;
  const pgs: TestPostgres[] = [];
  const stubs: StubAgent[] = [];
  let router: RunningRouter | undefined;
  let direct: pg.Client | undefined;
  const port = () => router!.ports.write!;

  /** The pid of the server connection running `query` (seen from a direct connection). */
  const serverPid = (query: string) =>
    waitFor(`server connection running ${query}`, async () => {
      const r = await direct!.query('select pid from pg_stat_activity where query = $1 and pid <> pg_backend_pid() limit 1', [query]);
      return r.rows[0]?.pid as number | undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });

  before(async () => {
    etcd = await startEtcd();
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    keys = new PatroniKeys(store, SCOPE);
    pgs.push(await initPrimary({ name: 'loss1' }));
    pgs.push(await startReplicaOf(pgs[0]!, { name: 'loss2' }));
    stubs.push(await startStubAgent('loss1', pgs[0]!), await startStubAgent('loss2', pgs[1]!));
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    await keys.member(stubs[0]!, 'master');
    await keys.member(stubs[1]!, 'replica');
    await keys.leader('loss1');
    const config = loadRouterConfig(
      {
        scope: SCOPE,
        etcd: { hosts: [etcd.endpoint], deadline: '2s' },
        listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '15s', pool_mode: 'transaction' }],
        pool: { size: 2 },
        metrics: { listen: '127.0.0.1:0' },
        health: { interval: '200ms', timeout: '200ms', fast_interval: '20ms', max_age: '1s' },
        lease: { margin: '1s' },
      },
      'pool loss integration test',
    );
    router = await startRouter(config, { logger: log, poolAuth: { secrets: { lookup: async () => ({ kind: 'plain', password: PASSWORD }) } } });
    await waitFor('leader confirmed', () => router!.table().leader?.member === 'loss1', { timeoutMs: 30_000, intervalMs: 50 });
    direct = await connectTo(pgs[0]!.port, { application_name: 'test-direct' });
  });

  after(async () => {
    await direct?.end().catch(() => undefined);
    await router?.stop().catch(() => undefined);
    for (const s of stubs) await s.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    for (const p of pgs) await p.destroy();
    await etcd?.destroy();
  });

  test('a statement in flight when its server connection is terminated: one 08006, then the next one runs', async () => {
    const c = await connectTo(port());
    try {
      const running = c.query('select pg_sleep(20)');
      const pid = await serverPid('select pg_sleep(20)');
      await direct!.query('select pg_terminate_backend($1)', [pid]);
      await assert.rejects(running, (err: Error & { code?: string }) => err.code === '08006');
      assert.equal((await c.query('select 1 as one')).rows[0].one, 1, 'same client connection, new server connection');
    } finally {
      await c.end();
    }
  });

  test('inside BEGIN: 08006, the block is failed until ROLLBACK (answered by the router), then a new transaction runs', async () => {
    const c = await connectTo(port());
    try {
      await c.query('create table if not exists pool_loss (id int)');
      await c.query('begin');
      await c.query('insert into pool_loss values (1)');
      const running = c.query('select pg_sleep(20)');
      const pid = await serverPid('select pg_sleep(20)');
      await direct!.query('select pg_terminate_backend($1)', [pid]);
      await assert.rejects(running, (err: Error & { code?: string }) => err.code === '08006');
      await assert.rejects(c.query('select 1'), (err: Error & { code?: string }) => err.code === '25P02');
      await c.query('rollback');
      assert.equal((await c.query('select count(*)::int as n from pool_loss')).rows[0].n, 0, 'the insert was rolled back');
    } finally {
      await c.end();
    }
  });

  test('/status and /metrics show the pool figures', async () => {
    const c = await connectTo(port());
    try {
      await c.query('select 1');
      const status = router!.status() as { pools?: { listener: string; member: string; sv_idle: number; sv_active: number }[] };
      const p = status.pools?.find((x) => x.listener === 'write' && x.member === 'loss1');
      assert.ok(p, JSON.stringify(status.pools));
      assert.ok(p.sv_idle + p.sv_active >= 1);
      const text = await (await fetch(`http://127.0.0.1:${router!.ports.metrics}/metrics`)).text();
      assert.match(text, /pgha_router_pool_server_connections\{[^}]*listener="write"[^}]*state="idle"[^}]*\} \d/);
      assert.match(text, /pgha_router_pool_clients\{[^}]*state="waiting"[^}]*\} 0/);
    } finally {
      await c.end();
    }
  });

  test('leader switch: the old leader’s server connection is cut under the client; its next transaction runs on the new leader', async () => {
    const c = await connectTo(port());
    try {
      assert.equal((await c.query('select inet_server_port() as p')).rows[0].p, pgs[0]!.port);
      // Handled at once: the router may cut the connection as soon as the first stub answers 'replica', before the
      // leader key moves, and a rejection with no handler yet fails the test.
      const running = assert.rejects(c.query('select pg_sleep(20)'), (err: Error & { code?: string }) => err.code === '08006');
      await serverPid('select pg_sleep(20)');
      // The agents' part of a switchover, played by the stubs: the old leader demotes, the candidate takes the key.
      stubs[0]!.override = { role: 'replica' };
      stubs[1]!.override = { role: 'master', xlog: { location: 1 } };
      await keys.member(stubs[0]!, 'replica');
      await keys.member(stubs[1]!, 'master');
      await keys.leader('loss2');
      await running;
      await waitFor('new leader confirmed', () => router!.table().leader?.member === 'loss2', { timeoutMs: 30_000, intervalMs: 50 });
      assert.equal((await c.query('select inet_server_port() as p')).rows[0].p, pgs[1]!.port, 'same client connection, on the new leader');
    } finally {
      await c.end();
    }
  });
});
