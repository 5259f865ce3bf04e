import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { deriveRoutingTable, sameRouting } from '../../../src/router/routing';
import type { MemberHealth, MemberLag, RoutingTable } from '../../../src/router/types';
import { aMember, aView } from '../../support/builders';
import { NOW, aDownAgent, aListener, aPrimaryAgent, aReplicaAgent, aRoutingConfig, anInput, lagOf } from './builders';

const WRITE = aListener('write', 'primary');
const READ = aListener('read', 'replica', { maxLagBytes: 1000, maxLagSeconds: 10 });
const config = aRoutingConfig([WRITE, READ]);

function threeNodes(o: { leader?: string; tags2?: Record<string, unknown>; tags3?: Record<string, unknown>; ttl?: number } = {}) {
  return aView({
    leader: o.leader ?? 'node1',
    members: [
      aMember('node1', { role: 'master', conn_url: 'postgres://127.0.0.1:5431/postgres' }),
      aMember('node2', { conn_url: 'postgres://127.0.0.1:5432/postgres', ...(o.tags2 ? { tags: o.tags2 } : {}) }),
      aMember('node3', { conn_url: 'postgres://127.0.0.1:5433/postgres', ...(o.tags3 ? { tags: o.tags3 } : {}) }),
    ],
    ...(o.ttl ? { configValue: { ttl: o.ttl } } : {}),
  });
}

function healthy(o: Record<string, MemberHealth> = {}): Map<string, MemberHealth> {
  return new Map(Object.entries({ node1: aPrimaryAgent(), node2: aReplicaAgent(), node3: aReplicaAgent(), ...o }));
}

function lags(o: Record<string, MemberLag> = {}): Map<string, MemberLag> {
  return new Map(Object.entries({ node2: lagOf(0, 0), node3: lagOf(0, 0), ...o }));
}

function derive(o: Parameters<typeof anInput>[1] = {}, view = threeNodes(), cfg = config): RoutingTable {
  return deriveRoutingTable(anInput(view, { health: healthy(), lag: lags(), ...o }), cfg);
}

const poolMembers = (t: RoutingTable, name: string): string[] => t.pools[name]!.backends.map((b) => b.member).sort();
const verdict = (t: RoutingTable, member: string, pool: string) => t.members.find((m) => m.member === member)!.pools[pool]!;

describe('writes fail closed', () => {
  test('the leader key holder whose agent confirms role master gets writes', () => {
    const t = derive();
    assert.equal(t.leader?.member, 'node1');
    assert.deepEqual([t.leader?.host, t.leader?.port], ['127.0.0.1', 5431]);
    assert.match(t.writeReason, /node1 holds the leader key and its agent confirms role master/);
    assert.deepEqual(poolMembers(t, 'write'), ['node1']);
  });

  test('Patroni 4 role name primary is accepted too', () => {
    const t = derive({ health: healthy({ node1: aPrimaryAgent({ role: 'primary' }) }) });
    assert.equal(t.leader?.member, 'node1');
  });

  test('no leader key: no write target (election in progress)', () => {
    const view = aView({ members: [...threeNodes().members.values()] });
    const t = derive({}, view);
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /no leader key/);
    assert.deepEqual(poolMembers(t, 'write'), []);
  });

  test('the leader key names a member whose agent reports replica: not confirmed', () => {
    const t = derive({ health: healthy({ node1: aReplicaAgent() }) });
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /leader node1 not confirmed: its agent reports role replica, not primary/);
  });

  test('the leader agent is down: not confirmed', () => {
    const t = derive({ health: healthy({ node1: aDownAgent() }) });
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /agent of node1 is down \(connect ECONNREFUSED\)/);
  });

  test('the leader agent answer is older than max_age: not confirmed', () => {
    const t = derive({ health: healthy({ node1: aPrimaryAgent({}, { okAtMs: NOW - 3001 }) }) });
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /last answered 3.0 s ago/);
  });

  test('a fresh answer sets the recompute time to when it goes stale', () => {
    const t = derive({ health: healthy({ node1: aPrimaryAgent({}, { okAtMs: NOW - 2000 }) }) });
    assert.equal(t.leader?.member, 'node1');
    assert.ok(t.nextChangeAtMs !== undefined && t.nextChangeAtMs <= NOW - 2000 + 3001);
  });

  test('the leader is not running: not confirmed', () => {
    const t = derive({ health: healthy({ node1: aPrimaryAgent({ state: 'stopping' }) }) });
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /state stopping/);
  });

  test('the leader key names a member without a member key', () => {
    const t = derive({}, threeNodes({ leader: 'ghost' }));
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /members\/ghost is missing/);
  });

  test('no view yet: nothing is routed', () => {
    const t = deriveRoutingTable(anInput(undefined), config);
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /no cluster view/);
    assert.deepEqual(poolMembers(t, 'read'), []);
  });

  test('etcd unreachable past ttl - margin: no writes, reads go on', () => {
    // ttl 30 s (default), margin 5 s: the bound is 25 s after the last contact.
    const ok = derive({ lastContactMs: NOW - 24_999 });
    assert.equal(ok.leader?.member, 'node1');
    assert.equal(ok.writeValidUntilMs, NOW + 1);
    const t = derive({ lastContactMs: NOW - 25_000 });
    assert.equal(t.leader, undefined);
    assert.match(t.writeReason, /etcd not reached for 25.0 s \(limit: ttl 30.0 s - margin 5.0 s\)/);
    assert.deepEqual(poolMembers(t, 'read'), ['node2', 'node3']);
  });

  test('the ttl comes from the cluster config key', () => {
    // ttl 10 s: the 5 s margin is cut to a quarter of the ttl (2.5 s), so the bound is 7.5 s.
    assert.equal(derive({ lastContactMs: NOW - 8000 }, threeNodes({ ttl: 10 })).leader, undefined);
    assert.equal(derive({ lastContactMs: NOW - 7000 }, threeNodes({ ttl: 10 })).leader?.member, 'node1');
    assert.equal(derive({ lastContactMs: NOW - 4000 }, threeNodes({ ttl: 10 })).ttlMs, 10_000);
    // ttl 30 s keeps the configured 5 s margin: 25 s.
    assert.equal(derive({ lastContactMs: NOW - 26_000 }, threeNodes({ ttl: 30 })).leader, undefined);
    assert.equal(derive({ lastContactMs: NOW - 24_000 }, threeNodes({ ttl: 30 })).leader?.member, 'node1');
  });

  test('a short ttl keeps a margin of at least 1 s', () => {
    // ttl 3 s: a quarter is 0.75 s, raised to 1 s: bound 2 s.
    assert.equal(derive({ lastContactMs: NOW - 2100 }, threeNodes({ ttl: 3 })).leader, undefined);
    assert.equal(derive({ lastContactMs: NOW - 1900 }, threeNodes({ ttl: 3 })).leader?.member, 'node1');
  });
});

