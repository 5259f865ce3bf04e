/**
 * The router's side of a planned switchover, on the pure table computation: while the `failover` key names the
 * current leader (or no leader) and a candidate, new writes are held (empty write pool) though the leader stays
 * confirmed (its open sessions are not cut); the hold is capped by switchover_hold; a request that is stale,
 * done, or scheduled for later holds nothing.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { deriveRoutingTable, sameRouting } from '../../../src/router/routing';
import { parseClusterView, type FailoverRequest } from '../../../src/model/cluster';
import { clusterKeys } from '../../../src/model/keys';
import type { MemberHealth, RoutingTable } from '../../../src/router/types';
import { aMember, aView } from '../../support/builders';
import { NOW, aListener, aPrimaryAgent, aReplicaAgent, aRoutingConfig, anInput, lagOf } from './builders';

const WRITE = aListener('write', 'primary');
const READ = aListener('read', 'read-only', { maxLagBytes: 1000 });
const config = aRoutingConfig([WRITE, READ], { switchoverHoldMs: 30_000 });
/** Agent answers and etcd contact that stay good for 10 minutes, so the switchover's own time bounds come first. */
const longLived = aRoutingConfig([WRITE, READ], { switchoverHoldMs: 30_000, health: { maxAgeMs: 600_000 }, lease: { defaultTtlMs: 600_000, marginMs: 5000 } });
const WALL = Date.parse('2026-11-28T12:00:00Z');

function view(leader: string | undefined, failover?: Omit<FailoverRequest, 'modRevision'>, revision = 70) {
  return aView({
    ...(leader ? { leader } : {}),
    members: [
      aMember('node1', { conn_url: 'postgres://127.0.0.1:5431/postgres' }),
      aMember('node2', { conn_url: 'postgres://127.0.0.1:5432/postgres' }),
      aMember('node3', { conn_url: 'postgres://127.0.0.1:5433/postgres' }),
    ],
    ...(failover ? { failover: { ...failover, modRevision: revision } } : {}),
  });
}

function health(primary = 'node1', o: Record<string, MemberHealth> = {}): Map<string, MemberHealth> {
  const h = new Map<string, MemberHealth>();
  for (const n of ['node1', 'node2', 'node3']) h.set(n, n === primary ? aPrimaryAgent() : aReplicaAgent());
  for (const [k, v] of Object.entries(o)) h.set(k, v);
  return h;
}

function derive(v: ReturnType<typeof view>, o: Parameters<typeof anInput>[1] = {}, cfg = config): RoutingTable {
  const lag = new Map([['node2', lagOf(0, 0)], ['node3', lagOf(0, 0)]]);
  return deriveRoutingTable(anInput(v, { health: health(), lag, wallNowMs: WALL, ...o }), cfg);
}

const writePool = (t: RoutingTable): string[] => t.pools.write!.backends.map((b) => b.member);

