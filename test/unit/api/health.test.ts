import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentStatus } from '../../../src/agent/status';
import { evaluateGenericHealth, evaluateHealth, maxLagBytes, pythonTagString } from '../../../src/api/health';
import { withPostgresCheckedNow } from '../../../src/agent/status-live';
import { aMember, aPrimaryStatus, aReplicaStatus, aStoppedStatus, aView, MB, NOW } from '../../support/builders';

function codeOf(status: AgentStatus, target: string, nowMs = NOW): number {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  return evaluateHealth(path, new URLSearchParams(q < 0 ? '' : target.slice(q + 1)), status, nowMs).code;
}

type Row = [target: string, code: number];

function table(name: string, status: AgentStatus, rows: Row[]): void {
  describe(name, () => {
    for (const [target, code] of rows) {
      test(`GET ${target} → ${code}`, () => assert.equal(codeOf(status, target), code));
    }
  });
}

table('a running primary holding its lock', aPrimaryStatus(), [
  ['/', 200], ['/primary', 200], ['/master', 200], ['/read-write', 200], ['/leader', 200],
  ['/standby-leader', 503], ['/standby_leader', 503], ['/replica', 503], ['/read-only', 200], ['/health', 200],
  ['/sync', 503], ['/synchronous', 503], ['/async', 503], ['/read-only-sync', 200], ['/read-only-quorum', 200],
  ['/quorum', 503], ['/anything-else', 503], ['/patroni-like', 503],
  ['/primary?tag_dc=west', 200], // tag filters are ignored on leader paths
  ['/primary?lag=1', 200],
]);

table('a primary whose own lock validity has passed (partitioned from etcd)', aPrimaryStatus({ leaderValidUntilMs: NOW - 1 }), [
  ['/primary', 503], ['/leader', 503], ['/read-only', 503], ['/replica', 503], ['/health', 200],
]);

table('a primary whose lock expires exactly now', aPrimaryStatus({ leaderValidUntilMs: NOW }), [['/primary', 503]]);

table('a streaming replica in sync with the published optime', aReplicaStatus(), [
  ['/', 503], ['/primary', 503], ['/leader', 503], ['/replica', 200], ['/read-only', 200], ['/health', 200],
  ['/async', 200], ['/asynchronous', 200], ['/sync', 503], ['/read-only-sync', 503],
  ['/replica?replication_state=streaming', 200], ['/replica?replication_state=in%20archive%20recovery', 503],
]);

table('a replica tagged noloadbalance', aReplicaStatus({ tags: { noloadbalance: true } }), [
  ['/replica', 503], ['/read-only', 503], ['/async', 503], ['/health', 200],
]);

table('a replica with noloadbalance: false', aReplicaStatus({ tags: { noloadbalance: false } }), [['/replica', 200]]);

describe('?lag= (reference §3.3: leader optime vs this replica\'s replay position)', () => {
  // The leader published 100 MB; this replica replayed 80 MB and received 99 MB (replay is what counts).
  const lagging = aReplicaStatus({
    view: aView({ leader: 'node1', optime: 100 * MB, members: [aMember('node1', { role: 'master' })] }),
    probe: { receiveLsn: 99 * MB, replayLsn: 80 * MB },
  });
  const rows: Row[] = [
    ['/replica', 200], ['/replica?lag=16MB', 503], ['/replica?lag=20MB', 200], ['/replica?lag=19MB', 503],
    ['/replica?lag=32MB', 200], ['/replica?lag=1048576', 503], ['/replica?lag=20971520', 200],
    ['/replica?lag=1GB', 200], ['/replica?lag=16384kB', 503],
    ['/replica?lag=garbage', 200], ['/replica?lag=16mb', 200], ['/replica?lag=', 200], // unparsable: no limit
    ['/read-only?lag=16MB', 503], ['/async?lag=16MB', 503], ['/health?lag=1', 200],
  ];
  for (const [target, code] of rows) test(`GET ${target} → ${code}`, () => assert.equal(codeOf(lagging, target), code));

  test('no published optime (0 or absent) never counts as lagging', () => {
    const unknown = aReplicaStatus({ view: aView({ leader: 'node1' }), probe: { replayLsn: 0 } });
    assert.equal(codeOf(unknown, '/replica?lag=0'), 200);
  });

  test('DCS unreadable (no cached view): no optime, so no lag check', () => {
    assert.equal(codeOf(aReplicaStatus({ view: undefined, probe: { replayLsn: 1 } }), '/replica?lag=0'), 200);
  });

  test('maxLagBytes parses bytes and kB/MB/GB/TB (powers of 1024)', () => {
    assert.equal(maxLagBytes(new URLSearchParams('lag=16MB')), 16 * MB);
    assert.equal(maxLagBytes(new URLSearchParams('lag=1048576')), MB);
    assert.equal(maxLagBytes(new URLSearchParams('lag=64kB')), 64 * 1024);
    assert.equal(maxLagBytes(new URLSearchParams('lag=1TB')), 1024 ** 4);
    assert.equal(maxLagBytes(new URLSearchParams('lag=-5')), Number.POSITIVE_INFINITY);
    assert.equal(maxLagBytes(new URLSearchParams('')), Number.POSITIVE_INFINITY);
  });
});

