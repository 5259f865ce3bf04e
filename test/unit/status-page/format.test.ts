/** The status page's pure logic (src/status-page/format.ts), which the browser runs from the page's own source. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { barPercent, formatBytes, formatSeconds, fromAgentCluster, fromRouterStatus, lagScale } from '../../../src/status-page/format';
import { statusPage, wantsHtml } from '../../../src/status-page/page';
import { LeaderChanges } from '../../../src/router/leader-changes';

describe('status page formatting', () => {
  test('bytes and seconds', () => {
    assert.deepEqual([undefined, null, NaN, 0, 512, 1536, 16 * 1024 * 1024, 150 * 1024 ** 3, -2048].map((n) => formatBytes(n)),
      ['—', '—', '—', '0 B', '512 B', '1.5 KiB', '16.0 MiB', '150 GiB', '-2.0 KiB']);
    assert.deepEqual([undefined, 0, 0.25, 3.14, 42.4, 185, 7300].map((s) => formatSeconds(s)),
      ['—', '0 s', '0.25 s', '3.1 s', '42 s', '3 min 5 s', '2 h 1 min']);
  });

  test('bars: unknown and zero are empty, any lag shows, over the scale is full', () => {
    assert.deepEqual([undefined, 0, 1, 500, 1000, 5000].map((v) => barPercent(v, 1000)), [0, 0, 1, 50, 100, 100]);
    assert.equal(barPercent(5, 0), 100);
    assert.equal(lagScale([undefined, 4096, 1024], [99999], 1), 1024, 'the strictest limit');
    assert.equal(lagScale([null, undefined], [10, undefined, 300], 1), 300, 'no limit: the largest lag');
    assert.equal(lagScale([], [0, undefined], 1), 1);
  });

  test("the router's /status document", () => {
    const m = fromRouterStatus({
      scope: 'pg', generation: 7, writable: true, leaderKey: 'n1', writeReason: 'n1 holds the leader key',
      etcd: { watchState: 'watching', lastContactAgeSeconds: 0.5 },
      listeners: {
        write: { role: 'primary', port: 5000, maxLagBytes: null, backends: [{ member: 'n1' }], reason: 'ok', connections: { active: 3, pending: 0, held: 1, byBackend: { n1: 3 } } },
        read: { role: 'replica', port: 5001, maxLagBytes: 1000, maxLagSeconds: 10, backends: [{ member: 'n2' }], reason: '1 qualified replica(s)', connections: { active: 2, pending: 1, held: 0, byBackend: { n2: 2 } } },
      },
      members: [
        { member: 'n1', isLeaderKey: true, restRole: 'master', state: 'running', timeline: 3, up: true, pools: { write: { in: true, reason: 'ok' } } },
        { member: 'n2', isLeaderKey: false, restRole: 'replica', state: 'running', timeline: 3, up: true, lagBytes: 10, lagSeconds: 0, pools: { read: { in: true, reason: 'qualified replica' } } },
        { member: 'n3', isLeaderKey: false, keyRole: 'replica', up: false, pools: { read: { in: false, reason: 'agent of n3 is down' } } },
      ],
      leaderChanges: [
        { at: '2026-01-01T00:00:02.000Z', from: 'n0', to: 'n1', cause: 'switchover', leaderlessSeconds: 0.8, generation: 6 },
        { at: '2026-01-01T00:00:00.000Z', from: null, to: 'n0', cause: 'start', generation: 1 },
      ],
    });
    assert.equal(m.leader, 'n1');
    assert.equal(m.etcd, 'watching, last contact 0.50 s ago');
    assert.deepEqual(m.members.map((x) => [x.name, x.role, x.state, x.timeline, x.lagBytes, x.connections]),
      [['n1', 'leader', 'running', 3, undefined, 3], ['n2', 'replica', 'running', 3, 10, 2], ['n3', 'replica', 'agent down', undefined, undefined, 0]]);
    assert.deepEqual(m.members[2]!.pools, [{ listener: 'read', in: false, reason: 'agent of n3 is down' }]);
    assert.equal(m.lagBytesScale, 1000);
    assert.equal(m.lagSecondsScale, 10);
    assert.deepEqual(m.listeners.map((l) => [l.name, l.port, l.backends, l.active, l.held]), [['write', 5000, ['n1'], 3, 1], ['read', 5001, ['n2'], 2, 0]]);
    assert.deepEqual(m.leaderChanges.map((c) => [c.from, c.to, c.detail]), [
      ['n0', 'n1', 'planned switchover; no leader key for 0.80 s; generation 6'],
      [undefined, 'n0', 'seen at router start; generation 1'],
    ]);
  });

  test('a router with workers: one row per worker process, its sessions summed over listeners', () => {
    const m = fromRouterStatus({
      scope: 'pg',
      workers: [
        { index: 0, pid: 101, ready: true, restarts: 0, uptimeSeconds: 12.5, connections: { write: { active: 3, pending: 0, held: 0 }, read: { active: 1, pending: 0, held: 0 } } },
        { index: 1, pid: null, ready: false, restarts: 2, uptimeSeconds: 0, connections: {} },
      ],
    });
    assert.deepEqual(m.workers, [
      { index: 0, pid: 101, ready: true, restarts: 0, uptimeSeconds: 12.5, active: 4, perListener: 'write: 3, read: 1' },
      { index: 1, ready: false, restarts: 2, uptimeSeconds: 0, active: 0, perListener: '' },
    ]);
    assert.equal(fromRouterStatus({ scope: 'pg' }).workers, undefined, 'one process: no workers table');
  });

  test('a pooling router: SHOW POOLS rows, its clients by state, and who paused what', () => {
    const m = fromRouterStatus({
      scope: 'pg',
      pools: [{ listener: 'txn', user: 'app', database: 'shop', member: 'n1', cl_active: 2, cl_waiting: 3, sv_active: 2, sv_idle: 1, sv_used: 0, sv_tested: 0, sv_login: 1, maxwait: 0.75, paused: true, prepared: 4 }],
      clients: [{ listener: 'txn', user: 'app', database: 'shop', clients: 9, active: 2, idle: 4, waiting: 3, held: 0 }],
      paused: { '*': ['operator'], n1: ['drain', 'operator'] },
    });
    assert.deepEqual(m.pools, [{ listener: 'txn', user: 'app', database: 'shop', backend: 'n1', clActive: 2, clWaiting: 3, svActive: 2, svIdle: 1, svLogin: 1, maxwait: 0.75, prepared: 4, paused: true }]);
    assert.deepEqual(m.clients, [{ listener: 'txn', user: 'app', database: 'shop', clients: 9, active: 2, idle: 4, waiting: 3, held: 0 }]);
    assert.equal(m.paused, 'every member (operator); n1 (drain, operator)');
    const plain = fromRouterStatus({ scope: 'pg', pools: [], clients: [], paused: {} });
    assert.equal(plain.pools, undefined, 'no pooled listener: no pool tables');
  });

  test('the functions the page embeds run on their own, as in the browser (workers and pools included)', () => {
    const html = statusPage('router');
    const script = html.slice(html.indexOf('<script>') + '<script>'.length, html.indexOf('</script>'));
    const functions = script.slice(0, script.indexOf("'use strict';"));
    const doc = {
      scope: 'pg',
      workers: [{ index: 0, pid: 1, ready: true, restarts: 0, uptimeSeconds: 1, connections: { txn: { active: 1, pending: 0, held: 0 } } }],
      pools: [{ listener: 'txn', user: 'u', database: 'd', member: 'n1', cl_active: 1 }],
      clients: [{ listener: 'txn', user: 'u', database: 'd', clients: 1, active: 1 }],
    };
    const run = new Function('doc', `${functions}\nreturn fromRouterStatus(doc);`) as (d: unknown) => { workers?: unknown[]; pools?: unknown[] };
    const m = run(doc);
    assert.equal(m.workers?.length, 1);
    assert.equal(m.pools?.length, 1);
  });

  test("garbage reads as unknown, not as an exception", () => {
    for (const doc of [null, 42, 'x', [], { members: [null, 1], listeners: { a: null } }]) {
      const m = fromRouterStatus(doc);
      assert.equal(m.source, 'router');
      assert.equal(m.leader, undefined);
    }
    assert.equal(fromAgentCluster(null, 'nope').members.length, 0);
  });

  test("an agent's /cluster and /history", () => {
    const m = fromAgentCluster(
      { scope: 'pg', members: [
        { name: 'a', role: 'leader', state: 'running', timeline: 3 },
        { name: 'b', role: 'replica', state: 'streaming', timeline: 3, lag: 2048 },
        { name: 'c', role: 'replica', state: 'starting', lag: 'unknown' },
      ] },
      [[1, 100, 'no recovery target specified', '2026-01-01T00:00:00Z', 'b'], [2, 200, 'switchover', '2026-01-01T00:01:00Z', 'a']],
    );
    assert.equal(m.leader, 'a');
    assert.deepEqual(m.members.map((x) => [x.name, x.role, x.timeline, x.lagBytes]), [['a', 'leader', 3, undefined], ['b', 'replica', 3, 2048], ['c', 'replica', undefined, undefined]]);
    assert.equal(m.lagBytesScale, 2048);
    assert.deepEqual(m.leaderChanges, [
      { at: '2026-01-01T00:01:00Z', from: 'b', to: 'a', detail: 'timeline 2 → 3: switchover' },
      { at: '2026-01-01T00:00:00Z', to: 'b', detail: 'timeline 1 → 2: no recovery target specified' },
    ]);
  });

  test('the page embeds that code, and its script parses', () => {
    for (const source of ['router', 'agent'] as const) {
      const html = statusPage(source);
      const script = html.slice(html.indexOf('<script>') + '<script>'.length, html.indexOf('</script>'));
      assert.doesNotThrow(() => new Function(script), `${source} page script`);
      assert.match(script, /function fromRouterStatus\(/);
      assert.ok(Buffer.byteLength(html) < 20_000, `the page stays small (${Buffer.byteLength(html)} bytes)`);
    }
  });

  test('browsers get the page, health checkers do not', () => {
    assert.equal(wantsHtml('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), true);
    for (const a of [undefined, '*/*', 'application/json', 'text/plain, text/*, */*', '']) assert.equal(wantsHtml(a), false, String(a));
  });
});

