/**
 * A worker's copy of the routing table (src/router/workers): tables cross processes on the host clock, and a worker
 * fails closed on its own at the write bound when no fresher table comes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expireWrites, shiftTable } from '../../../../src/router/workers/fence';
import { RemoteTopology } from '../../../../src/router/workers/remote-topology';
import { ManualClock } from '../../../support/manual-clock';
import type { Backend, RoutingTable } from '../../../../src/router/types';

const LEADER: Backend = { member: 'node1', host: '127.0.0.1', port: 5432, weight: 1 };
const REPLICA: Backend = { member: 'node2', host: '127.0.0.1', port: 5433, weight: 1 };

function aTable(o: Partial<RoutingTable> = {}): RoutingTable {
  return {
    generation: 7,
    computedAtMs: 1000,
    leader: LEADER,
    writeReason: 'node1 holds the leader key and its agent confirms it is primary',
    writeValidUntilMs: 26_000,
    ttlMs: 30_000,
    pools: {
      write: { listener: 'write', role: 'primary', backends: [LEADER], fallback: false, reason: 'leader' },
      read: { listener: 'read', role: 'replica', backends: [REPLICA], fallback: false, reason: '1 qualified replica(s)' },
      any: { listener: 'any', role: 'any', backends: [REPLICA, LEADER], fallback: false, reason: '1 qualified replica(s) and the leader' },
    },
    members: [],
    ...o,
  };
}


describe('a table crossing processes', () => {
  test('every monotonic time moves by the clock difference, nothing else changes', () => {
    const t = aTable({ nextChangeAtMs: 5000, switchover: { revision: 3, leader: 'node1', sinceMs: 900, holding: true } });
    const moved = shiftTable(t, 100_000);
    assert.equal(moved.computedAtMs, 101_000);
    assert.equal(moved.writeValidUntilMs, 126_000);
    assert.equal(moved.nextChangeAtMs, 105_000);
    assert.equal(moved.switchover?.sinceMs, 100_900);
    assert.deepEqual(shiftTable(moved, -100_000), t);
  });

  test('a table with no leader keeps its infinite bound', () => {
    const t = aTable({ writeValidUntilMs: Number.POSITIVE_INFINITY });
    delete (t as { leader?: Backend }).leader;
    assert.equal(shiftTable(t, -5).writeValidUntilMs, Number.POSITIVE_INFINITY);
  });
});

describe('the write bound passing in a worker', () => {
  test('before the bound the table stands as it is', () => {
    const t = aTable();
    assert.equal(expireWrites(t, 25_999), t);
  });

  test('at the bound the leader leaves every pool, replicas stay, and the reason says why', () => {
    const t = expireWrites(aTable(), 26_000);
    assert.equal(t.leader, undefined);
    assert.deepEqual(t.pools.write!.backends, []);
    assert.match(t.pools.write!.reason, /write bound passed/);
    assert.deepEqual(t.pools.read!.backends, [REPLICA]);
    assert.deepEqual(t.pools.any!.backends, [REPLICA]);
    assert.match(t.writeReason, /no fresher routing table/);
  });
});

describe('RemoteTopology: the control plane goes quiet', () => {
  function setup(hostMinusLocal = 50_000) {
    const clock = new ManualClock(1000);
    const seen: RoutingTable[] = [];
    const checks: string[] = [];
    const topo = new RemoteTopology({
      scheduler: clock,
      hostNow: () => clock.t + hostMinusLocal,
      initial: shiftTable(aTable(), hostMinusLocal),
      onTable: (t) => seen.push(t),
      checkNow: (m) => checks.push(m),
    });
    return { clock, seen, checks, topo, hostMinusLocal };
  }

  test('a table arrives on the host clock and is used on the local one', () => {
    const { topo } = setup();
    assert.equal(topo.table().writeValidUntilMs, 26_000);
    assert.equal(topo.table().leader?.member, 'node1');
  });

  test('no fresher table by the bound: the worker drops the leader itself, at the bound', () => {
    const { clock, seen, topo } = setup();
    clock.advance(24_999);
    assert.equal(seen.length, 0);
    clock.advance(1);
    assert.equal(seen.length, 1);
    assert.equal(topo.table().leader, undefined);
  });

  test('fresher tables keep moving the bound: the worker never drops the leader', () => {
    const { clock, seen, topo, hostMinusLocal } = setup();
    for (let i = 0; i < 10; i++) {
      clock.advance(10_000);
      topo.receive(shiftTable(aTable({ computedAtMs: clock.t, writeValidUntilMs: clock.t + 25_000 }), hostMinusLocal));
    }
    assert.ok(seen.every((t) => t.leader?.member === 'node1'));
    assert.equal(topo.table().leader?.member, 'node1');
  });

  test('a table that arrives after its own bound is used without its leader', () => {
    const { clock, topo, hostMinusLocal } = setup();
    clock.advance(30_000);
    topo.receive(shiftTable(aTable({ generation: 8 }), hostMinusLocal));
    assert.equal(topo.table().generation, 8);
    assert.equal(topo.table().leader, undefined);
  });

  test('the router asking for a recompute before the bound changes nothing', () => {
    const { clock, seen, topo } = setup();
    clock.advance(1000);
    topo.recompute();
    assert.equal(seen.length, 0);
    assert.equal(topo.table().leader?.member, 'node1');
  });

  test('a health check asked for by the router goes to the control plane', () => {
    const { checks, topo } = setup();
    topo.health.checkNow('node2');
    assert.deepEqual(checks, ['node2']);
  });
});

describe('where a cancel with a key this process never saw goes', () => {
  test('to every member postgres of the table once, and to the TLS sessions backends', async () => {
    const { cancelTargets } = await import('../../../../src/router/router');
    const t = aTable({
      members: [
        { member: 'node1', host: '127.0.0.1', port: 5432, up: true, isLeaderKey: true, pools: {} },
        { member: 'node2', host: '127.0.0.1', port: 5433, up: true, isLeaderKey: false, pools: {} },
        { member: 'node3', up: false, isLeaderKey: false, pools: {} },
      ],
    });
    const opaque = [{ backend: REPLICA }, { backend: { member: 'old', host: '127.0.0.9', port: 5432, weight: 1 } }];
    assert.deepEqual(cancelTargets(opaque, t).map((b) => `${b.member}@${b.host}:${b.port}`).sort(), ['node1@127.0.0.1:5432', 'node2@127.0.0.1:5433', 'old@127.0.0.9:5432']);
  });
});
