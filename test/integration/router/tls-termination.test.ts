/**
 * TLS terminated at the router (`tls:`), against real PostgreSQL 15 (a primary, two streaming replicas) and etcd:
 * clients verify the router's certificate (psql verify-full, node-postgres, postgres.js, asyncpg), the router talks
 * to PostgreSQL by tls.server_mode, CancelRequests sent inside TLS reach their session on a read port with two
 * replicas every time, and hostile handshakes are closed and counted.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { encodeCancelRequest, encodeStartup } from '../../../src/router/wire';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, startReplicaOf, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PASSWORD, PatroniKeys, connectTo, one, psql, startStubAgent, type StubAgent } from './harness';
import { afterSslRequest, asyncpgCancels, closed, counter, routerCert, routerTls, serverTls, tlsTo, type RouterTls } from './tls-support';

const SCOPE = 'tlsterm';
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();
const ROUNDS = 6;

describe('TLS terminated at the router', { timeout: 600_000 }, () => {
  let etcd: TestEtcd | undefined;
  let store: EtcdStore;
  const pgs: TestPostgres[] = [];
  const stubs: StubAgent[] = [];
  const routers: RunningRouter[] = [];
  let router: RunningRouter;
  let cert: RouterTls;
  const metricsPort = () => router.ports.metrics!;
  const sleepers = (port: number, app: string) => one<{ n: number }>(port, `select count(*)::int as n from pg_stat_activity where application_name = '${app}' and state = 'active' and query like 'select pg_sleep%'`);

  async function start(tls: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<RunningRouter> {
    const r = await startRouter(routerConfig(tls, extra), { logger: log });
    routers.push(r);
    await waitFor('leader confirmed and two replicas', () => r.table().leader?.member === 'node1' && r.table().pools.read!.backends.length === 2, { timeoutMs: 30_000, intervalMs: 50 });
    return r;
  }

  function routerConfig(tls: Record<string, unknown>, extra: Record<string, unknown> = {}): ReturnType<typeof loadRouterConfig> {
    return loadRouterConfig(
      {
        scope: SCOPE,
        etcd: { hosts: [etcd!.endpoint], deadline: '2s' },
        listeners: [
          { name: 'write', role: 'primary', listen: '127.0.0.1:0' },
          { name: 'read', role: 'replica', listen: '127.0.0.1:0', balance: 'round-robin' },
        ],
        metrics: { listen: '127.0.0.1:0' },
        // Unhurried checks: nothing here tests failover, and a loaded machine must not unconfirm the leader.
        health: { interval: '500ms', timeout: '500ms', fast_interval: '100ms', max_age: '10s', fall: 5 },
        hold_timeout: '10s',
        startup_timeout: '2s',
        drain_timeout: '1s',
        tls: { cert_file: cert.cert, key_file: cert.key, ...tls },
        ...extra,
      },
      'tls integration test',
    );
  }

  const conninfo = (port: number, sslmode: string, root?: string) => cert.conninfo(port, sslmode, root);

  before(async () => {
    cert = routerTls();
    etcd = await startEtcd();
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    const keys = new PatroniKeys(store, SCOPE);
    pgs.push(await initPrimary({ name: 'node1' }));
    pgs.push(await startReplicaOf(pgs[0]!, { name: 'node2' }));
    pgs.push(await startReplicaOf(pgs[0]!, { name: 'node3' }));
    for (const [i, pg] of pgs.entries()) stubs.push(await startStubAgent(`node${i + 1}`, pg));
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    await keys.member(stubs[0]!, 'master');
    await keys.member(stubs[1]!, 'replica');
    await keys.member(stubs[2]!, 'replica');
    await keys.leader('node1');
    router = await start({});
  });

  after(async () => {
    for (const r of routers) await r.stop().catch(() => undefined);
    for (const s of stubs) await s.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    for (const pg of pgs) await pg.destroy();
    await etcd?.destroy();
    cert?.remove();
  });

  test('psql verifies the router\'s certificate (verify-full); a plain client still gets in', async () => {
    const res = await psql(conninfo(router.ports.write!, 'verify-full'), 'select inet_server_port()');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), String(pgs[0]!.port));
    const info = await psql(conninfo(router.ports.write!, 'verify-full'), '\\conninfo');
    assert.match(info.stdout, /SSL connection \(protocol: TLSv1\.[23]/);
    const plain = await psql(conninfo(router.ports.write!, 'disable'), 'select 1');
    assert.equal(plain.stdout.trim(), '1', plain.stderr);
    // server_mode prefer against a PostgreSQL without ssl: the server connection is plain.
    const ssl = await psql(conninfo(router.ports.write!, 'require'), 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    assert.equal(ssl.stdout.trim(), 'f', ssl.stderr);
    assert.ok((await counter(metricsPort(), 'pgha_router_tls_handshakes_total', { result: 'ok' })) >= 3);
  });

  test('node-postgres with ssl, and a direct TLS connection (ALPN postgresql) get a session', async () => {
    const c = await connectTo(router.ports.read!, { ssl: { ca: cert.ca, servername: 'localhost' } });
    try {
      assert.equal((await c.query('select pg_is_in_recovery() as r')).rows[0].r, true);
    } finally {
      await c.end();
    }
    const direct = await tlsTo(router.ports.write!, cert.ca, { direct: true, ALPNProtocols: ['postgresql'] });
    direct.write(encodeStartup({ user: 'admin', database: 'postgres' }));
    const reply = await new Promise<Buffer>((resolve) => direct.once('data', resolve));
    assert.equal(String.fromCharCode(reply[0]!), 'R', 'an authentication request from postgres');
    direct.destroy();
    const before = await counter(metricsPort(), 'pgha_router_tls_handshakes_total', { result: 'alpn' });
    // Without ALPN the handshake completes, then the router closes (PostgreSQL 17 does the same).
    await closed(await tlsTo(router.ports.write!, cert.ca, { direct: true }));
    await waitFor('the ALPN refusal counted', async () => (await counter(metricsPort(), 'pgha_router_tls_handshakes_total', { result: 'alpn' })) === before + 1, { timeoutMs: 10_000, intervalMs: 50 });
  });

  test(`asyncpg cancels inside TLS on a read port with two replicas: ${ROUNDS} of ${ROUNDS} reach their query`, async () => {
    const routed = await counter(metricsPort(), 'pgha_router_cancel_requests_total', { listener: 'read', outcome: 'routed' });
    const rounds = await asyncpgCancels(router.ports.read!, cert.cert, [pgs[1]!.port, pgs[2]!.port], ROUNDS);
    assert.equal(rounds.length, ROUNDS);
    for (const r of rounds) assert.ok(r.seconds < 10, `a cancel took ${r.seconds.toFixed(1)} s: it reached the wrong replica`);
    assert.equal(new Set(rounds.map((r) => r.replica)).size, 2, 'both replicas served sessions');
    // Counted once the server closed the cancel connection, which may come after the client saw its error.
    await waitFor(`${ROUNDS} cancels routed by key`, async () => (await counter(metricsPort(), 'pgha_router_cancel_requests_total', { listener: 'read', outcome: 'routed' })) === routed + ROUNDS, { timeoutMs: 10_000, intervalMs: 50 });
  });

  test(`postgres.js cancels inside TLS on the read port: ${ROUNDS} of ${ROUNDS}`, async () => {
    const routed = await counter(metricsPort(), 'pgha_router_cancel_requests_total', { listener: 'read', outcome: 'routed' });
    const replicas = new Set<number>();
    for (let i = 0; i < ROUNDS; i++) {
      const app = `postgresjs-cancel-${i}`;
      const sql = postgres({ host: '127.0.0.1', port: router.ports.read!, user: 'admin', password: PASSWORD, database: 'postgres', ssl: { ca: cert.ca, servername: 'localhost' }, max: 1, connection: { application_name: app }, onnotice: () => undefined });
      try {
        const q = sql`select pg_sleep(30)`;
        const outcome = q.then(() => 'finished', (err: { code?: string }) => err.code);
        const port = await waitFor('the pg_sleep running', async () => {
          for (const pg of [pgs[1]!, pgs[2]!]) if ((await sleepers(pg.port, app)).n > 0) return pg.port;
          return undefined;
        }, { timeoutMs: 20_000, intervalMs: 50 });
        replicas.add(port);
        const t0 = Date.now();
        void q.cancel();
        assert.equal(await outcome, '57014', 'canceling statement due to user request');
        assert.ok(Date.now() - t0 < 10_000);
      } finally {
        await sql.end({ timeout: 5 });
      }
    }
    assert.equal(replicas.size, 2, 'both replicas served sessions');
    // Counted once the server closed the cancel connection, which may come after the client saw its error.
    await waitFor(`${ROUNDS} cancels routed by key`, async () => (await counter(metricsPort(), 'pgha_router_cancel_requests_total', { listener: 'read', outcome: 'routed' })) === routed + ROUNDS, { timeoutMs: 10_000, intervalMs: 50 });
  });

  test('a CancelRequest inside TLS with a wrong key cancels nothing and is counted', async () => {
    const app = 'wrong-key-victim';
    const victim = await connectTo(router.ports.read!, { ssl: { ca: cert.ca, servername: 'localhost' }, application_name: app });
    try {
      const running = victim.query('select pg_sleep(30)').then(() => 'finished', (err: { code?: string }) => err.code);
      await waitFor('the pg_sleep running', async () => (await sleepers(pgs[1]!.port, app)).n + (await sleepers(pgs[2]!.port, app)).n > 0, { timeoutMs: 20_000, intervalMs: 50 });
      const total = () => counter(metricsPort(), 'pgha_router_cancel_requests_total', { listener: 'read' });
      const routed = () => counter(metricsPort(), 'pgha_router_cancel_requests_total', { listener: 'read', outcome: 'routed' });
      const [before, routedBefore] = [await total(), await routed()];
      const tls = await tlsTo(router.ports.read!, cert.ca);
      tls.end(encodeCancelRequest(12345, 67890));
      await closed(tls);
      await waitFor('the cancel counted', async () => (await total()) === before + 1, { timeoutMs: 10_000, intervalMs: 50 });
      assert.equal(await routed(), routedBefore, 'no session holds that key');
      assert.equal((await sleepers(pgs[1]!.port, app)).n + (await sleepers(pgs[2]!.port, app)).n, 1, 'the query still runs');
      for (const pg of [pgs[1]!, pgs[2]!]) await one(pg.port, `select pg_cancel_backend(pid) from pg_stat_activity where application_name = '${app}'`);
      assert.equal(await running, '57014');
    } finally {
      await victim.end().catch(() => undefined);
    }
  });

  test('hostile: garbage instead of a ClientHello, a stalled handshake, TLS 1.0: closed and counted', async () => {
    const failed = await counter(metricsPort(), 'pgha_router_tls_handshakes_total', { result: 'failed' });
    const timeouts = await counter(metricsPort(), 'pgha_router_tls_handshakes_total', { result: 'timeout' });
    const garbage = await afterSslRequest(router.ports.write!);
    assert.equal(garbage.answer, 'S');
    garbage.socket.write(Buffer.alloc(64, 0x41));
    await closed(garbage.socket);
    const stalled = await afterSslRequest(router.ports.write!);
    const t0 = Date.now();
    await closed(stalled.socket);
    const stalledMs = Date.now() - t0;
    assert.ok(stalledMs >= 1500 && stalledMs < 15_000, `closed after ${stalledMs} ms (startup_timeout 2s)`);
    // The client allows TLS 1.0 (SECLEVEL=0): the refusal is the router's alert, not the client's own.
    await assert.rejects(tlsTo(router.ports.write!, cert.ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }), /alert protocol version/);
    await waitFor('the failures counted', async () => (await counter(metricsPort(), 'pgha_router_tls_handshakes_total', { result: 'failed' })) === failed + 2, { timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(await counter(metricsPort(), 'pgha_router_tls_handshakes_total', { result: 'timeout' }), timeouts + 1);
    assert.equal((await one<{ n: number }>(router.ports.write!, 'select 1 as n')).n, 1, 'the router still serves');
  });

  test('server_mode: require against a server without ssl is a clear error; with ssl on, prefer/require/verify-ca encrypt', async () => {
    const req = await start({ server_mode: 'require' });
    const refused = await psql(conninfo(req.ports.write!, 'verify-full'), 'select 1');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /the server does not support SSL, but tls.server_mode is require/);
    const pgCert = await serverTls(pgs);
    try {
      const verifyCa = await start({ server_mode: 'verify-ca', ca_file: pgCert.cert });
      const verifyFull = await start({ server_mode: 'verify-full', ca_file: pgCert.cert });
      for (const [r, mode] of [[router, 'prefer'], [req, 'require'], [verifyCa, 'verify-ca']] as const) {
        const ssl = await psql(conninfo(r.ports.write!, 'verify-full'), 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
        assert.equal(ssl.stdout.trim(), 't', `${mode}: ${ssl.stderr}`);
      }
      // node-postgres over TLS at both hops, with the extended protocol and a large parameter.
      const c = await connectTo(verifyCa.ports.write!, { ssl: { ca: cert.ca, servername: 'localhost' } });
      try {
        const big = 'x'.repeat(1 << 20);
        assert.equal((await c.query('select length($1::text) as n', [big])).rows[0].n, 1 << 20);
      } finally {
        await c.end();
      }
      // The PostgreSQL certificate names localhost, the router connects to 127.0.0.1: verify-full must refuse.
      const mismatch = await psql(conninfo(verifyFull.ports.write!, 'verify-full'), 'select 1');
      assert.notEqual(mismatch.code, 0);
      assert.match(mismatch.stderr, /TLS to the server failed/);
    } finally {
      pgCert.remove();
    }
  });
  test('a reload takes a renewed certificate; a reload with a key of another certificate is refused and changes nothing', async () => {
    const r = await start({});
    const renewed = routerCert();
    try {
      await assert.rejects(r.reload(routerConfig({ cert_file: renewed.cert, key_file: cert.key })), /tls\.key_file: .*cannot be used/);
      assert.equal((await psql(conninfo(r.ports.write!, 'verify-full'), 'select 1')).stdout.trim(), '1', 'the running certificate still served');
      await r.reload(routerConfig({ cert_file: renewed.cert, key_file: renewed.key }));
      const now = await psql(conninfo(r.ports.write!, 'verify-full', renewed.cert), 'select 1');
      assert.equal(now.stdout.trim(), '1', now.stderr);
      const old = await psql(conninfo(r.ports.write!, 'verify-full'), 'select 1');
      assert.notEqual(old.code, 0, 'the old root no longer verifies the router');
    } finally {
      renewed.remove();
    }
  });

  test('workers: 2 terminate with the same certificate, and asyncpg cancels inside TLS still reach their query', async () => {
    const r = await start({}, { workers: 2 });
    for (let i = 0; i < 4; i++) {
      const res = await psql(conninfo(r.ports.write!, 'verify-full'), 'select inet_server_port()');
      assert.equal(res.stdout.trim(), String(pgs[0]!.port), res.stderr);
    }
    // A cancel accepted by the worker that does not hold the session is broadcast to the members: still delivered.
    const rounds = await asyncpgCancels(r.ports.read!, cert.cert, [pgs[1]!.port, pgs[2]!.port], ROUNDS);
    for (const round of rounds) assert.ok(round.seconds < 10, `a cancel took ${round.seconds.toFixed(1)} s`);
    const ok = await counter(r.ports.metrics!, 'pgha_router_tls_handshakes_total', { result: 'ok' });
    assert.ok(ok >= 4 + 2 * ROUNDS, `handshakes counted over both workers: ${ok}`);
  });
});
