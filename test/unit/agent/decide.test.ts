import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/decide';
import {
  aCluster, anObservation, dynamic, emptyDataDir, peer, runningPrimary, runningReplica, stoppedNode, SYSID,
} from '../../support/agent-builders';

const healthyCluster = () =>
  aCluster().initialized().leader('ty-db1').optime(50_000_000)
    .member('ty-db1', 5432, { role: 'master' }).member('ty-db2', 5433).member('ty-db3', 5434);

describe('decide: bootstrap', () => {
  it('bootstraps when no initialize key exists and the data directory is empty', () => {
    const d = decide(anObservation({ view: aCluster().build(), postgres: emptyDataDir() }), {});
    assert.deepEqual(d.actions, [{ type: 'bootstrap' }]);
    assert.equal(d.reason, 'bootstrapping a new cluster: no initialize key in DCS');
  });

  it('never bootstraps when tagged nofailover', () => {
    const d = decide(anObservation({ view: aCluster().build(), postgres: emptyDataDir(), tags: { nofailover: true } }), {});
    assert.deepEqual(d.actions, []);
    assert.match(d.reason, /nofailover/);
  });

  it('waits while another node bootstraps (initialize is empty, no leader yet)', () => {
    const d = decide(anObservation({ view: aCluster().raw('initialize', '').build(), postgres: emptyDataDir() }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'waiting for a leader to bootstrap or to clone from');
  });

  it('clones from the running leader', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: healthyCluster().build(), postgres: emptyDataDir() }), {});
    assert.deepEqual(d.actions, [{ type: 'create_replica', source: 'ty-db1' }]);
    assert.equal(d.reason, 'creating replica from ty-db1');
  });

  it('prefers a running member tagged clonefrom', () => {
    const view = healthyCluster().member('ty-db3', 5434, { tags: { clonefrom: true } }).build();
    const d = decide(anObservation({ name: 'ty-db2', view, postgres: emptyDataDir() }), {});
    assert.deepEqual(d.actions, [{ type: 'create_replica', source: 'ty-db3' }]);
  });

  it('exits with a CRITICAL message when the data directory belongs to another cluster', () => {
    const view = healthyCluster().initialized('6857789093999868370').build();
    const d = decide(anObservation({ name: 'ty-db2', view, postgres: runningReplica() }), {});
    assert.equal(d.actions[0]?.type, 'exit');
    assert.match(d.reason, new RegExp(`system ID mismatch, node ty-db2 belongs to a different cluster: 6857789093999868370 != ${SYSID}`));
  });

  it('publishes its system identifier when joining with data but no initialize key', () => {
    const d = decide(anObservation({ view: aCluster().build(), postgres: runningPrimary() }), {});
    assert.deepEqual(d.actions, [{ type: 'write_initialize', systemId: SYSID }]);
  });
});

