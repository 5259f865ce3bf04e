import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { LeaseKeeper } from '../../../src/agent/lease-keeper';
import { FailsafeKeeper } from '../../../src/agent/failsafe-keeper';
import type { RoundAnswer } from '../../../src/agent/failsafe';
import type { AgentStatus } from '../../../src/agent/status';
import { silentLogger } from '../../../src/log/logger';
import { ManualClock } from '../../support/manual-clock';
import { aCluster, dynamic } from '../../support/agent-builders';

const TOPOLOGY = { 'ty-db1': 'http://127.0.0.1:6432/patroni', 'ty-db2': 'http://127.0.0.1:6433/patroni', 'ty-db3': 'http://127.0.0.1:6434/patroni' };

/** A leader (ty-db1) on a memory etcd at ttl 10: keepalives every 2.5 s, validity = last renewal send + 7.5 s. */
async function leaderWithEtcdThatStops(answer: (name: string) => RoundAnswer, role = 'master') {
  const clock = new ManualClock(1_000);
  const store = new MemoryStore({ now: () => clock.now() });
  const grants: number[] = [];
  const lease = new LeaseKeeper(store, {
    ttlSeconds: 10, scheduler: clock, logger: silentLogger(), onFence: () => undefined, onLost: () => undefined,
    onRenewed: (validUntilMs) => grants.push(validUntilMs),
  });
  const id = await lease.ensureLease();
  const view = aCluster().initialized().leader('ty-db1').raw('failsafe', JSON.stringify(TOPOLOGY)).build();
  const status = {
    name: 'ty-db1', role, state: 'running', pause: false, connUrl: 'postgres://127.0.0.1:5432/postgres', apiUrl: TOPOLOGY['ty-db1'],
    dynamic: dynamic({ failsafeMode: true, ttlSeconds: 10 }),
    view: { ...view, leader: { ...view.leader!, lease: String(id) } },
  } as unknown as AgentStatus;
  const posts: Array<{ name: string; body: Record<string, unknown> }> = [];
  let failedRounds = 0;
  const keeper = new FailsafeKeeper({
    scheduler: clock, lease, status: () => status, logger: silentLogger(), onRoundFailed: () => failedRounds++,
    post: async (name, _url, body) => {
      posts.push({ name, body });
      return answer(name);
    },
  });
  return { clock, lease, keeper, grants, posts, failed: () => failedRounds };
}

const accepted = (name: string): RoundAnswer => ({ name, status: 200, body: 'Accepted' });

describe('failsafe keeper: the leader while etcd is down', () => {
  it('asks nobody while keepalives renew the lease', async () => {
    const l = await leaderWithEtcdThatStops(accepted);
    await l.keeper.checkOnce();
    assert.deepEqual(l.posts, []);
    assert.deepEqual(l.keeper.state(), {});
  });

  it('every member confirms: validity and the fence grant run from the round\'s send time', async () => {
    const l = await leaderWithEtcdThatStops(accepted);
    const before = l.lease.validUntilMs();
    l.clock.advance(4_000); // no keepalive answered since the grant: overdue
    await l.keeper.checkOnce();
    assert.deepEqual(l.posts.map((p) => p.name), ['ty-db2', 'ty-db3']);
    assert.deepEqual(l.posts[0]?.body, { name: 'ty-db1', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: TOPOLOGY['ty-db1'] });
    assert.equal(l.lease.validUntilMs(), before + 4_000);
    assert.equal(l.grants.at(-1), before + 4_000);
    assert.equal(l.keeper.state().round?.ok, true);
    assert.equal(l.keeper.active(), true);
    // Keepalives still fail: the next check runs another round (the good one does not count as a keepalive).
    l.clock.advance(1_250);
    await l.keeper.checkOnce();
    assert.equal(l.posts.length, 4);
    assert.equal(l.lease.validUntilMs(), before + 5_250);
    assert.equal(l.keeper.state().round?.ok, true);
    l.lease.stop();
  });

  it('one member unreachable: no renewal, the HA loop is woken to demote, the validity still ends on time', async () => {
    const l = await leaderWithEtcdThatStops((name) => (name === 'ty-db3' ? { name, error: 'connect ECONNREFUSED' } : accepted(name)));
    const before = l.lease.validUntilMs();
    l.clock.advance(4_000);
    await l.keeper.checkOnce();
    assert.equal(l.lease.validUntilMs(), before);
    assert.equal(l.failed(), 1);
    assert.equal(l.keeper.state().round?.ok, false);
    assert.equal(l.keeper.active(), false);
    l.lease.stop();
  });

  it('a replica is never the one that runs rounds', async () => {
    const l = await leaderWithEtcdThatStops(accepted, 'replica');
    l.clock.advance(4_000);
    await l.keeper.checkOnce();
    assert.deepEqual(l.posts, []);
    l.lease.stop();
  });
});

describe('failsafe keeper: a member receiving POST /failsafe', () => {
  it('a replica accepts and remembers the leader for ttl; a running primary refuses', async () => {
    const replica = await leaderWithEtcdThatStops(accepted, 'replica');
    assert.deepEqual(replica.keeper.accept({ name: 'ty-db1' }), { code: 200, message: 'Accepted' });
    assert.equal(replica.keeper.state().leader?.name, 'ty-db1');
    assert.equal(replica.keeper.active(), true);
    replica.clock.advance(10_000);
    assert.equal(replica.keeper.active(), false);
    const primary = await leaderWithEtcdThatStops(accepted);
    assert.deepEqual(primary.keeper.accept({ name: 'ty-db2' }), { code: 500, message: 'Running as a leader' });
    assert.equal(primary.keeper.state().leader, undefined);
    replica.lease.stop();
    primary.lease.stop();
  });
});
