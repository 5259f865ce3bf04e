import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/decide';
import { aCluster, anObservation, dynamic, peer, runningPrimary, runningReplica, stoppedNode, WALL_NOW } from '../../support/agent-builders';

const cluster = () =>
  aCluster().initialized().leader('ty-db1').optime(50_000_000)
    .member('ty-db1', 5432, { role: 'master' }).member('ty-db2', 5433).member('ty-db3', 5434);
const unlocked = () => cluster().noLeader();
const asLeader = (view: ReturnType<ReturnType<typeof cluster>['build']>, over: Parameters<typeof anObservation>[0] = {}) =>
  anObservation({ name: 'ty-db1', view, postgres: runningPrimary(), lockValidForMs: 20_000, peers: [peer('ty-db2'), peer('ty-db3')], ...over });
const at = (offsetSeconds: number) => new Date(WALL_NOW + offsetSeconds * 1000).toISOString();

describe('decide: switchover, the leader side', () => {
  it('demotes gracefully for a healthy named candidate', () => {
    const d = decide(asLeader(cluster().failover({ leader: 'ty-db1', member: 'ty-db2' }).build()), {});
    assert.deepEqual(d.actions, [{ type: 'demote', mode: 'graceful' }]);
    assert.equal(d.reason, 'manual switchover: demoting myself for ty-db2');
  });

  it('demotes for any healthy member when no candidate is named', () => {
    const d = decide(asLeader(cluster().failover({ leader: 'ty-db1' }).build(), { peers: [peer('ty-db2', { reachable: false }), peer('ty-db3')] }), {});
    assert.deepEqual(d.actions, [{ type: 'demote', mode: 'graceful' }]);
    assert.equal(d.reason, 'manual switchover: demoting myself for ty-db3');
  });

  it('cleans up when the candidate is unreachable, and keeps leading', () => {
    const view = cluster().failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    const d = decide(asLeader(view, { peers: [peer('ty-db2', { reachable: false }), peer('ty-db3')] }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['publish_status', 'clear_failover']);
    assert.equal(d.reason, 'switchover: no healthy members found, switchover is not possible (ty-db2: its API does not answer)');
  });

  it('refuses a lagging candidate for a switchover', () => {
    const view = cluster().failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    const d = decide(asLeader(view, { peers: [peer('ty-db2', { replicaLocation: 10_000_000 })] }), {});
    assert.equal(d.actions.some((a) => a.type === 'demote'), false);
    assert.match(d.reason, /ty-db2: lagging 40000000 bytes \(> 1048576\)/);
  });

  it('refuses a candidate tagged nofailover', () => {
    const view = cluster().failover({ leader: 'ty-db1', member: 'ty-db3' }).build();
    const d = decide(asLeader(view, { peers: [peer('ty-db3', { nofailover: true })] }), {});
    assert.match(d.reason, /ty-db3: tagged nofailover/);
  });

  it('cleans up a request naming another leader', () => {
    const d = decide(asLeader(cluster().failover({ leader: 'ty-db3', member: 'ty-db2' }).build()), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['publish_status', 'clear_failover']);
    assert.match(d.reason, /does not apply to me as the leader/);
  });

  it('the new leader clears the request that named it', () => {
    const view = cluster().leader('ty-db2').failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    const d = decide(asLeader(view, { name: 'ty-db2' }), {});
    assert.ok(d.actions.some((a) => a.type === 'clear_failover'));
  });

  it('waits for a scheduled switchover, then acts on time, and cleans up a stale one', () => {
    const later = decide(asLeader(cluster().failover({ leader: 'ty-db1', member: 'ty-db2', scheduled_at: at(3600) }).build()), {});
    assert.deepEqual(later.actions.map((a) => a.type), ['publish_status']);
    assert.match(later.reason, /^Awaiting switchover at .* \(in 3600 seconds\)$/);
    const due = decide(asLeader(cluster().failover({ leader: 'ty-db1', member: 'ty-db2', scheduled_at: at(-1) }).build()), {});
    assert.deepEqual(due.actions, [{ type: 'demote', mode: 'graceful' }]);
    const stale = decide(asLeader(cluster().failover({ leader: 'ty-db1', member: 'ty-db2', scheduled_at: at(-60) }).build()), {});
    assert.deepEqual(stale.actions.map((a) => a.type), ['publish_status', 'clear_failover']);
    assert.match(stale.reason, /^Found a stale failover value, cleaning up/);
  });

  it('in maintenance mode only a candidate-specific switchover is possible', () => {
    const paused = dynamic({ pause: true });
    const none = decide(asLeader(cluster().failover({ leader: 'ty-db1' }).build(), { dynamic: paused }), {});
    assert.ok(none.actions.some((a) => a.type === 'clear_failover'));
    assert.match(none.reason, /^PAUSE: switchover without a candidate/);
    const named = decide(asLeader(cluster().failover({ leader: 'ty-db1', member: 'ty-db2' }).build(), { dynamic: paused }), {});
    assert.deepEqual(named.actions, [{ type: 'demote', mode: 'graceful' }]);
  });
});

describe('decide: switchover and failover, the race', () => {
  it('the candidate takes the lock at once, without health checks', () => {
    const view = unlocked().failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    const d = decide(anObservation({ name: 'ty-db2', view, postgres: runningReplica(1), peers: [peer('ty-db3', { replicaLocation: 90_000_000 })] }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['acquire_leader', 'promote']);
    assert.equal(d.reason, 'manual failover: I am the candidate (ty-db2), taking the leader lock');
  });

  it('the candidate may take the lock in maintenance mode too', () => {
    const view = unlocked().failover({ member: 'ty-db2' }).build();
    const d = decide(anObservation({ name: 'ty-db2', view, dynamic: dynamic({ pause: true }), peers: [] }), {});
    assert.deepEqual(d.actions.map((a) => a.type), ['acquire_leader', 'promote']);
  });

  it('the demoted leader and the others wait for a healthy candidate', () => {
    const view = unlocked().failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    for (const name of ['ty-db1', 'ty-db3']) {
      const d = decide(anObservation({ name, view, peers: [peer('ty-db2')] }), {});
      assert.deepEqual(d.actions, []);
      assert.equal(d.reason, 'waiting for manual failover to ty-db2');
    }
  });

  it('when the candidate is down, the others race as usual but not the leader switched away from', () => {
    const view = unlocked().member('ty-db2', 5433, { state: 'stopped' }).failover({ leader: 'ty-db1', member: 'ty-db2' }).build();
    const old = decide(anObservation({ name: 'ty-db1', view, peers: [peer('ty-db3')] }), {});
    assert.deepEqual(old.actions, []);
    assert.match(old.reason, /I was switched away from/);
    const other = decide(anObservation({ name: 'ty-db3', view, peers: [peer('ty-db1'), peer('ty-db2', { reachable: false })] }), {});
    assert.deepEqual(other.actions.map((a) => a.type), ['acquire_leader', 'promote']);
  });
});

describe('decide: maintenance mode', () => {
  it('does not restart a stopped postgres', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: cluster().build(), postgres: stoppedNode(), dynamic: dynamic({ pause: true }) }), {});
    assert.deepEqual(d.actions, []);
    assert.match(d.reason, /^PAUSE: /);
  });

  it('does not race for a free leader key', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: unlocked().build(), peers: [], dynamic: dynamic({ pause: true }) }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'PAUSE: cluster has no leader; no leader race in maintenance mode');
  });
});

