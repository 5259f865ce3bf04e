/**
 * PROXY protocol v1/v2 on a listener, against real PostgreSQL 15 and etcd, as an L4 balancer in front of the
 * router would speak it: the header goes first on the socket, then a node-postgres client runs its session over
 * that socket. The header's source address is the client address (/status byClient, max_connections_per_client);
 * a CancelRequest behind a header cancels a running query; a truncated, oversized or garbage header, or a
 * connection from outside the trusted networks, is closed, counted by reason, and never reaches PostgreSQL.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket, connect } from 'node:net';
import { Client } from 'pg';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { encodeProxyV1, encodeProxyV2, V2_SIGNATURE } from '../../../src/router/proxy-protocol';
import { encodeCancelRequest, encodeStartup } from '../../../src/router/wire';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PASSWORD, PatroniKeys, startStubAgent, type StubAgent } from './harness';

const SCOPE = 'proxyprototest';
const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();
const LB = { address: '10.9.9.9', port: 5000 };

describe('router PROXY protocol (real etcd and postgres)', { timeout: 300_000 }, () => {
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
        proxy_protocol: ['127.0.0.0/8'],
        listeners: [
          { name: 'write', role: 'primary', listen: '127.0.0.1:0', max_connections_per_client: 1 },
          // This test connects from 127.0.0.1: never a trusted balancer here.
          { name: 'untrusted', role: 'primary', listen: '127.0.0.1:0', proxy_protocol: ['10.0.0.0/8'] },
        ],
        metrics: { listen: '127.0.0.1:0' },
        health: { interval: '200ms', timeout: '200ms', fast_interval: '20ms', max_age: '1s' },
        lease: { margin: '1s' },
        startup_timeout: '2s',
        drain_timeout: '1s',
      },
      'proxy protocol integration test',
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

  /** A pg client whose socket starts with `header`, as a balancer with send-proxy would write it. */
  async function viaProxy(header: Buffer, port = router!.ports.write!): Promise<Client> {
    const stream = (): Socket => {
      const sock = new Socket();
      const connectTo = sock.connect.bind(sock) as (port: number, host: string) => Socket;
      // pg calls connect(port, host), then writes its startup packet on 'connect': the header, queued first, leads.
      (sock as unknown as { connect: (p: number, h: string) => Socket }).connect = (p, h) => {
        connectTo(p, h);
        sock.write(header);
        return sock;
      };
      return sock;
    };
    const c = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 20_000, stream });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  }

  type ListenerStatus = { connections: { byClient: Record<string, number> } };
  const byClient = (): Record<string, number> => (router!.status() as { listeners: Record<string, ListenerStatus> }).listeners.write!.connections.byClient;
  const metrics = (): Promise<string> => fetch(`http://127.0.0.1:${router!.ports.metrics}/metrics`).then((r) => r.text());
  const refusedCount = async (listener: string, reason: string): Promise<number> =>
    Number(new RegExp(`pgha_router_connections_refused_total\\{listener="${listener}",reason="${reason}"\\} (\\d+)`).exec(await metrics())?.[1] ?? 0);
  const backendConnections = async (): Promise<number> =>
    [...(await metrics()).matchAll(/^pgha_router_connections_opened_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);

  test('v1 and v2 headers: the session runs, and /status shows the header\'s address, not the socket\'s', async () => {
    const v1 = await viaProxy(encodeProxyV1({ address: '192.0.2.10', port: 40000 }, LB));
    assert.equal((await v1.query('select 1 as one')).rows[0].one, 1);
    const v2 = await viaProxy(encodeProxyV2({ address: '2001:db8::7', port: 40001 }, { address: '2001:db8::1', port: 5000 }));
    assert.equal((await v2.query('select pg_is_in_recovery() as rec')).rows[0].rec, false);
    // v2 LOCAL (a balancer's own health check): the socket's address stays the client address.
    const local = await viaProxy(encodeProxyV2());
    assert.equal((await local.query('select 2 as two')).rows[0].two, 2);
    assert.deepEqual(byClient(), { '192.0.2.10': 1, '2001:db8::7': 1, '127.0.0.1': 1 });
    await local.end();
    clients.splice(clients.indexOf(local), 1);
  });

  test('max_connections_per_client: 1 counts the header\'s address: a second one from it gets 53300, another address gets in', async () => {
    const again = await viaProxy(encodeProxyV1({ address: '192.0.2.10', port: 40002 }, LB)).then(
      () => undefined,
      (err: unknown) => err as { code?: string; message: string },
    );
    assert.ok(again, 'a second connection from 192.0.2.10 was accepted');
    assert.equal(again.code, '53300');
    assert.match(again.message, /too many connections from client address 192\.0\.2\.10/);
    const other = await viaProxy(encodeProxyV1({ address: '192.0.2.11', port: 40003 }, LB));
    assert.equal((await other.query('select 1 as one')).rows[0].one, 1);
  });

  test('a CancelRequest behind a PROXY header cancels the running query (even from an address at its limit)', async () => {
    const c = await viaProxy(encodeProxyV2({ address: '192.0.2.20', port: 41000 }, LB));
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    const sleeping = c.query('select pg_sleep(30)').then(() => undefined, (err: { message: string }) => err);
    await waitFor('pg_sleep running', async () => {
      const d = new Client({ host: '127.0.0.1', port: pg!.port, user: 'admin', password: PASSWORD, database: 'postgres' });
      await d.connect();
      try {
        return (await d.query("select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'")).rows[0].n === 1;
      } finally {
        await d.end();
      }
    }, { timeoutMs: 20_000, intervalMs: 50 });
    const sock = connect({ host: '127.0.0.1', port: router!.ports.write! });
    sock.on('error', () => undefined);
    sock.end(Buffer.concat([encodeProxyV1({ address: '192.0.2.20', port: 41001 }, LB), encodeCancelRequest(processID, secretKey)]));
    const err = await sleeping;
    assert.match(err?.message ?? 'not cancelled', /canceling statement due to user request/);
  });

  /** Writes `bytes` (then ends the socket when `end`) and resolves when the router has closed the connection. */
  function closedAfter(bytes: Buffer | undefined, end: boolean, port = router!.ports.write!): Promise<Buffer> {
    return new Promise((resolve) => {
      const sock = connect({ host: '127.0.0.1', port });
      const got: Buffer[] = [];
      sock.on('data', (d) => got.push(d));
      sock.on('error', () => undefined);
      sock.once('close', () => resolve(Buffer.concat(got)));
      sock.once('connect', () => {
        if (end) sock.end(bytes ?? Buffer.alloc(0));
        else if (bytes) sock.write(bytes);
      });
    });
  }

  test('truncated, oversized and garbage headers, and an untrusted source: closed, counted, nothing reaches PostgreSQL', async () => {
    const before = await backendConnections();
    const startup = encodeStartup({ user: 'admin', database: 'postgres' });
    const cases: [string, string, () => Promise<Buffer>][] = [
      ['write', 'proxy_header_truncated', () => closedAfter(V2_SIGNATURE.subarray(0, 7), true)],
      ['write', 'proxy_header_truncated', () => closedAfter(Buffer.from('PROXY TCP4 192.0.2.'), false)],
      ['write', 'proxy_header_oversized', () => closedAfter(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff]), startup]), false)],
      ['write', 'proxy_header_malformed', () => closedAfter(startup, false)],
      ['write', 'proxy_header_malformed', () => closedAfter(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.1 10.0.0.1 99999 5000\r\n'), startup]), false)],
      ['untrusted', 'proxy_untrusted', () => closedAfter(undefined, false, router!.ports.untrusted!)],
      ['untrusted', 'proxy_untrusted', () => closedAfter(Buffer.concat([encodeProxyV1({ address: '192.0.2.30', port: 1 }, LB), startup]), false, router!.ports.untrusted!)],
    ];
    const expected = new Map<string, number>();
    for (const [listener, reason] of cases) expected.set(`${listener} ${reason}`, (expected.get(`${listener} ${reason}`) ?? (await refusedCount(listener, reason))) + 1);
    for (const [listener, reason, run] of cases) {
      const answer = await run();
      assert.equal(answer.length, 0, `${listener} ${reason}: the router answered ${answer.length} bytes`);
    }
    for (const [key, n] of expected) {
      const [listener, reason] = key.split(' ') as [string, string];
      await waitFor(`${key} counted`, async () => (await refusedCount(listener, reason)) === n, { timeoutMs: 10_000, intervalMs: 20 });
    }
    assert.equal(await backendConnections(), before, 'a refused connection reached PostgreSQL');
    assert.equal(byClient()['192.0.2.30'], undefined);
  });
});