describe('planned switchover: new writes are held, open ones are left alone', () => {
  test('a failover key naming the leader and a candidate holds new writes; the leader stays confirmed', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2' }));
    assert.equal(t.leader?.member, 'node1', 'still the confirmed leader: its open sessions are not closed by the router');
    assert.deepEqual(writePool(t), [], 'new writes are held');
    assert.deepEqual(t.switchover, { revision: 70, leader: 'node1', candidate: 'node2', sinceMs: NOW, holding: true });
    assert.match(t.writeReason, /^switchover to node2 pending: new writes are held for the new leader \(node1 is about to demote; pending 0.0 s, switchover_hold 30.0 s\)/);
    assert.equal(t.nextChangeAtMs !== undefined && t.nextChangeAtMs <= NOW + 30_000, true, 'recomputed when the hold bound passes');
    const v = t.members.find((m) => m.member === 'node1')!.pools.write!;
    assert.deepEqual(v, { in: false, reason: t.writeReason });
  });

  test('reads are not held: the read-only pool still falls back to the leader', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2' }), { health: health('node1', { node2: aReplicaAgent({ state: 'stopped' }), node3: aReplicaAgent({ state: 'stopped' }) }) });
    assert.deepEqual(t.pools.read!.backends.map((b) => b.member), ['node1']);
  });

  test('no leader field (a manual failover to a named member while the leader is healthy) holds too', () => {
    const t = derive(view('node1', { member: 'node3' }));
    assert.deepEqual(writePool(t), []);
    assert.equal(t.switchover?.candidate, 'node3');
    assert.equal(t.switchover?.leader, 'node1');
  });

  test('a switchover naming the leader without a candidate holds too', () => {
    const t = derive(view('node1', { leader: 'node1' }));
    assert.deepEqual(writePool(t), []);
    assert.equal(t.switchover?.candidate, undefined);
    assert.match(t.writeReason, /^switchover pending: new writes are held/);
  });

  test('the legacy "leader:candidate" string value is understood (parseClusterView)', () => {
    const keys = clusterKeys('/service/', 'pgcluster');
    const kv = (rel: string, value: string, rev = 5) => ({ key: `${keys.prefix}${rel}`, value, modRevision: rev, createRevision: 1, lease: '0' });
    const parsed = parseClusterView(keys, 9, [kv('leader', 'node1'), kv('failover', 'node1:node2', 8)]);
    assert.deepEqual(parsed.failover, { leader: 'node1', member: 'node2', modRevision: 8 });
    assert.equal(parseClusterView(keys, 9, [kv('failover', '{}')]).failover, undefined, 'a cleared key ({}) is no request');
    assert.equal(parseClusterView(keys, 9, [kv('failover', '')]).failover, undefined);
  });
});

describe('requests that hold nothing', () => {
  test('no failover key: writes go to the leader', () => {
    const t = derive(view('node1'));
    assert.deepEqual(writePool(t), ['node1']);
    assert.equal(t.switchover, undefined);
  });

  test('a request naming another leader is stale: ignored', () => {
    const t = derive(view('node1', { leader: 'node3', member: 'node2' }));
    assert.deepEqual(writePool(t), ['node1']);
    assert.equal(t.switchover, undefined);
  });

  test('done: the candidate holds the leader key and its agent confirms it, the key not yet cleared', () => {
    const t = derive(view('node2', { leader: 'node1', member: 'node2' }), { health: health('node2') });
    assert.deepEqual(writePool(t), ['node2']);
    assert.equal(t.switchover, undefined);
  });

  test('done, with no leader field: the candidate leads', () => {
    const t = derive(view('node2', { member: 'node2' }), { health: health('node2') });
    assert.deepEqual(writePool(t), ['node2']);
  });

  test('the new leader is not confirmed yet: nothing qualifies, and no switchover state (the leader is not confirmed)', () => {
    const t = derive(view('node2', { leader: 'node1', member: 'node2' }), { health: health('node1', { node2: aReplicaAgent() }) });
    assert.equal(t.leader, undefined);
    assert.deepEqual(writePool(t), []);
    assert.equal(t.switchover, undefined);
  });

  test('no leader key while a request is present: the reason says a switchover is in progress', () => {
    const t = derive(view(undefined, { leader: 'node1', member: 'node2' }));
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /^no leader key \(election in progress or cluster unlocked\); switchover to node2 in progress$/);
  });

  test('scheduled for later: writes go on, and the table is recomputed at the scheduled time', () => {
    const at = new Date(WALL + 60_000).toISOString();
    const t = derive(view('node1', { leader: 'node1', member: 'node2', scheduledAt: at }), {}, longLived);
    assert.deepEqual(writePool(t), ['node1']);
    assert.equal(t.switchover, undefined);
    assert.equal(t.nextChangeAtMs, NOW + 60_000);
    const due = derive(view('node1', { leader: 'node1', member: 'node2', scheduledAt: at }), { nowMs: NOW + 60_000, lastContactMs: NOW + 59_900, wallNowMs: WALL + 60_000, health: health('node1', { node1: aPrimaryAgent({}, { okAtMs: NOW + 60_000 }), node2: aReplicaAgent({}, { okAtMs: NOW + 60_000 }), node3: aReplicaAgent({}, { okAtMs: NOW + 60_000 }) }) });
    assert.deepEqual(writePool(due), [], 'held from the scheduled time');
    assert.equal(due.switchover?.sinceMs, NOW + 60_000);
  });

  test('scheduled time in the past: held now', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2', scheduledAt: new Date(WALL - 1000).toISOString() }));
    assert.deepEqual(writePool(t), []);
  });

  test('an unparsable scheduled_at holds nothing (no agent acts on it)', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2', scheduledAt: 'tomorrow' }));
    assert.deepEqual(writePool(t), ['node1']);
  });

  test('switchover_hold 0 turns the hold off', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2' }), {}, aRoutingConfig([WRITE, READ], { switchoverHoldMs: 0 }));
    assert.deepEqual(writePool(t), ['node1']);
    assert.equal(t.switchover?.holding, false);
  });
});