describe('decide: operator requests', () => {
  it('restarts in place, following the leader', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: cluster().build(), request: { type: 'restart' } }), {});
    assert.deepEqual(d.actions, [{ type: 'restart', leader: 'ty-db1' }]);
    assert.equal(d.reason, 'restarting postgres on request');
  });

  it('reinitializes a replica from the leader, and refuses on the leader', () => {
    const ok = decide(anObservation({ name: 'ty-db2', view: cluster().build(), request: { type: 'reinitialize', force: false } }), {});
    assert.deepEqual(ok.actions, [{ type: 'reinitialize', source: 'ty-db1' }]);
    const refused = decide(asLeader(cluster().build(), { request: { type: 'reinitialize', force: false } }), {});
    assert.deepEqual(refused.actions, [{ type: 'refuse_request', message: 'I am the leader, can not reinitialize' }]);
  });

  it('reloads on request', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: cluster().build(), request: { type: 'reload' } }), {});
    assert.deepEqual(d.actions, [{ type: 'reload' }]);
  });

  it('waits with requests while a long task runs', () => {
    const d = decide(anObservation({ name: 'ty-db2', view: cluster().build(), request: { type: 'restart' }, task: { kind: 'create_replica', startedMs: 0 } }), {});
    assert.deepEqual(d.actions, []);
  });
});

