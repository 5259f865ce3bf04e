/**
 * A listener's `max_connections` against real PostgreSQL 15 and etcd, with a node-postgres client: the N+1th
 * connection gets PostgreSQL's own "too many clients" answer (SQLSTATE 53300) from the router, counted in
 * `pgha_router_connections_refused_total{reason="max_connections"}`; once one session closes, a new one succeeds.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'pg';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PatroniKeys, connectTo, startStubAgent, type StubAgent } from './harness';

const SCOPE = 'limitstest';
const MAX = 3;
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();

describe('router max_connections (real etcd and postgres)', { timeout: 300_000 }, () => {
  let etcd: TestEtcd | undefined;
  let store: EtcdStore | undefined;
  let pg: TestPostgres | undefined;
  let stub: StubAgent | undefined;
  let router: RunningRouter | undefined;
  const clients: Client[] = [];

  before(async () => {
    etcd = await startEtcd();
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    const keys = new PatroniKeys(store, SCOPE);
    pg = await initPrimary({ name: 'node1' });
    stub = await startStubAgent('node1', pg);
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    await keys.member(stub, 'master');
    await keys.leader('node1');
    const config = loadRouterConfig(
      {
        scope: SCOPE,
        etcd: { hosts: [etcd.endpoint], deadline: '2s' },
        listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', max_connections: MAX }],
        metrics: { listen: '127.0.0.1:0' },
        health: { interval: '200ms', timeout: '200ms', fast_interval: '20ms', max_age: '1s' },
        lease: { margin: '1s' },
        drain_timeout: '1s',
      },
      'limits integration test',
    );
    router = await startRouter(config, { logger: log });
    await waitFor('node1 confirmed', () => router!.table().leader?.member === 'node1', { timeoutMs: 30_000, intervalMs: 20 });
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await router?.stop().catch(() => undefined);
    await stub?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await pg?.destroy();
    await etcd?.destroy();
  });

  test(`the connection after ${MAX} gets 53300; after one closes, a new one succeeds`, async () => {
    const port = router!.ports.write!;
    for (let i = 0; i < MAX; i++) {
      const c = await connectTo(port);
      clients.push(c);
      assert.equal((await c.query('select 1 as one')).rows[0].one, 1);
    }
    const refused = await connectTo(port).then(
      (c) => {
        clients.push(c);
        return undefined;
      },
      (err: unknown) => err as { code?: string; message: string; detail?: string },
    );
    assert.ok(refused, `connection ${MAX + 1} was accepted`);
    assert.equal(refused.code, '53300');
    assert.equal(refused.message, 'sorry, too many clients already');
    assert.match(refused.detail ?? '', new RegExp(`max_connections \\(${MAX}\\)`));
    const metrics = await fetch(`http://127.0.0.1:${router!.ports.metrics}/metrics`).then((r) => r.text());
    assert.match(metrics, /pgha_router_connections_refused_total\{listener="write",reason="max_connections"\} 1/);

    await clients.shift()!.end();
    const open = (): number => {
      const c = (router!.status() as { listeners: { write: { connections: { active: number; pending: number } } } }).listeners.write.connections;
      return c.active + c.pending;
    };
    await waitFor('the closed session is gone', () => open() < MAX, { timeoutMs: 10_000, intervalMs: 10 });
    const again = await connectTo(port);
    clients.push(again);
    assert.equal((await again.query('select pg_is_in_recovery() as rec')).rows[0].rec, false);
  });
});