describe('the hold is bounded by switchover_hold', () => {
  test('the hold runs from when the request was first seen (carried in input.switchover)', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2' }), { switchover: { revision: 70, sinceMs: NOW - 10_000 } }, longLived);
    assert.deepEqual(writePool(t), []);
    assert.equal(t.switchover?.sinceMs, NOW - 10_000);
    assert.equal(t.nextChangeAtMs, NOW + 20_000);
    assert.match(t.writeReason, /pending 10.0 s, switchover_hold 30.0 s/);
  });

  test('past the bound, a stale request no longer blocks writes: the old leader gets them while it is confirmed', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2' }), { switchover: { revision: 70, sinceMs: NOW - 30_000 } });
    assert.deepEqual(writePool(t), ['node1']);
    assert.equal(t.switchover?.holding, false);
    assert.match(t.writeReason, /^switchover to node2 pending for more than switchover_hold 30.0 s: writes go to node1 again$/);
  });

  test('a new request (another revision) starts a new hold', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2' }, 90), { switchover: { revision: 70, sinceMs: NOW - 30_000 } });
    assert.deepEqual(writePool(t), []);
    assert.equal(t.switchover?.sinceMs, NOW);
  });

  test('holding and released tables route differently (a new generation, so held connections are re-offered)', () => {
    const held = derive(view('node1', { leader: 'node1', member: 'node2' }));
    const released = derive(view('node1'));
    assert.equal(sameRouting(held, released), false);
    assert.equal(sameRouting(released, derive(view('node1'))), true);
  });
});

describe('planned switchover, a router registered for drains', () => {
  const drainAware = aRoutingConfig([WRITE, READ], { switchoverHoldMs: 30_000, drainAware: true });
  const pghaLeader = (failover: Omit<FailoverRequest, 'modRevision'>) => {
    const v = view('node1', failover);
    const m = v.members.get('node1')!;
    return { ...v, members: new Map([...v.members, ['node1', { ...m, doc: { ...m.doc, pgha_version: '0.1.0' } }]]) };
  };

  test('a pgha leader will pause it by the drain key: the failover key alone holds nothing (the gap starts at the drain)', () => {
    const t = derive(pghaLeader({ leader: 'node1', member: 'node2' }), {}, drainAware);
    assert.deepEqual(writePool(t), ['node1'], 'writes go on until the leader acts and the drain pauses them');
    assert.equal(t.switchover, undefined);
    assert.equal(t.leader?.member, 'node1');
  });

  test('a Patroni leader drains nobody: new writes are held from the failover key on, as before', () => {
    const t = derive(view('node1', { leader: 'node1', member: 'node2' }), {}, drainAware);
    assert.deepEqual(writePool(t), []);
    assert.equal(t.switchover?.holding, true);
  });

  test('a router not registered for drains holds for a pgha leader too', () => {
    const t = derive(pghaLeader({ leader: 'node1', member: 'node2' }));
    assert.deepEqual(writePool(t), []);
  });
});