describe('tag filters (reference §3.4)', () => {
  const tagged = aReplicaStatus({
    tags: { dc: 'east', nofailover: true, weight: 1.5, custom_off: false, noloadbalance: false, rack: 7, list: ['a', 1] },
  });
  const rows: Row[] = [
    ['/replica?tag_dc=east', 200],
    ['/replica?tag_dc=west', 503],
    ['/replica?tag_zone=a', 503], // tag not configured
    ['/replica?tag_nofailover=true', 200], // YAML true → "true"
    ['/replica?tag_nofailover=True', 503],
    ['/replica?tag_weight=1.5', 200],
    ['/replica?tag_rack=7', 200],
    ['/replica?tag_custom_off=false', 200], // other tags keep their false value
    ['/replica?tag_noloadbalance=false', 503], // known boolean tags are not published when false
    ['/replica?tag_list=%5B%27a%27%2C%201%5D', 200], // str(['a', 1]).lower()
    ['/replica?tag_dc=', 200], // blank values are dropped, like Python's parse_qs
    ['/replica?tag_dc=east&tag_rack=7', 200],
    ['/replica?tag_dc=east&tag_rack=8', 503],
    ['/replica?tag_dc=east&lag=16MB', 200],
    ['/health?tag_dc=west', 503], // filters apply to every non-leader path that would answer 200
    ['/primary?tag_dc=west', 503], // (503 anyway: a replica)
  ];
  for (const [target, code] of rows) test(`GET ${target} → ${code}`, () => assert.equal(codeOf(tagged, target), code));

  test('filters never turn a 503 into a 200', () => {
    assert.equal(codeOf(aStoppedStatus({ tags: { dc: 'east' } }), '/replica?tag_dc=east'), 503);
  });

  test('pythonTagString mirrors str(v).lower()', () => {
    assert.equal(pythonTagString(true), 'true');
    assert.equal(pythonTagString(false), 'false');
    assert.equal(pythonTagString(1.4), '1.4');
    assert.equal(pythonTagString('East'), 'East');
    assert.equal(pythonTagString({ A: 'B' }), "{'a': 'b'}");
  });
});

describe('synchronous replication paths', () => {
  const view = aView({
    leader: 'node1', optime: 10, syncStandby: ['node2'],
    members: [aMember('node1', { role: 'master' }), aMember('node2'), aMember('node3')],
  });
  const syncOn = { synchronousMode: true };
  table('the sync standby', aReplicaStatus({ name: 'node2', view, dynamic: syncOn, probe: { replayLsn: 10 } }), [
    ['/sync', 200], ['/synchronous', 200], ['/async', 503], ['/read-only-sync', 200], ['/read-only-synchronous', 200],
    ['/replica', 200],
  ]);
  table('an async replica', aReplicaStatus({ name: 'node3', view, dynamic: syncOn, probe: { replayLsn: 10 } }), [
    ['/sync', 503], ['/async', 200], ['/read-only-sync', 503],
  ]);
  table('listed in the sync key but synchronous_mode is off', aReplicaStatus({ name: 'node2', view, probe: { replayLsn: 10 } }), [
    ['/sync', 503], ['/async', 200],
  ]);
  table('DCS unreadable: the sync family answers 503', aReplicaStatus({ name: 'node2', view: undefined, dynamic: syncOn }), [
    ['/sync', 503], ['/async', 503], ['/read-only-sync', 503], ['/replica', 200],
  ]);
});

describe('paused with the DCS unreadable: leader codes come from the postgres role alone', () => {
  table('a primary without a valid lock', aPrimaryStatus({ pause: true, view: undefined, leaderValidUntilMs: 0 }), [
    ['/primary', 200], ['/leader', 200], ['/standby-leader', 503], ['/read-only', 200],
  ]);
  table('a replica', aReplicaStatus({ pause: true, view: undefined }), [['/primary', 503], ['/leader', 503], ['/replica', 200]]);
  table('not paused: the lock decides', aPrimaryStatus({ view: undefined, leaderValidUntilMs: 0 }), [['/primary', 503]]);
});

describe('a standby cluster', () => {
  const view = aView({
    leader: 'node1', configValue: { standby_cluster: { host: '10.1.0.1', port: 5432 } },
    members: [aMember('node1', { role: 'standby_leader' })],
  });
  table('its standby leader', aReplicaStatus({ name: 'node1', role: 'standby_leader', view, leaderValidUntilMs: NOW + 1 }), [
    ['/standby-leader', 200], ['/standby_leader', 200], ['/leader', 200], ['/primary', 503], ['/replica', 503],
    ['/read-only', 200],
  ]);
});

