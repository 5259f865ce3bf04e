/**
 * Connection limits of the router's listeners, with fake backends: past `max_connections` (and
 * `max_connections_per_client`) a new connection gets SQLSTATE 53300 after its startup packet (after 'N' when it
 * asked for TLS), CancelRequests still pass, a freed slot is usable again; past `max_held` a connection that would
 * wait is refused at once with 57P03. Every refusal is counted by reason.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, type RunningRouter } from '../../../src/router/index';
import { silentLogger } from '../../../src/log/logger';
import { encodeCancelRequest, encodeSslRequest, encodeStartup } from '../../../src/router/wire';
import { AddressCounts } from '../../../src/router/limits';
import { waitFor } from '../../support/wait';
import { aListener, aRouterConfig } from './builders';
import { Conn, FakeAgents, FakeSource, apiUrl, startFakePg, viewOf, type FakePg } from './fakes';

const fastHealth = { intervalMs: 100, timeoutMs: 100, rise: 1, fall: 1, fastIntervalMs: 10, maxAgeMs: 1000, verifyTls: true };

describe('router connection limits', () => {
  let pg: FakePg;
  let router: RunningRouter;
  const conns: Conn[] = [];
  const open = async (listener: string): Promise<Conn> => {
    const c = await Conn.open(router.ports[listener]!);
    conns.push(c);
    return c;
  };
  const openCount = (listener: string): number => {
    const l = (router.status() as { listeners: Record<string, { connections: { active: number; pending: number } }> }).listeners[listener]!;
    return l.connections.active + l.connections.pending;
  };
  const refusals = async (listener: string, reason: string): Promise<number> => {
    const text = await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`).then((r) => r.text());
    const m = new RegExp(`pgha_router_connections_refused_total\\{listener="${listener}",reason="${reason}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  before(async () => {
    pg = await startFakePg('node1');
    const source = new FakeSource();
    const agents = new FakeAgents();
    agents.primary(apiUrl('node1'));
    source.set(viewOf('node1', [pg]));
    const config = aRouterConfig({
      listeners: [
        aListener('write', 'primary', { maxConnections: 2 }),
        aListener('perclient', 'primary', { maxConnections: 10, maxConnectionsPerClient: 1 }),
        // No replica exists: every connection to this listener is held.
        aListener('held', 'replica', { holdTimeoutMs: 10_000, maxHeld: 1 }),
      ],
      health: fastHealth,
      startup: { timeoutMs: 2000, maxPacketBytes: 10_000 },
      metrics: { host: '127.0.0.1', port: 0 },
    });
    router = await startRouter(config, { logger: silentLogger(), source, fetch: agents.fetch });
    await waitFor('leader confirmed', () => router.table().leader?.member === 'node1', { timeoutMs: 5000, intervalMs: 10 });
  });

  after(async () => {
    for (const c of conns) c.close();
    await router?.stop();
    await pg?.close();
  });

  test('max_connections: the next connection gets 53300, with or without an SSLRequest; a freed slot is reused', async () => {
    const a = await open('write');
    const b = await open('write');
    await a.startup();
    await b.startup();
    const c = await open('write');
    c.sock.write(encodeStartup({ user: 'u' }));
    const err = await c.error();
    assert.equal(err.C, '53300');
    assert.equal(err.M, 'sorry, too many clients already');
    assert.match(err.D!, /listener "write" has max_connections \(2\)/);
    await c.waitClosed();
    const s = await open('write');
    s.sock.write(encodeSslRequest());
    await s.until("'N'", (buf) => buf.length >= 1);
    assert.equal(s.buf[0], 0x4e);
    s.buf = Buffer.alloc(0);
    s.sock.write(encodeStartup({ user: 'u' }));
    assert.equal((await s.error()).C, '53300');
    // A CancelRequest over the limit is still delivered (as PostgreSQL does).
    const key = a.key();
    const cancel = await open('write');
    cancel.sock.write(encodeCancelRequest(key.pid, key.secret));
    await waitFor('cancel delivered', () => pg.cancels.some((x) => x.pid === key.pid && x.secret === key.secret), { timeoutMs: 5000, intervalMs: 10 });
    assert.equal(await refusals('write', 'max_connections'), 2);
    a.close();
    await waitFor('a slot is free', () => openCount('write') < 2, { timeoutMs: 5000, intervalMs: 10 });
    const d = await open('write');
    assert.equal(await d.startup(), pg.pid);
    b.close();
    d.close();
  });

  test('max_connections_per_client: a second connection from the same address gets 53300', async () => {
    const a = await open('perclient');
    await a.startup();
    const b = await open('perclient');
    b.sock.write(encodeStartup({ user: 'u' }));
    const err = await b.error();
    assert.equal(err.C, '53300');
    assert.match(err.M!, /too many connections from client address (::ffff:)?127\.0\.0\.1/);
    assert.equal(await refusals('perclient', 'max_connections_per_client'), 1);
    a.close();
    await waitFor('the address is free', () => openCount('perclient') === 0, { timeoutMs: 5000, intervalMs: 10 });
    const c = await open('perclient');
    assert.equal(await c.startup(), pg.pid);
    c.close();
  });

  test('max_held: a connection that would wait beyond it is refused at once with 57P03', async () => {
    const waiting = await open('held');
    waiting.sock.write(encodeStartup({ user: 'u' }));
    await waitFor('one held', () => (router.status() as { listeners: { held: { connections: { held: number } } } }).listeners.held.connections.held === 1, { timeoutMs: 5000, intervalMs: 10 });
    const t0 = Date.now();
    const over = await open('held');
    over.sock.write(encodeStartup({ user: 'u' }));
    const err = await over.error();
    assert.equal(err.C, '57P03');
    assert.match(err.D!, /max_held \(1\)/);
    assert.ok(Date.now() - t0 < 5000, 'refused before hold_timeout');
    assert.equal(await refusals('held', 'max_held'), 1);
    waiting.close();
  });
});

describe('open connections per client address (/status byClient)', () => {
  test('the top addresses by count, bounded whatever the number of clients; a closed one is forgotten', () => {
    const counts = new AddressCounts();
    for (let i = 0; i < 150; i++) counts.add(`192.0.2.${i}`);
    counts.add('10.0.0.2');
    counts.add('10.0.0.2');
    counts.add('10.0.0.1');
    counts.add('10.0.0.1');
    counts.add('10.0.0.3');
    counts.remove('10.0.0.3');
    const top = counts.top(100);
    assert.equal(Object.keys(top).length, 100);
    assert.deepEqual(Object.entries(top).slice(0, 3), [['10.0.0.1', 2], ['10.0.0.2', 2], ['192.0.2.0', 1]]);
    assert.equal(counts.get('10.0.0.3'), 0);
  });
});
