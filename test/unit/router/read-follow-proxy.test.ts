/**
 * Read sessions follow the role, end to end in one process (real sockets, fake PostgreSQL servers, a view source
 * and agents driven by the test): a replica promoted while read sessions are open on it.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, type RunningRouter } from '../../../src/router/index';
import { silentLogger } from '../../../src/log/logger';
import { waitFor } from '../../support/wait';
import { aListener, aRouterConfig } from './builders';
import { Conn, FakeAgents, FakeSource, apiUrl, startFakePg, viewOf, type FakePg } from './fakes';

const fastHealth = { intervalMs: 100, timeoutMs: 100, rise: 1, fall: 1, fastIntervalMs: 10, maxAgeMs: 1000, verifyTls: true };

describe('read sessions follow the role (fake backends)', () => {
  let pgs: FakePg[];
  let source: FakeSource;
  let agents: FakeAgents;
  let router: RunningRouter;
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
    const config = aRouterConfig({
      listeners: [aListener('write', 'primary', { holdTimeoutMs: 1500 }), aListener('read', 'replica', { holdTimeoutMs: 1500, maxLagBytes: 1000 })],
      health: fastHealth,
      lease: { defaultTtlMs: 30_000, marginMs: 1000 },
      metrics: { host: '127.0.0.1', port: 0 },
    });
    router = await startRouter(config, { logger: silentLogger(), source, fetch: agents.fetch });
    await waitFor('two replicas in the read pool', () => router.table().pools.read!.backends.length === 2 && router.table().leader?.member === 'node1', { timeoutMs: 5000, intervalMs: 10 });
  });

  after(async () => {
    for (const c of conns) c.close();
    await router?.stop();
    for (const pg of pgs ?? []) await pg.close();
  });

  test('a replica promoted: its read sessions are ended, the others stay, new reads go to a replica', async () => {
    const byPid = new Map<number, Conn>();
    while (byPid.size < 2) {
      const r = await open('read');
      byPid.set(await r.startup(), r);
    }
    const onNode2 = byPid.get(pgs[1]!.pid)!;
    const onNode3 = byPid.get(pgs[2]!.pid)!;
    const write = await open('write');
    assert.equal(await write.startup(), pgs[0]!.pid);

    agents.replica(apiUrl('node1'));
    agents.primary(apiUrl('node2'));
    source.set(viewOf('node2', pgs, {}, 200));
    await onNode2.waitClosed(2000);
    await write.waitClosed(2000);
    await onNode3.echo('still here');
    assert.equal(onNode3.closed, false);

    await waitFor('node1 qualifies as a replica', () => router.table().pools.read!.backends.some((b) => b.member === 'node1'), { timeoutMs: 5000, intervalMs: 10 });
    for (let i = 0; i < 3; i++) assert.notEqual(await (await open('read')).startup(), pgs[1]!.pid, 'a new read went to the new leader');
    const metrics = await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`).then((r) => r.text());
    assert.match(metrics, /pgha_router_read_sessions_ended_total\{listener="read",reason="promoted"\} 1\n/);
    assert.match(metrics, /pgha_router_connections_closed_total\{listener="read",backend="node2",reason="role_change"\} 1\n/);
  });
});