table('postgres stopped', aStoppedStatus(), [
  ['/health', 503], ['/replica', 503], ['/primary', 503], ['/read-only', 503], ['/liveness', 200],
]);

table('postgres "running" but its status query failed (reported as unknown)', aReplicaStatus({ probe: { reachable: false } }), [
  ['/health', 503], ['/replica', 503],
]);

describe('/liveness (HA loop not stuck: next cycle + ttl on a running primary, + 2·ttl elsewhere)', () => {
  const ttlMs = 30_000;
  const rows: [string, AgentStatus, number][] = [
    ['primary, cycle overdue by less than ttl', aPrimaryStatus({ nextCycleDueMs: NOW - ttlMs + 1 }), 200],
    ['primary, cycle overdue by exactly ttl', aPrimaryStatus({ nextCycleDueMs: NOW - ttlMs }), 503],
    ['primary, cycle overdue by more than ttl', aPrimaryStatus({ nextCycleDueMs: NOW - ttlMs - 1 }), 503],
    ['replica, overdue by 1.5 ttl', aReplicaStatus({ nextCycleDueMs: NOW - 45_000 }), 200],
    ['replica, overdue by more than 2 ttl', aReplicaStatus({ nextCycleDueMs: NOW - 60_001 }), 503],
    ['stopped "master", overdue by 1.5 ttl (not a running primary)', aStoppedStatus({ role: 'master', nextCycleDueMs: NOW - 45_000 }), 200],
    ['paused, stuck for an hour', aReplicaStatus({ pause: true, nextCycleDueMs: NOW - 3_600_000 }), 200],
    ['ttl from the dynamic config', aReplicaStatus({ dynamic: { ttlSeconds: 5 }, nextCycleDueMs: NOW - 10_001 }), 503],
  ];
  for (const [name, status, code] of rows) test(`${name} → ${code}`, () => assert.equal(codeOf(status, '/liveness'), code));
  test('the first path segment picks the handler', () => {
    assert.equal(codeOf(aReplicaStatus({ nextCycleDueMs: 0 }), '/liveness/extra'), 503);
  });
});

describe('/readiness (3.x: the leader, or running while the DCS is readable)', () => {
  const rows: [string, AgentStatus, number][] = [
    ['leader', aPrimaryStatus(), 200],
    ['leader with DCS unreadable', aPrimaryStatus({ view: undefined }), 200],
    ['running replica', aReplicaStatus(), 200],
    ['running replica, DCS unreadable', aReplicaStatus({ view: undefined }), 503],
    ['stopped', aStoppedStatus(), 503],
    ['starting', aReplicaStatus({ state: 'starting' }), 503],
  ];
  for (const [name, status, code] of rows) test(`${name} → ${code}`, () => assert.equal(codeOf(status, '/readiness'), code));
});

describe('HEAD/OPTIONS run the generic handler for every path', () => {
  const generic = (status: AgentStatus, path: string): number =>
    evaluateGenericHealth(path, new URLSearchParams(), status, NOW).code;
  test('/liveness and /patroni have no generic meaning → 503', () => {
    assert.equal(generic(aPrimaryStatus(), '/liveness'), 503);
    assert.equal(generic(aPrimaryStatus(), '/readiness'), 503);
    assert.equal(generic(aPrimaryStatus(), '/patroni'), 503);
  });
  test('/ and /primary → 200 on the leader', () => {
    assert.equal(generic(aPrimaryStatus(), '/'), 200);
    assert.equal(generic(aPrimaryStatus(), '/primary'), 200);
  });
});

describe('a postmaster that died since the last tick (checked at answer time)', () => {
  // The issue: /replica answered 200 about 0.1 s after the replica's postmaster was killed (the snapshot said running).
  const dead = () => false;
  test('a replica answers 503 on /replica, /read-only and /health; its document says state unknown', () => {
    const status = withPostgresCheckedNow(aReplicaStatus(), dead);
    assert.equal(codeOf(aReplicaStatus(), '/replica'), 200, 'as the last tick saw it');
    assert.equal(codeOf(status, '/replica'), 503);
    assert.equal(codeOf(status, '/read-only'), 503);
    assert.equal(codeOf(status, '/health'), 503);
    assert.equal(status.state, 'unknown');
  });
  test('a leader keeps answering on leader paths (they follow the lock, as in Patroni), not on /health', () => {
    const status = withPostgresCheckedNow(aPrimaryStatus(), dead);
    assert.equal(codeOf(status, '/primary'), 200);
    assert.equal(codeOf(status, '/leader'), 200);
    assert.equal(codeOf(status, '/health'), 503);
  });
  test('a live postmaster, or a state other than running, is left as it is (no check made)', () => {
    const live = aReplicaStatus();
    assert.equal(withPostgresCheckedNow(live, () => true), live);
    const stopped = aStoppedStatus();
    assert.equal(withPostgresCheckedNow(stopped, () => assert.fail('not asked')), stopped);
  });
});
