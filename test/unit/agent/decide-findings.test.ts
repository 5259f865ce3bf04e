/**
 * The behaviour changes that fixed the simulator's findings A–C (test/support/sim/FINDINGS.md): a leader key on a
 * previous process's lease, the sync key claimed before a promotion, and a diverged replica rewound, not followed; and
 * the two-writers finding of seed 3141 (I): no primary is started on a view that stands in for an etcd outage.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/decide';
import { planOutage } from '../../../src/agent/plan-outage';
import { aCluster, anObservation, dynamic, LEASE, peer, runningPrimary, runningReplica, stoppedNode } from '../../support/agent-builders';

const cluster = () =>
  aCluster().initialized().leader('ty-db1').optime(50_000_000)
    .member('ty-db1', 5432, { role: 'master' }).member('ty-db2', 5433).member('ty-db3', 5434);
const NEW_LEASE = '9001';

describe('decide: a leader key on another lease (finding A)', () => {
  it('a restarted leader re-attaches its key to its new lease before promoting', () => {
    const d = decide(anObservation({ view: cluster().build(), postgres: runningReplica(), lockValidForMs: 10_000, leaseId: NEW_LEASE }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['reattach_leader', 'promote']);
    assert.equal(d.reason, `re-attaching my leader key to my current lease (it is on lease ${LEASE}); promoting self: I hold the leader lock but postgres is still in recovery`);
  });

  it('a running primary re-attaches first, then leads as usual', () => {
    const d = decide(anObservation({ view: cluster().build(), postgres: runningPrimary(), lockValidForMs: 10_000, leaseId: NEW_LEASE }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['reattach_leader', 'publish_status']);
  });

  it('starts postgres as primary only after the key is on its lease', () => {
    const d = decide(anObservation({ view: cluster().build(), postgres: stoppedNode(false), lockValidForMs: 10_000, leaseId: NEW_LEASE }), {});
    assert.deepEqual(d.actions, [{ type: 'reattach_leader' }, { type: 'start_primary' }]);
  });

  it('without a lease yet, it does not promote on a key that lives on the dead lease', () => {
    const d = decide(anObservation({ view: cluster().build(), postgres: runningReplica(), leaseId: null }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'my leader key is still in DCS but my lock is no longer valid; waiting for it to expire');
  });

  it('re-attaches during a long task too', () => {
    const d = decide(anObservation({ view: cluster().build(), postgres: runningPrimary(), lockValidForMs: 10_000, leaseId: NEW_LEASE, task: { kind: 'restart', startedMs: 0 } }), {});
    assert.deepEqual(d.actions, [{ type: 'reattach_leader' }]);
  });

  it('on its own lease nothing changes', () => {
    const d = decide(anObservation({ view: cluster().build(), postgres: runningPrimary(), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions, [{ type: 'publish_status' }]);
  });
});

describe('decide: synchronous mode claims the sync key before promoting (finding B)', () => {
  const unlocked = () => cluster().noLeader();
  const sync = JSON.stringify({ leader: 'ty-db1', sync_standby: 'ty-db2' });

  it('the sync standby takes the key, claims sync (CAS on its version), then promotes', () => {
    const view = unlocked().raw('sync', sync).build();
    const d = decide(anObservation({ name: 'ty-db2', view, dynamic: dynamic({ synchronousMode: true }), peers: [peer('ty-db3')] }), {});
    assert.deepEqual(d.actions, [
      { type: 'acquire_leader' },
      { type: 'claim_sync', guc: '', keyModRevision: view.sync!.modRevision },
      { type: 'promote', reason: 'leader key absent; I am the healthiest member' },
    ]);
  });

  it('strict mode sets synchronous_standby_names to * before promoting; an absent key is created', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), dynamic: dynamic({ synchronousMode: true, synchronousModeStrict: true }), peers: [peer('ty-db3')] }), {});
    assert.deepEqual(d.actions[1], { type: 'claim_sync', guc: '*' });
  });

  it('a leader still in recovery claims sync before its promotion', () => {
    const view = cluster().raw('sync', sync).build();
    const d = decide(anObservation({ view, dynamic: dynamic({ synchronousMode: true }), postgres: runningReplica(), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['claim_sync', 'promote']);
  });

  it('a lock won on a stale view (an agent frozen mid-race) is given back when the sync key names others', () => {
    // Simulator seed 6688: the sync key moved to another leader and no standby while this agent was stopped.
    const view = cluster().raw('sync', JSON.stringify({ leader: 'ty-db3', sync_standby: null })).build();
    const d = decide(anObservation({ view, dynamic: dynamic({ synchronousMode: true }), postgres: runningReplica(), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions, [{ type: 'release_leader' }]);
    assert.equal(d.reason, 'releasing the leader lock without promoting: I am not a synchronous standby (sync: none)');
  });

  it('asynchronous mode promotes without touching the sync key', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [peer('ty-db3')] }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['acquire_leader', 'promote']);
  });
});

describe('decide: a diverged replica is rewound, not followed (finding C)', () => {
  // ty-db1 leads on timeline 3; the cluster left timeline 2 at 40 MB.
  const history = [[1, 10_000_000, 'r', '2026-01-01T00:00:00Z', 'ty-db3'], [2, 40_000_000, 'r', '2026-01-01T00:01:00Z', 'ty-db1']];
  const view = () => cluster().member('ty-db1', 5432, { role: 'master', timeline: 3 }).history(history).build();
  const replica = (timeline: number, lsn: number, streaming = false, own?: Array<[number, number]>) => {
    const p = runningReplica(lsn, '127.0.0.1:5432');
    p.probe = { ...p.probe, timeline, replicationState: streaming ? 'streaming' : 'in archive recovery' };
    if (own) p.timelineHistory = own;
    return p;
  };
  const asReplica = (postgres: ReturnType<typeof replica>) => decide(anObservation({ name: 'ty-db2', view: view(), postgres }), {});

  it('a former primary whose WAL on timeline 2 went past the switch point is rewound from the leader', () => {
    const d = asReplica(replica(2, 45_000_000, false, [[1, 10_000_000]]));
    assert.deepEqual(d.actions, [{ type: 'rewind', leader: 'ty-db1' }]);
    assert.equal(d.reason, 'rewinding: my WAL on timeline 2 goes past the point where the cluster left it (45000000 > 40000000); ty-db1 cannot be followed as is');
  });

  it('a replica behind the switch point just follows (postgres crosses the timeline itself)', () => {
    const d = asReplica(replica(2, 39_000_000, false, [[1, 10_000_000]]));
    assert.equal(d.actions.length, 0);
  });

  it('a streaming replica is never rewound', () => {
    const d = asReplica(replica(2, 45_000_000, true));
    assert.equal(d.actions.length, 0);
  });

  it('a timeline the leader never had is rewound', () => {
    assert.deepEqual(asReplica(replica(4, 1, false)).actions, [{ type: 'rewind', leader: 'ty-db1' }]);
  });

  it('the same timeline number with another history (two promotions from one timeline) is rewound', () => {
    const d = asReplica(replica(3, 41_000_000, false, [[1, 10_000_000], [2, 38_000_000]]));
    assert.deepEqual(d.actions, [{ type: 'rewind', leader: 'ty-db1' }]);
    assert.match(d.reason, /my history left timeline 2 at 38000000, the leader's at 40000000/);
  });

  it('once a rewind onto this leader timeline completed, the same replica is not stopped again (Patroni checks once)', () => {
    const obs = anObservation({ name: 'ty-db2', view: view(), postgres: replica(2, 45_000_000, false, [[1, 10_000_000]]) });
    const first = decide(obs, {});
    assert.equal(first.memory.rewindingOnto, 'ty-db1@3');
    const finished = decide({ ...obs, finishedTask: { kind: 'rewind', ok: true, finishedMs: obs.nowMs } }, first.memory);
    assert.equal(finished.memory.rewoundOnto, 'ty-db1@3');
    assert.equal(finished.memory.rewindingOnto, undefined);
    assert.deepEqual(finished.actions, []);
    assert.equal(finished.reason, 'no action. I am (ty-db2), a secondary, and following a leader (ty-db1)');
  });

  it('a failed rewind is tried again, and a new leader timeline is checked again', () => {
    const obs = anObservation({ name: 'ty-db2', view: view(), postgres: replica(2, 45_000_000, false, [[1, 10_000_000]]) });
    const failed = decide({ ...obs, finishedTask: { kind: 'rewind', ok: false, error: 'x', finishedMs: obs.nowMs } }, { rewindingOnto: 'ty-db1@3' });
    assert.deepEqual(failed.actions, [{ type: 'rewind', leader: 'ty-db1' }]);
    assert.deepEqual(decide(obs, { rewoundOnto: 'ty-db1@2' }).actions, [{ type: 'rewind', leader: 'ty-db1' }]);
  });

  it('in maintenance mode nothing is rewound', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: view(), postgres: replica(2, 45_000_000), dynamic: dynamic({ pause: true }) }), {});
    assert.equal(d.actions.length, 0);
  });
});

describe('decide: no primary on a view that stands in for an unanswered etcd read (seed 3141)', () => {
  const failedStart = { kind: 'start' as const, ok: false, error: 'postgres exited during start', finishedMs: 1_000_000 };
  // The runner's path: etcd fails for less than retry_timeout, so the last view read stands in (plan-outage.ts).
  const standingIn = (lastView: ReturnType<ReturnType<typeof cluster>['build']>) =>
    planOutage({ dcs: { ok: false, error: 'connection to etcd cut' }, nowMs: 1_010_000, retryTimeoutMs: 10_000, failingSinceMs: undefined, lastView }).dcs;

  it('a leader whose start failed releases its key; cut off before its next read, it does not start as primary on the view it read before', () => {
    const before = cluster().build();
    const first = decide({ ...anObservation({ view: before, postgres: stoppedNode(false), lockValidForMs: 20_000 }), finishedTask: failedStart }, {});
    assert.deepEqual(first.actions, [{ type: 'release_leader' }]);
    // My lease is still renewed (validity measures the lease, not the key) while another member takes the key.
    const next = decide({ ...anObservation({ postgres: stoppedNode(false), lockValidForMs: 10_000 }), dcs: standingIn(before) }, first.memory);
    assert.deepEqual(next.actions, []);
    assert.equal(next.reason, 'not starting a primary while etcd does not answer: the last view names me leader, but it may predate my own release of the key');
  });

  it('nor promotes a replica on such a view', () => {
    const d = decide({ ...anObservation({ postgres: runningReplica(), lockValidForMs: 10_000 }), dcs: standingIn(cluster().build()) }, {});
    assert.deepEqual(d.actions, []);
  });

  it('a running primary still leads on the stand-in view (a brief outage demotes nobody)', () => {
    const d = decide({ ...anObservation({ postgres: runningPrimary(), lockValidForMs: 10_000 }), dcs: standingIn(cluster().build()) }, {});
    assert.deepEqual(d.actions, [{ type: 'publish_status' }]);
  });

  it('once etcd answers with my key, the start goes ahead', () => {
    const d = decide(anObservation({ view: cluster().build(), postgres: stoppedNode(false), lockValidForMs: 10_000 }), {});
    assert.deepEqual(d.actions, [{ type: 'start_primary' }]);
  });
});