describe('decide: as leader', () => {
  it('keeps the lock and publishes status while the lock is valid', () => {
    const d = decide(anObservation({ view: healthyCluster().build(), postgres: runningPrimary(), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions, [{ type: 'publish_status' }]);
    assert.equal(d.reason, 'no action. I am (ty-db1), the leader with the lock');
  });

  it('self-fences: demotes when its own lock validity has passed, whatever etcd still shows', () => {
    const d = decide(anObservation({ view: healthyCluster().build(), postgres: runningPrimary(), lockValidForMs: -1 }), {});
    assert.deepEqual(d.actions, [{ type: 'demote', mode: 'offline' }]);
    assert.equal(d.reason, 'demoting self because my leader lock could not be renewed in time');
  });

  it('demotes when etcd cannot be read and it runs as primary', () => {
    const d = decide(anObservation({ dcsError: 'deadline exceeded', postgres: runningPrimary(), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions, [{ type: 'demote', mode: 'offline' }]);
    assert.match(d.reason, /^demoting self because DCS is not accessible and I was a leader/);
  });

  it('does not demote for an unreachable DCS in maintenance mode', () => {
    const d = decide(anObservation({ dcsError: 'down', postgres: runningPrimary(), dynamic: dynamic({ pause: true }) }), {});
    assert.deepEqual(d.actions, []);
    assert.match(d.reason, /^PAUSE:/);
  });

  it('restarts a crashed primary while it holds the lock', () => {
    const d = decide(anObservation({ view: healthyCluster().build(), postgres: stoppedNode(false), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions, [{ type: 'start_primary' }]);
    assert.equal(d.reason, 'starting primary after failure');
  });

  it('gives the lock up when starting its primary failed (Patroni: a replica takes over)', () => {
    const obs = anObservation({ view: healthyCluster().build(), postgres: stoppedNode(false), lockValidForMs: 10_000 });
    const d = decide({ ...obs, finishedTask: { kind: 'start', ok: false, error: 'postgres: exited with code 1 while starting', finishedMs: obs.nowMs } }, {});
    assert.deepEqual(d.actions, [{ type: 'release_leader' }]);
    assert.equal(d.reason, 'removed leader key after trying and failing to start postgres');
  });

  it('repairs a missing config key', () => {
    const view = aCluster().raw('initialize', SYSID).leader('ty-db1').member('ty-db1', 5432).build();
    const d = decide(anObservation({ view, postgres: runningPrimary(), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions, [{ type: 'publish_status' }, { type: 'write_config' }]);
  });
});

describe('decide: as replica', () => {
  it('follows the leader when already pointed at it', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: healthyCluster().build(), postgres: runningReplica() }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'no action. I am (ty-db2), a secondary, and following a leader (ty-db1)');
  });

  it('repoints primary_conninfo at a new leader without a new basebackup', () => {
    const view = healthyCluster().leader('ty-db3').build();
    const d = decide(anObservation({ name: 'ty-db2', view, postgres: runningReplica() }), {});
    assert.deepEqual(d.actions, [{ type: 'follow', leader: 'ty-db3' }]);
  });

  it('demotes a running primary that does not hold the lock', () => {
    const view = healthyCluster().leader('ty-db3').build();
    const d = decide(anObservation({ name: 'ty-db1', view, postgres: runningPrimary() }), {});
    assert.deepEqual(d.actions, [{ type: 'demote', mode: 'immediate-nolock', leader: 'ty-db3' }]);
  });

  it('restarts a crashed replica as a secondary', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: healthyCluster().build(), postgres: stoppedNode() }), {});
    assert.deepEqual(d.actions, [{ type: 'start_replica', leader: 'ty-db1' }]);
  });
});

describe('decide: leader race', () => {
  const unlocked = () => healthyCluster().noLeader();

  it('races when it is the healthiest member', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [peer('ty-db3', { replicaLocation: 49_000_000 })] }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['acquire_leader', 'promote']);
    assert.equal(d.reason, 'promoted self to leader by acquiring session lock');
  });

  it('does not race while the old primary still answers', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [peer('ty-db1', { role: 'master', primaryLocation: 50_000_000 })] }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'not racing for leader: primary (ty-db1) is still alive');
  });

  it('lets a peer with more WAL win', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [peer('ty-db3', { replicaLocation: 60_000_000 })] }), {});
    assert.equal(d.reason, 'not racing for leader: ty-db3 has a higher WAL position (60000000 > 50000000)');
  });

  it('ignores unreachable and nofailover peers', () => {
    const peers = [peer('ty-db1', { reachable: false }), peer('ty-db3', { nofailover: true, replicaLocation: 90_000_000 })];
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['acquire_leader', 'promote']);
  });

  it('stays out when lagging more than maximum_lag_on_failover', () => {
    const view = unlocked().optime(60_000_000).build();
    const d = decide(anObservation({ name: 'ty-db2', view, peers: [] }), {});
    assert.equal(d.reason, 'not racing for leader: my wal position exceeds maximum replication lag (10000000 > 1048576 bytes)');
  });

  it('never races when tagged nofailover', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [], tags: { nofailover: true } }), {});
    assert.deepEqual(d.actions, []);
  });

  it('never races when tagged nofailover: 1 (Patroni reads the tag as bool(value))', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [], tags: { nofailover: 1 } }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'cluster has no leader; I am tagged nofailover, not racing');
  });

  it("never races when tagged nofailover: 'false', a quoted string: non-empty, so set, as in Patroni 3.0.2", () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [], tags: { nofailover: 'false' } }), {});
    assert.equal(d.reason, 'cluster has no leader; I am tagged nofailover, not racing');
  });

  it('races when nofailover is 0 or YAML false', () => {
    for (const nofailover of [0, false]) {
      const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [], tags: { nofailover } }), {});
      assert.deepEqual(d.actions.map((a) => a.type), ['acquire_leader', 'promote'], `nofailover: ${nofailover}`);
    }
  });

  it('loses to an equal peer with a higher failover_priority', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [peer('ty-db3', { failoverPriority: 5 })] }), {});
    assert.match(d.reason, /higher failover priority/);
  });

  it('takes the empty lock back as the running primary without asking peers', () => {
    const d = decide(anObservation({ name: 'ty-db1', view: unlocked().build(), postgres: runningPrimary() }), {});
    assert.deepEqual(d.actions, [{ type: 'acquire_leader' }]);
  });

  it('leaves the race to the candidate of a manual failover', () => {
    const view = unlocked().failover({ member: 'ty-db3' }).build();
    const d = decide(anObservation({ name: 'ty-db2', view, peers: [] }), {});
    assert.equal(d.reason, 'waiting for manual failover to ty-db3');
  });

  it('does not race in maintenance mode', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [], dynamic: dynamic({ pause: true }) }), {});
    assert.deepEqual(d.actions, []);
  });
});

describe('decide: long tasks', () => {
  it('only keeps the lock during a task', () => {
    const d = decide(anObservation({ view: healthyCluster().build(), postgres: runningPrimary(), lockValidForMs: 5_000, task: { kind: 'promote', startedMs: 0 } }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'updated leader lock during promote');
  });
});