describe('reads stay accurate', () => {
  test('streaming replicas within the limits are in the read pool', () => {
    const t = derive();
    assert.deepEqual(poolMembers(t, 'read'), ['node2', 'node3']);
    assert.equal(verdict(t, 'node2', 'read').reason, 'qualified replica');
    assert.equal(verdict(t, 'node1', 'read').in, false);
  });

  test('noloadbalance replicas are out, unless the listener includes them', () => {
    const view = threeNodes({ tags3: { noloadbalance: true } });
    assert.deepEqual(poolMembers(derive({}, view), 'read'), ['node2']);
    assert.equal(verdict(derive({}, view), 'node3', 'read').reason, 'tagged noloadbalance');
    const incl = aRoutingConfig([WRITE, { ...READ, includeNoloadbalance: true }]);
    assert.deepEqual(poolMembers(derive({}, view, incl), 'read'), ['node2', 'node3']);
  });

  test('noloadbalance is read as Patroni does, bool(value): 1 and any non-empty string (even "false") are set', () => {
    for (const noloadbalance of [1, 'false', 'yes', true]) {
      const view = threeNodes({ tags3: { noloadbalance } });
      assert.equal(verdict(derive({}, view), 'node3', 'read').reason, 'tagged noloadbalance', `noloadbalance: ${JSON.stringify(noloadbalance)}`);
    }
  });

  test('noloadbalance 0, false or an empty string leaves a replica in the read pool', () => {
    for (const noloadbalance of [0, false, '']) {
      const view = threeNodes({ tags3: { noloadbalance } });
      assert.deepEqual(poolMembers(derive({}, view), 'read'), ['node2', 'node3'], `noloadbalance: ${JSON.stringify(noloadbalance)}`);
    }
  });

  test('tags reported by the agent count too', () => {
    const t = derive({ health: healthy({ node2: aReplicaAgent({ tags: { noloadbalance: true } }) }) });
    assert.deepEqual(poolMembers(t, 'read'), ['node3']);
  });

  test('tag filters compare Patroni-style strings', () => {
    const east = aRoutingConfig([WRITE, { ...READ, tagFilters: { dc: 'east', ssd: 'true' } }]);
    const view = threeNodes({ tags2: { dc: 'east', ssd: true }, tags3: { dc: 'west', ssd: true } });
    const t = derive({}, view, east);
    assert.deepEqual(poolMembers(t, 'read'), ['node2']);
    assert.match(verdict(t, 'node3', 'read').reason, /tag dc=west \(listener wants east\)/);
  });

  test('weights come from the weight tag; weight 0 takes a member out', () => {
    const t = derive({}, threeNodes({ tags2: { weight: 3 }, tags3: { weight: '0' } }));
    assert.deepEqual(t.pools.read!.backends.map((b) => [b.member, b.weight]), [['node2', 3]]);
    assert.match(verdict(t, 'node3', 'read').reason, /weight tag weight is 0/);
  });

  test('a replica whose agent says primary without the leader key is out', () => {
    const t = derive({ health: healthy({ node3: aPrimaryAgent() }) });
    assert.deepEqual(poolMembers(t, 'read'), ['node2']);
    assert.match(verdict(t, 'node3', 'read').reason, /does not hold the leader key/);
  });

  test('replication_state other than streaming is out; absent (Patroni < 3.1) is accepted', () => {
    const t = derive({
      health: healthy({ node2: aReplicaAgent({ replicationState: 'in archive recovery' }), node3: aReplicaAgent({ replicationState: undefined }) }),
    });
    assert.deepEqual(poolMembers(t, 'read'), ['node3']);
  });

  test('a replica that is down or not running is out', () => {
    const t = derive({ health: healthy({ node2: aDownAgent(), node3: aReplicaAgent({ state: 'starting' }) }) });
    assert.deepEqual(poolMembers(t, 'read'), []);
    assert.match(t.pools.read!.reason, /no replica qualifies/);
  });

  test('lag over the byte limit is out; at the limit is in', () => {
    const t = derive({ lag: lags({ node2: lagOf(1001, 0), node3: lagOf(1000, 0) }) });
    assert.deepEqual(poolMembers(t, 'read'), ['node3']);
    assert.equal(verdict(t, 'node2', 'read').reason, 'lag 1001 bytes > max_lag 1000');
  });

  test('lag over the seconds limit is out', () => {
    const t = derive({ lag: lags({ node2: lagOf(10, 10.5) }) });
    assert.deepEqual(poolMembers(t, 'read'), ['node3']);
    assert.match(verdict(t, 'node2', 'read').reason, /lag 10.5 s > max_lag_seconds 10/);
  });

  test('unknown lag never qualifies', () => {
    const t = derive({ lag: lags({ node2: {}, node3: lagOf(undefined, undefined) }) });
    assert.deepEqual(poolMembers(t, 'read'), []);
    assert.match(verdict(t, 'node2', 'read').reason, /lag unknown/);
  });

  test('lag information older than max_age is unknown', () => {
    const t = derive({ lag: lags({ node2: lagOf(0, 0, { observedAtMs: NOW - 3500 }) }) });
    assert.deepEqual(poolMembers(t, 'read'), ['node3']);
    assert.match(verdict(t, 'node2', 'read').reason, /lag unknown \(position is 3.5 s old\)/);
  });

  test('a seconds figure that is only a lower bound does not qualify', () => {
    const t = derive({ lag: lags({ node2: lagOf(10, 2, { secondsLowerBound: true }) }) });
    assert.deepEqual(poolMembers(t, 'read'), ['node3']);
  });

  test('without lag limits, lag is not needed', () => {
    const noLimits = aRoutingConfig([WRITE, aListener('read', 'replica')]);
    const t = derive({ lag: new Map() }, threeNodes(), noLimits);
    assert.deepEqual(poolMembers(t, 'read'), ['node2', 'node3']);
  });
});