describe('decide: synchronous mode', () => {
  const syncOn = (over = {}) => dynamic({ synchronousMode: true, ...over });
  const primaryWith = (rows: { name: string; state?: string; sync?: string; lsn?: number }[]) => {
    const p = runningPrimary();
    p.probe.replication = rows.map((r) => ({
      usename: 'rep', application_name: r.name, client_addr: '127.0.0.1', state: r.state ?? 'streaming',
      sync_state: r.sync ?? 'async', sync_priority: 1, flushLsn: r.lsn ?? 50_000_000,
    }));
    return p;
  };
  const syncAction = (d: ReturnType<typeof decide>) => d.actions.find((a) => a.type === 'sync');

  it('makes the most advanced streaming standby synchronous, and publishes it once postgres confirms', () => {
    const view = cluster().build();
    const first = decide(asLeader(view, { dynamic: syncOn(), postgres: primaryWith([{ name: 'ty-db2', lsn: 10 }, { name: 'ty-db3', lsn: 20 }]) }), {});
    assert.deepEqual(syncAction(first), { type: 'sync', guc: '"ty-db3"', standbys: [] });
    const confirmed = decide(asLeader(view, { dynamic: syncOn(), postgres: primaryWith([{ name: 'ty-db2', lsn: 10 }, { name: 'ty-db3', lsn: 20, sync: 'sync' }]) }), {});
    assert.deepEqual(syncAction(confirmed), { type: 'sync', guc: '"ty-db3"', standbys: ['ty-db3'] });
  });

  it('keeps the current sync standby over a more advanced one, and skips nosync members', () => {
    const view = cluster().member('ty-db3', 5434, { tags: { nosync: true } }).raw('sync', JSON.stringify({ leader: 'ty-db1', sync_standby: 'ty-db2' })).build();
    const d = decide(asLeader(view, { dynamic: syncOn(), postgres: primaryWith([{ name: 'ty-db2', lsn: 10, sync: 'sync' }, { name: 'ty-db3', lsn: 90 }]) }), {});
    assert.deepEqual(syncAction(d), { type: 'sync', guc: '"ty-db2"', standbys: ['ty-db2'], keyModRevision: view.sync!.modRevision });
  });

  it('keeps the standby postgres has synchronous now over one back from a crash, even a more advanced one', () => {
    // ty-db2 crashed: the key was emptied and ty-db3 made synchronous. ty-db2 streams again, as far or further.
    const view = cluster().raw('sync', JSON.stringify({ leader: 'ty-db1', sync_standby: null })).build();
    const d = decide(asLeader(view, { dynamic: syncOn(), postgres: primaryWith([{ name: 'ty-db2', lsn: 110 }, { name: 'ty-db3', lsn: 100, sync: 'sync' }]) }), {});
    assert.deepEqual(syncAction(d), { type: 'sync', guc: '"ty-db3"', standbys: ['ty-db3'], keyModRevision: view.sync!.modRevision });
  });

  it('strict mode with no standby left keeps the last one in the GUC, so commits wait', () => {
    const view = cluster().raw('sync', JSON.stringify({ leader: 'ty-db1', sync_standby: 'ty-db2' })).build();
    const d = decide(asLeader(view, { dynamic: syncOn({ synchronousModeStrict: true }), postgres: primaryWith([]) }), {});
    const a = syncAction(d) as { guc: string; standbys: string[] };
    assert.equal(a.guc, '"ty-db2"');
    assert.deepEqual(a.standbys, ['ty-db2']);
    const fresh = decide(asLeader(cluster().build(), { dynamic: syncOn({ synchronousModeStrict: true }), postgres: primaryWith([]) }), {});
    assert.equal((syncAction(fresh) as { guc: string }).guc, '*');
    const lax = decide(asLeader(view, { dynamic: syncOn(), postgres: primaryWith([]) }), {});
    assert.deepEqual(syncAction(lax), { type: 'sync', guc: '', standbys: [], keyModRevision: view.sync!.modRevision });
  });

  it('turning sync mode off removes the key and the GUC', () => {
    const view = cluster().raw('sync', JSON.stringify({ leader: 'ty-db1', sync_standby: 'ty-db2' })).build();
    const d = decide(asLeader(view), {});
    assert.equal((syncAction(d) as { off: boolean }).off, true);
  });

  it('only the synchronous standby may take a free leader key', () => {
    const view = unlocked().raw('sync', JSON.stringify({ leader: 'ty-db1', sync_standby: 'ty-db2' })).build();
    const async3 = decide(anObservation({ name: 'ty-db3', view, dynamic: syncOn(), peers: [peer('ty-db2')], postgres: runningReplica(60_000_000) }), {});
    assert.deepEqual(async3.actions, []);
    assert.equal(async3.reason, 'not racing for leader: I am not a synchronous standby (sync: ty-db2)');
    // The sync standby wins although the async one is further ahead.
    const sync2 = decide(anObservation({ name: 'ty-db2', view, dynamic: syncOn(), peers: [peer('ty-db3', { replicaLocation: 60_000_000 })] }), {});
    assert.deepEqual(sync2.actions.map((a) => a.type), ['acquire_leader', 'claim_sync', 'promote']);
  });
});
