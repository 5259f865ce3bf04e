/**
 * The router end to end in one process: real sockets on loopback, fake PostgreSQL servers, a view source and
 * agents driven by the test. Covers the connection lifecycle without external processes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, type RunningRouter } from '../../../src/router/index';
import { silentLogger } from '../../../src/log/logger';
import { encodeCancelRequest, encodeSslRequest, encodeStartup } from '../../../src/router/wire';
import { waitFor } from '../../support/wait';
import { aListener, aRouterConfig } from './builders';
import { Conn, FakeAgents, FakeSource, apiUrl, startFakePg, viewOf, type FakePg } from './fakes';
import type { RouterConfig } from '../../../src/router/types';

const fastHealth = { intervalMs: 100, timeoutMs: 100, rise: 1, fall: 1, fastIntervalMs: 10, maxAgeMs: 1000, verifyTls: true };

describe('router data path with fake backends', () => {
  let pgs: FakePg[];
  let source: FakeSource;
  let agents: FakeAgents;
  let router: RunningRouter;
  let config: RouterConfig;
  const conns: Conn[] = [];
  const open = async (listener: string): Promise<Conn> => {
    const c = await Conn.open(router.ports[listener]!);
    conns.push(c);
    return c;
  };

  before(async () => {
    pgs = [await startFakePg('node1'), await startFakePg('node2'), await startFakePg('node3')];
    source = new FakeSource();
    agents = new FakeAgents();
    agents.primary(apiUrl('node1'));
    agents.replica(apiUrl('node2'));
    agents.replica(apiUrl('node3'));
    source.set(viewOf('node1', pgs));
    config = aRouterConfig({
      listeners: [aListener('write', 'primary', { holdTimeoutMs: 1500 }), aListener('read', 'replica', { holdTimeoutMs: 1500, maxLagBytes: 1000 })],
      health: fastHealth,
      startup: { timeoutMs: 500, maxPacketBytes: 10_000 },
      lease: { defaultTtlMs: 30_000, marginMs: 1000 },
      metrics: { host: '127.0.0.1', port: 0 },
    });
    router = await startRouter(config, { logger: silentLogger(), source, fetch: agents.fetch });
    await waitFor('leader confirmed', () => router.table().leader?.member === 'node1', { timeoutMs: 5000, intervalMs: 10 });
    await waitFor('two replicas', () => router.table().pools.read!.backends.length === 2, { timeoutMs: 5000, intervalMs: 10 });
  });

  after(async () => {
    for (const c of conns) c.close();
    await router?.stop();
    for (const pg of pgs ?? []) await pg.close();
  });

  test('writes reach the leader; reads spread over both replicas', async () => {
    const w = await open('write');
    assert.equal(await w.startup(), pgs[0]!.pid);
    await w.echo('hello');
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const r = await open('read');
      seen.add(await r.startup());
    }
    assert.deepEqual([...seen].sort(), [pgs[1]!.pid, pgs[2]!.pid].sort());
  });

  test('a malformed first packet gets an ErrorResponse 08P01', async () => {
    const c = await open('write');
    const bad = Buffer.alloc(8);
    bad.writeInt32BE(3, 0);
    c.sock.write(bad);
    const err = await c.error();
    assert.equal(err.C, '08P01');
    await c.waitClosed();
  });

  test('an oversized startup packet is refused before it is read whole', async () => {
    const c = await open('write');
    const head = Buffer.alloc(8);
    head.writeInt32BE(1_000_000, 0);
    head.writeInt32BE(196608, 4);
    c.sock.write(head);
    const err = await c.error();
    assert.match(err.M!, /startup packet too long/);
  });

  test('a client that sends nothing is closed after startup_timeout', async () => {
    const c = await open('write');
    const t0 = Date.now();
    await c.waitClosed(5000);
    assert.ok(Date.now() - t0 >= 400, 'not before the timeout');
  });

  test('cancel by BackendKeyData reaches the backend holding the session', async () => {
    const r = await open('read');
    const pid = await r.startup();
    const { secret } = r.key();
    const target = pgs.find((p) => p.pid === pid)!;
    const before = target.cancels.length;
    const c = await open('read');
    c.sock.write(encodeCancelRequest(pid, secret));
    await waitFor('cancel delivered', () => target.cancels.length > before, { timeoutMs: 5000, intervalMs: 10 });
    assert.deepEqual(target.cancels.at(-1), { pid, secret });
    for (const other of pgs.filter((p) => p !== target)) assert.equal(other.cancels.some((x) => x.secret === secret && x.pid === pid), false);
  });

  test('leader change: open writes to the old leader are closed at once, new writes go to the new leader', async () => {
    const w = await open('write');
    assert.equal(await w.startup(), pgs[0]!.pid);
    const t0 = performance.now();
    agents.replica(apiUrl('node1'));
    agents.primary(apiUrl('node2'));
    source.set(viewOf('node2', pgs, {}, 200));
    await w.waitClosed(2000);
    const closedAfter = performance.now() - t0;
    const w2 = await open('write');
    assert.equal(await w2.startup(), pgs[1]!.pid);
    assert.ok(closedAfter < 1000, `closed after ${closedAfter} ms`);
    // Back to node1 for the other tests.
    agents.replica(apiUrl('node2'));
    agents.primary(apiUrl('node1'));
    source.set(viewOf('node1', pgs, {}, 300));
    await w2.waitClosed(2000);
    await waitFor('node1 again', () => router.table().leader?.member === 'node1', { timeoutMs: 5000, intervalMs: 10 });
  });

  test('leader change while a write connection waits for the old leader to answer: routed to the new leader, not closed', async () => {
    const hung = await startFakePg('node4', { silent: true });
    try {
      agents.replica(apiUrl('node1'));
      agents.primary(apiUrl('node4'));
      source.set(viewOf('node4', [...pgs, hung], {}, 310));
      await waitFor('node4 leads', () => router.table().leader?.member === 'node4', { timeoutMs: 5000, intervalMs: 10 });
      const w = await open('write');
      w.sock.write(encodeStartup({ user: 'u' }));
      await waitFor('the startup packet reached node4', () => hung.received > 0, { timeoutMs: 5000, intervalMs: 10 });
      agents.replica(apiUrl('node4'));
      agents.primary(apiUrl('node1'));
      source.set(viewOf('node1', [...pgs, hung], {}, 320));
      await w.until('ReadyForQuery', (b) => b.includes(Buffer.from([0x5a, 0, 0, 0, 5])));
      assert.equal(w.key().pid, pgs[0]!.pid);
      w.close();
    } finally {
      source.set(viewOf('node1', pgs, {}, 330));
      await hung.close();
    }
  });

  test('no leader: a new write connection waits and goes through when the leader appears', async () => {
    source.set(viewOf(undefined, pgs, {}, 400));
    await waitFor('no leader', () => router.table().leader === undefined, { timeoutMs: 2000, intervalMs: 10 });
    const w = await open('write');
    w.sock.write(encodeStartup({ user: 'u' }));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(w.buf.length, 0, 'held: nothing answered yet');
    source.set(viewOf('node1', pgs, {}, 500));
    await w.until('ReadyForQuery', (b) => b.includes(Buffer.from([0x5a, 0, 0, 0, 5])));
    assert.equal(w.key().pid, pgs[0]!.pid);
  });

  test('no leader past hold_timeout: ErrorResponse 57P03 naming the reason', async () => {
    source.set(viewOf(undefined, pgs, {}, 600));
    await waitFor('no leader', () => router.table().leader === undefined, { timeoutMs: 2000, intervalMs: 10 });
    const w = await open('write');
    w.sock.write(encodeStartup({ user: 'u' }));
    const err = await w.error(5000);
    assert.equal(err.C, '57P03');
    assert.match(err.M!, /no writable primary available for listener "write": no leader key/);
    // With an SSLRequest first: 'N', then the error after the plain startup.
    const s = await open('write');
    s.sock.write(encodeSslRequest());
    await s.until("'N'", (b) => b.length >= 1, 5000);
    assert.equal(s.buf[0], 0x4e);
    s.buf = Buffer.alloc(0);
    s.sock.write(encodeStartup({ user: 'u' }));
    assert.equal((await s.error()).C, '57P03');
    source.set(viewOf('node1', pgs, {}, 700));
    await waitFor('node1 again', () => router.table().leader?.member === 'node1', { timeoutMs: 5000, intervalMs: 10 });
  });

  const withFailover = (leader: string, revision: number, failover: { leader?: string; member?: string }) => ({ ...viewOf(leader, pgs, {}, revision), failover: { ...failover, modRevision: revision } });
  const heldWrites = (): number => (router.status() as { listeners: { write: { connections: { held: number } } } }).listeners.write.connections.held;
  const metricsText = (): Promise<string> => fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`).then((r) => r.text());

  test('planned switchover: new writes wait, the open session stays; they land on the new leader', async () => {
    const open0 = await open('write');
    assert.equal(await open0.startup(), pgs[0]!.pid);
    source.set(withFailover('node1', 710, { leader: 'node1', member: 'node2' }));
    await waitFor('switchover pending', () => router.table().switchover?.holding, { timeoutMs: 2000, intervalMs: 5 });
    assert.match(router.table().writeReason, /switchover to node2 pending/);
    const w = await open('write');
    w.sock.write(encodeStartup({ user: 'u' }));
    await waitFor('held', () => heldWrites() === 1, { timeoutMs: 2000, intervalMs: 5 });
    await open0.echo('still-open');
    const status = router.status() as { writable: boolean; switchover: { to: string; holdingWrites: boolean } };
    assert.equal(status.writable, false);
    assert.deepEqual([status.switchover.to, status.switchover.holdingWrites], ['node2', true]);
    // The candidate takes the key (the failover key is cleared a moment later) and its agent confirms it.
    agents.replica(apiUrl('node1'));
    agents.primary(apiUrl('node2'));
    source.set(withFailover('node2', 720, { leader: 'node1', member: 'node2' }));
    await w.until('ReadyForQuery', (b) => b.includes(Buffer.from([0x5a, 0, 0, 0, 5])));
    assert.equal(w.key().pid, pgs[1]!.pid);
    await open0.waitClosed(2000);
    const m = await metricsText();
    assert.match(m, /pgha_router_switchover_held_connections_total\{listener="write"\} 1/);
    assert.match(m, /pgha_router_switchovers_total\{outcome="completed"\} 1/);
    agents.replica(apiUrl('node2'));
    agents.primary(apiUrl('node1'));
    source.set(viewOf('node1', pgs, {}, 730));
    await waitFor('node1 again', () => router.table().pools.write!.backends[0]?.member === 'node1', { timeoutMs: 5000, intervalMs: 10 });
  });

  test('planned switchover rolled back (key cleared, same leader): held writes land on the old leader', async () => {
    source.set(withFailover('node1', 740, { leader: 'node1', member: 'node3' }));
    await waitFor('switchover pending', () => router.table().switchover?.holding, { timeoutMs: 2000, intervalMs: 5 });
    const w = await open('write');
    w.sock.write(encodeStartup({ user: 'u' }));
    await waitFor('held', () => heldWrites() === 1, { timeoutMs: 2000, intervalMs: 5 });
    source.set(viewOf('node1', pgs, {}, 750));
    await w.until('ReadyForQuery', (b) => b.includes(Buffer.from([0x5a, 0, 0, 0, 5])));
    assert.equal(w.key().pid, pgs[0]!.pid);
    assert.match(await metricsText(), /pgha_router_switchovers_total\{outcome="rolled_back"\} 1/);
  });

  test('a stale failover key blocks writes for switchover_hold at most', async () => {
    await router.reload({ ...config, switchoverHoldMs: 400 });
    try {
      const t0 = performance.now();
      source.set(withFailover('node1', 760, { leader: 'node1', member: 'node2' }));
      await waitFor('switchover pending', () => router.table().switchover?.holding, { timeoutMs: 2000, intervalMs: 5 });
      const w = await open('write');
      w.sock.write(encodeStartup({ user: 'u' }));
      await w.until('ReadyForQuery', (b) => b.includes(Buffer.from([0x5a, 0, 0, 0, 5])), 3000);
      const waited = performance.now() - t0;
      assert.equal(w.key().pid, pgs[0]!.pid);
      assert.ok(waited >= 350, `released after ${waited} ms`);
      assert.match(router.table().writeReason, /pending for more than switchover_hold 0.4 s: writes go to node1 again/);
      assert.match(await metricsText(), /pgha_router_switchovers_total\{outcome="hold_expired"\} 1/);
    } finally {
      await router.reload(config);
      source.set(viewOf('node1', pgs, {}, 770));
    }
  });

  test('a lagging replica leaves the read pool and comes back', async () => {
    agents.primary(apiUrl('node1'), 10_000);
    agents.replica(apiUrl('node2'), 10_000);
    agents.replica(apiUrl('node3'), 1000);
    await waitFor('node3 out', () => router.table().pools.read!.backends.map((b) => b.member).join() === 'node2', { timeoutMs: 5000, intervalMs: 10 });
    for (let i = 0; i < 3; i++) {
      const r = await open('read');
      assert.equal(await r.startup(), pgs[1]!.pid);
    }
    agents.replica(apiUrl('node3'), 10_000);
    await waitFor('node3 back', () => router.table().pools.read!.backends.length === 2, { timeoutMs: 5000, intervalMs: 10 });
  });

  test('etcd unreachable past ttl - margin: writes refused, reads go on; back: writes resume', async () => {
    source.set({ ...viewOf('node1', pgs, {}, 800), config: { value: { ttl: 3 }, valid: true, modRevision: 1 } });
    await waitFor('leader', () => router.table().leader?.member === 'node1', { timeoutMs: 2000, intervalMs: 10 });
    const w = await open('write');
    await w.startup();
    source.frozen = true;
    const t0 = performance.now();
    // ttl 3 s - margin 1 s: writes stop 2 s after the last contact.
    await w.waitClosed(4000);
    const after = performance.now() - t0;
    assert.ok(after >= 1900 && after < 3000, `closed after ${after} ms`);
    assert.match(router.table().writeReason, /etcd not reached/);
    const r = await open('read');
    assert.ok([pgs[1]!.pid, pgs[2]!.pid].includes(await r.startup()));
    source.frozen = false;
    source.set({ ...viewOf('node1', pgs, {}, 900), config: { value: { ttl: 30 }, valid: true, modRevision: 2 } });
    await waitFor('writes resume', () => router.table().leader?.member === 'node1', { timeoutMs: 2000, intervalMs: 10 });
  });

  test('TLS sessions: the SSLRequest answer is relayed, the stream spliced, cancels broadcast', async () => {
    const sslPg = await startFakePg('tls1', { ssl: 'S' });
    agents.replica(apiUrl('tls1'), 10_000);
    source.set(viewOf('node1', [...pgs, sslPg], { node2: { noloadbalance: true }, node3: { noloadbalance: true } }, 1000));
    await waitFor('tls1 only', () => router.table().pools.read!.backends.map((b) => b.member).join() === 'tls1', { timeoutMs: 5000, intervalMs: 10 });
    try {
      const c = await open('read');
      c.sock.write(encodeSslRequest());
      await c.until("'S'", (b) => b.length >= 1);
      assert.equal(c.buf[0], 0x53);
      await c.echo('pretend-this-is-tls');
      const cancel = await open('read');
      cancel.sock.write(encodeCancelRequest(77, 88));
      await waitFor('broadcast cancel', () => sslPg.cancels.some((x) => x.pid === 77 && x.secret === 88), { timeoutMs: 5000, intervalMs: 10 });
      // The broadcast is counted once every target's connection has closed, a moment after the fake saw the request.
      const counted = /pgha_router_cancel_requests_total\{listener="read",outcome="broadcast"\} 1/;
      await waitFor('broadcast cancel counted', async () => counted.test(await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`).then((r) => r.text())), { timeoutMs: 5000, intervalMs: 10 });
      c.close();
    } finally {
      source.set(viewOf('node1', pgs, {}, 1100));
      await sslPg.close();
    }
  });

  test('/status explains every member and pool; /metrics and /health answer', async () => {
    const base = `http://127.0.0.1:${router.ports.metrics}`;
    await waitFor('two replicas', () => router.table().pools.read!.backends.length === 2, { timeoutMs: 5000, intervalMs: 10 });
    const status = (await fetch(`${base}/status`).then((r) => r.json())) as {
      leader: { member: string };
      members: { member: string; pools: Record<string, { in: boolean; reason: string }> }[];
      listeners: Record<string, { backends: unknown[] }>;
    };
    assert.equal(status.leader.member, 'node1');
    const node2 = status.members.find((m) => m.member === 'node2')!;
    assert.deepEqual(node2.pools.read, { in: true, reason: 'qualified replica' });
    assert.equal(node2.pools.write!.in, false);
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    for (const name of [
      'pgha_router_connections_opened_total{listener="write",backend="node1"}',
      'pgha_router_connections_closed_on_leader_change_total{listener="write"}',
      'pgha_router_connections_refused_total{listener="write",reason="hold_timeout"}',
      'pgha_router_member_qualified{member="node2",listener="read"} 1',
      'pgha_router_writable 1',
      'pgha_router_leader_changes_total',
      'pgha_router_etcd_watch_state{state="watching"} 1',
    ]) {
      assert.ok(metrics.includes(name), `missing ${name}`);
    }
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
  });
});