describe("the router's leader changes", () => {
  test('start, a switchover through no leader key (one entry), a failover, and the ring bound', () => {
    const lc = new LeaderChanges(3);
    const t = (leaderKey: string | undefined, generation = 1) => ({ ...(leaderKey ? { leaderKey } : {}), generation });
    lc.record(t('a'), {}, 1000);
    lc.record(t('a'), t('a'), 1500);
    const pending = { leaderKey: 'a', switchover: { revision: 9, leader: 'a', candidate: 'b', sinceMs: 0, holding: true } };
    lc.record(t(undefined, 2), pending, 2000);
    lc.record(t('b', 3), t(undefined), 2800);
    assert.deepEqual(lc.list(), [
      { atMs: 2800, from: 'a', to: 'b', cause: 'switchover', leaderlessMs: 800, generation: 3 },
      { atMs: 1000, to: 'a', cause: 'start', generation: 1 },
    ]);
    lc.record(t('c', 4), t('b'), 5000);
    lc.record(t(undefined, 5), t('c'), 6000);
    assert.deepEqual(lc.list().map((c) => [c.from, c.to, c.cause]), [['c', undefined, 'change'], ['b', 'c', 'change'], ['a', 'b', 'switchover']]);
    lc.record(t('c', 6), t(undefined), 7000);
    assert.deepEqual(lc.list()[0], { atMs: 7000, to: 'c', cause: 'change', generation: 6 }, 'the same member retaking its key is its own entry');
  });

  test('a switchover stays known through a table that briefly shows no request; a rolled back one is forgotten', () => {
    const lc = new LeaderChanges();
    const sw = { revision: 9, leader: 'a', candidate: 'b', sinceMs: 0, holding: true };
    const confirmedA = { leaderKey: 'a', leader: { member: 'a', host: 'h', port: 1, weight: 1 }, generation: 2 };
    lc.record({ leaderKey: 'a', generation: 1 }, {}, 1000);
    lc.record({ ...confirmedA, switchover: sw }, confirmedA, 1100);
    lc.record({ leaderKey: 'a', generation: 3 }, { ...confirmedA, switchover: sw }, 1200); // a demoting: unconfirmed, no request shown
    lc.record({ leaderKey: 'b', generation: 4 }, { leaderKey: 'a' }, 1300);
    assert.equal(lc.list()[0]!.cause, 'switchover');
    const confirmedB = { leaderKey: 'b', leader: { member: 'b', host: 'h', port: 2, weight: 1 }, generation: 5 };
    const swB = { ...sw, leader: 'b', candidate: 'a' };
    lc.record({ ...confirmedB, switchover: swB }, confirmedB, 1400);
    lc.record(confirmedB, { ...confirmedB, switchover: swB }, 1500); // rolled back: b confirmed, no request
    lc.record({ leaderKey: 'a', generation: 6 }, confirmedB, 1600);
    assert.equal(lc.list()[0]!.cause, 'change', 'a later failover is not the rolled back switchover');
  });
});