describe('roles and fallback', () => {
  const noReplicas = { health: healthy({ node2: aDownAgent(), node3: aDownAgent() }) };

  test('replica role without fallback: empty when no replica qualifies', () => {
    const t = derive(noReplicas);
    assert.deepEqual(poolMembers(t, 'read'), []);
    assert.equal(verdict(t, 'node1', 'read').reason, 'leader (fallback_to_leader is off)');
  });

  test('replica role with fallback: the confirmed leader when no replica qualifies', () => {
    const cfg = aRoutingConfig([WRITE, { ...READ, fallbackToLeader: true }]);
    const t = derive(noReplicas, threeNodes(), cfg);
    assert.deepEqual(poolMembers(t, 'read'), ['node1']);
    assert.equal(t.pools.read!.fallback, true);
    assert.deepEqual(poolMembers(derive({}, threeNodes(), cfg), 'read'), ['node2', 'node3']);
  });

  test('fallback never uses an unconfirmed leader', () => {
    const cfg = aRoutingConfig([WRITE, { ...READ, fallbackToLeader: true }]);
    const t = derive({ health: healthy({ node1: aReplicaAgent(), node2: aDownAgent(), node3: aDownAgent() }) }, threeNodes(), cfg);
    assert.deepEqual(poolMembers(t, 'read'), []);
  });

  test('read-only: replicas, else the leader', () => {
    const cfg = aRoutingConfig([WRITE, aListener('ro', 'read-only')]);
    assert.deepEqual(poolMembers(derive({}, threeNodes(), cfg), 'ro'), ['node2', 'node3']);
    assert.deepEqual(poolMembers(derive(noReplicas, threeNodes(), cfg), 'ro'), ['node1']);
  });

  test('any: replicas and the leader', () => {
    const cfg = aRoutingConfig([WRITE, aListener('any', 'any')]);
    assert.deepEqual(poolMembers(derive({}, threeNodes(), cfg), 'any'), ['node1', 'node2', 'node3']);
  });
});

describe('sameRouting', () => {
  test('equal tables route the same; a different leader or pool does not', () => {
    const a = derive();
    assert.equal(sameRouting(a, derive()), true);
    assert.equal(sameRouting(a, derive({ health: healthy({ node1: aReplicaAgent() }) })), false);
    assert.equal(sameRouting(a, derive({ lag: lags({ node2: lagOf(5000, 0) }) })), false);
    assert.equal(sameRouting(undefined, a), false);
  });
});
