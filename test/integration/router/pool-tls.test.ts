/**
 * TLS at the router for a pooled (transaction-mode) listener, against real PostgreSQL 15 and etcd: the router
 * answers SSLRequest 'S' and terminates TLS before the StartupMessage (psql verify-full, node-postgres with ssl, direct TLS),
 * asyncpg's CancelRequests sent inside TLS resolve through the router's own keys (6 of 6 land), and with
 * tls.server_mode require the pool's server connections are encrypted (pg_stat_ssl).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { encodeStartup } from '../../../src/router/wire';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PASSWORD, PatroniKeys, connectTo, psql, startStubAgent, type StubAgent } from './harness';
import { asyncpgCancels, counter, routerTls, serverTls, tlsTo, type RouterTls } from './tls-support';

const SCOPE = 'pooltls';
const ROUNDS = 6;
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();

describe('TLS at the router for a pooled listener', { timeout: 600_000 }, () => {
  let etcd: TestEtcd | undefined;
  let store: EtcdStore | undefined;
  let pg0: TestPostgres | undefined;
  let stub: StubAgent | undefined;
  const routers: RunningRouter[] = [];
  let router: RunningRouter;
  let cert: RouterTls;
  let pgCert: { remove(): void } | undefined;

  async function start(tls: Record<string, unknown>): Promise<RunningRouter> {
    const config = loadRouterConfig(
      {
        scope: SCOPE,
        etcd: { hosts: [etcd!.endpoint], deadline: '2s' },
        listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', pool_mode: 'transaction' }],
        metrics: { listen: '127.0.0.1:0' },
        pool: { size: 3, queue_timeout: '20s' },
        // Unhurried checks: nothing here tests failover, and a loaded machine must not unconfirm the leader.
        health: { interval: '500ms', timeout: '500ms', fast_interval: '100ms', max_age: '10s', fall: 5 },
        hold_timeout: '10s',
        tls: { cert_file: cert.cert, key_file: cert.key, ...tls },
      },
      'pool tls integration test',
    );
    const r = await startRouter(config, { logger: log, poolAuth: { secrets: { lookup: async () => ({ kind: 'plain', password: PASSWORD }) }, type: 'scram-sha-256' } });
    routers.push(r);
    await waitFor('leader confirmed', () => r.table().leader?.member === 'pooltls1', { timeoutMs: 30_000, intervalMs: 50 });
    return r;
  }

  const conninfo = (port: number, sslmode: string) => cert.conninfo(port, sslmode);

  before(async () => {
    cert = routerTls();
    etcd = await startEtcd();
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    const keys = new PatroniKeys(store, SCOPE);
    pg0 = await initPrimary({ name: 'pooltls1' });
    stub = await startStubAgent('pooltls1', pg0);
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    await keys.member(stub, 'master');
    await keys.leader('pooltls1');
    router = await start({});
  });

  after(async () => {
    for (const r of routers) await r.stop().catch(() => undefined);
    await stub?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await pg0?.destroy();
    await etcd?.destroy();
    cert?.remove();
    pgCert?.remove();
  });

  test('psql verifies the router\'s certificate (verify-full) on the pooled listener', async () => {
    const port = router.ports.write!;
    const res = await psql(conninfo(port, 'verify-full'), 'select current_user');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), 'admin');
    const info = await psql(conninfo(port, 'verify-full'), '\\conninfo');
    assert.match(info.stdout, /SSL connection \(protocol: TLSv1\.[23]/, info.stderr);
    // server_mode prefer against a PostgreSQL without ssl: the server connection is plain.
    const ssl = await psql(conninfo(port, 'require'), 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    assert.equal(ssl.stdout.trim(), 'f', ssl.stderr);
    // Direct TLS (PostgreSQL 17's sslnegotiation=direct): terminated too, then the router's own SCRAM request.
    const direct = await tlsTo(port, cert.ca, { direct: true, ALPNProtocols: ['postgresql'] });
    direct.write(encodeStartup({ user: 'admin', database: 'postgres' }));
    const reply = await new Promise<Buffer>((resolve) => direct.once('data', resolve));
    assert.equal(String.fromCharCode(reply[0]!), 'R', 'an authentication request from the router');
    direct.destroy();
    assert.ok((await counter(router.ports.metrics!, 'pgha_router_tls_handshakes_total', { result: 'ok' })) >= 4);
  });

  test('node-postgres with ssl: the extended protocol, a large parameter and a transaction over TLS', async () => {
    const c = await connectTo(router.ports.write!, { ssl: { ca: cert.ca, servername: 'localhost' } });
    try {
      const big = 'x'.repeat(1 << 20);
      assert.equal((await c.query('select length($1::text) as n', [big])).rows[0].n, 1 << 20);
      await c.query('begin');
      await c.query('create temp table t (v int) on commit drop');
      await c.query('insert into t values ($1), ($2)', [1, 2]);
      assert.equal((await c.query('select sum(v)::int as s from t')).rows[0].s, 3);
      await c.query('commit');
    } finally {
      await c.end();
    }
  });

  test(`asyncpg cancels sent inside TLS reach the pooled session through the router's keys (${ROUNDS} of ${ROUNDS})`, async (t) => {
    const handshakes = await counter(router.ports.metrics!, 'pgha_router_tls_handshakes_total', { result: 'ok' });
    const rounds = await asyncpgCancels(router.ports.write!, cert.cert, [pg0!.port], ROUNDS);
    const seconds = rounds.map((r) => r.seconds);
    t.diagnostic(`strays ${rounds.at(-1)?.strays}; seconds ${seconds.map((x) => x.toFixed(2)).join(', ')}`);
    assert.equal(seconds.length, ROUNDS);
    // No stray: a query cancelled before it ran, by PostgreSQL's second SIGINT for the previous round's cancel on a
    // server connection handed on too early (pool/cancel-guard.ts keeps it until the cancel connection closed).
    assert.equal(rounds.at(-1)!.strays, 0, `${rounds.at(-1)!.strays} queries were cancelled before they ran`);
    // A lost cancel leaves pg_sleep(30) running: the round takes 30 s.
    for (const s of seconds) assert.ok(s < 10, `a cancel took ${s.toFixed(1)} s: ${seconds.map((x) => x.toFixed(2)).join(', ')}`);
    // Each round: its session and its cancel, both in TLS at the router.
    assert.ok((await counter(router.ports.metrics!, 'pgha_router_tls_handshakes_total', { result: 'ok' })) - handshakes >= 2 * ROUNDS);
  });

  test('server_mode require: the pool\'s server connections to a PostgreSQL with ssl on are encrypted', async () => {
    pgCert = await serverTls([pg0!]);
    const req = await start({ server_mode: 'require' });
    const ssl = await psql(conninfo(req.ports.write!, 'verify-full'), 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    assert.equal(ssl.stdout.trim(), 't', ssl.stderr);
    const c = await connectTo(req.ports.write!, { ssl: { ca: cert.ca, servername: 'localhost' } });
    try {
      assert.equal((await c.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0].ssl, true);
    } finally {
      await c.end();
    }
  });
});
