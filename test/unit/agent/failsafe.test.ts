import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../src/agent/decide';
import {
  answerFailsafePost, failsafeActive, judgeRound, planRound, publishedLeaderValidity, type RoundFacts,
} from '../../../src/agent/failsafe';
import { armFacts } from '../../../src/agent/fence-arm';
import type { FailsafeState } from '../../../src/agent/failsafe';
import type { Observation } from '../../../src/agent/observation';
import { aCluster, anObservation, dynamic, runningPrimary, runningReplica } from '../../support/agent-builders';

const NOW = 1_000_000;
const TOPOLOGY = { 'ty-db1': 'http://127.0.0.1:6432/patroni', 'ty-db2': 'http://127.0.0.1:6433/patroni', 'ty-db3': 'http://127.0.0.1:6434/patroni' };
const failsafeOn = (over = {}) => dynamic({ failsafeMode: true, ...over });
const threeMembers = () =>
  aCluster().initialized().optime(50_000_000)
    .member('ty-db1', 5432, { role: 'master' }).member('ty-db2', 5433).member('ty-db3', 5434);
const withFailsafe = (obs: Observation, failsafe: FailsafeState): Observation => ({ ...obs, failsafe });

/** The leader, etcd just became unreachable: keepalives last renewed the lease `sinceMs` ago. */
const leaderFacts = (over: Partial<RoundFacts> = {}): RoundFacts => ({
  failsafeMode: true, paused: false, me: 'ty-db1', leader: true, primary: true, topology: TOPOLOGY,
  nowMs: NOW, lastKeepaliveMs: NOW - 4000, keepaliveIntervalMs: 2500, ...over,
});

describe('failsafe: the leader loses etcd', () => {
  it('runs a round once a keepalive is overdue, asking every other member of the /failsafe key', () => {
    const plan = planRound(leaderFacts());
    assert.equal(plan.step, 'round');
    assert.deepEqual(plan.step === 'round' && plan.members.map((m) => m.name), ['ty-db2', 'ty-db3']);
    assert.match(plan.reason, /no keepalive for 4000 ms: asking 2 member\(s\) to confirm me as leader/);
  });

  it('asks nobody while keepalives still renew the lease', () => {
    assert.deepEqual(planRound(leaderFacts({ lastKeepaliveMs: NOW - 1000 })), {
      step: 'idle', reason: 'last keepalive 1000 ms ago: keepalives renew the lease',
    });
  });

  it('all members confirm: the round is good and the leader stays primary with etcd down', () => {
    const round = judgeRound([
      { name: 'ty-db2', status: 200, body: 'Accepted' },
      { name: 'ty-db3', status: 200, body: 'Accepted' },
    ]);
    assert.equal(round.ok, true);
    const obs = withFailsafe(
      anObservation({ dcsError: 'deadline exceeded', postgres: runningPrimary(), lockValidForMs: 5000, dynamic: failsafeOn() }),
      { round: { ...round, atMs: NOW } },
    );
    const d = decide(obs, {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'continue to run as a leader because failsafe mode is enabled and all members are accessible (2)');
  });

  it('holds while the first round is pending and the lock is still valid (the fencing point still bounds it)', () => {
    const d = decide(anObservation({ dcsError: 'down', postgres: runningPrimary(), lockValidForMs: 3000, dynamic: failsafeOn() }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'failsafe mode: DCS is not accessible, my lock is still valid and the first failsafe round is pending');
  });

  it('one member unreachable: the round fails and the leader demotes at once, before its validity passes', () => {
    const round = judgeRound([
      { name: 'ty-db2', status: 200, body: 'Accepted' },
      { name: 'ty-db3', error: 'connect ECONNREFUSED' },
    ]);
    assert.deepEqual(round, { ok: false, reason: 'failsafe round failed, not every member confirmed me (ty-db3: connect ECONNREFUSED)' });
    const obs = withFailsafe(
      anObservation({ dcsError: 'down', postgres: runningPrimary(), lockValidForMs: 4000, dynamic: failsafeOn() }),
      { round: { ...round, atMs: NOW } },
    );
    const d = decide(obs, {});
    assert.deepEqual(d.actions, [{ type: 'demote', mode: 'offline' }]);
    assert.match(d.reason, /^demoting self because DCS is not accessible and I was a leader/);
  });

  it('a member that answers but refuses (it runs as a primary itself) fails the round', () => {
    const round = judgeRound([{ name: 'ty-db2', status: 500, body: 'Running as a leader' }]);
    assert.equal(round.ok, false);
    assert.match(round.reason, /ty-db2: HTTP 500 Running as a leader/);
  });

  it('demotes once the validity from the last good round has passed', () => {
    const obs = withFailsafe(
      anObservation({ dcsError: 'down', postgres: runningPrimary(), lockValidForMs: -1, dynamic: failsafeOn() }),
      { round: { ok: true, reason: 'all confirmed', atMs: NOW - 9000 } },
    );
    assert.deepEqual(decide(obs, {}).actions, [{ type: 'demote', mode: 'offline' }]);
  });

  it('a /failsafe key that does not list the leader means no failsafe: normal rules', () => {
    const plan = planRound(leaderFacts({ topology: { 'ty-db2': 'http://x/patroni' } }));
    assert.deepEqual(plan, { step: 'idle', reason: 'the /failsafe key does not list me: no failsafe, normal rules apply' });
  });

  it('a single-member cluster confirms itself', () => {
    const plan = planRound(leaderFacts({ topology: { 'ty-db1': 'http://x/patroni' } }));
    assert.deepEqual(plan.step === 'round' && plan.members, []);
    assert.equal(judgeRound([]).ok, true);
  });

  it('no rounds in maintenance mode or on a replica', () => {
    assert.equal(planRound(leaderFacts({ paused: true })).step, 'idle');
    assert.equal(planRound(leaderFacts({ leader: false })).step, 'idle');
    assert.equal(planRound(leaderFacts({ primary: false })).step, 'idle');
  });
});

describe('failsafe: replicas', () => {
  it('a replica that receives the POST accepts the leader and shows failsafe active for ttl', () => {
    const answer = answerFailsafePost({ failsafeMode: true, runningPrimary: false, body: { name: 'ty-db1', api_url: 'http://x', conn_url: 'postgres://x' } });
    assert.deepEqual(answer, { code: 200, message: 'Accepted', leader: 'ty-db1' });
    const state: FailsafeState = { leader: { name: 'ty-db1', receivedMs: NOW } };
    assert.equal(failsafeActive(state, NOW + 29_000, 30_000), true);
    assert.equal(failsafeActive(state, NOW + 30_000, 30_000), false);
  });

  it('a member running as a primary refuses the POST, as Patroni', () => {
    assert.deepEqual(answerFailsafePost({ failsafeMode: true, runningPrimary: true, body: { name: 'ty-db1' } }), { code: 500, message: 'Running as a leader' });
  });

  it('the POST is refused with 502 when failsafe mode is off', () => {
    assert.equal(answerFailsafePost({ failsafeMode: false, runningPrimary: false, body: { name: 'ty-db1' } }).code, 502);
  });

  it('with etcd down a replica stays a replica and does nothing', () => {
    const obs = withFailsafe(
      anObservation({ name: 'ty-db2', dcsError: 'down', postgres: runningReplica(), dynamic: failsafeOn() }),
      { leader: { name: 'ty-db1', receivedMs: NOW - 1000 } },
    );
    const d = decide(obs, {});
    assert.deepEqual(d.actions, []);
    assert.match(d.reason, /^DCS is not accessible/);
  });

  it('does not race when the leader key expired but the leader confirmed itself through POST /failsafe within ttl', () => {
    const view = threeMembers().raw('failsafe', JSON.stringify(TOPOLOGY)).build();
    const obs = withFailsafe(
      anObservation({ name: 'ty-db2', view, postgres: runningReplica(), dynamic: failsafeOn(), peers: [] }),
      { leader: { name: 'ty-db1', receivedMs: NOW - 5000 } },
    );
    const d = decide(obs, {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'failsafe mode: ty-db1 confirmed itself leader through POST /failsafe within ttl, not racing');
  });

  it('races as usual once ttl passed since the last POST', () => {
    const view = threeMembers().raw('failsafe', JSON.stringify(TOPOLOGY)).build();
    const obs = withFailsafe(
      anObservation({ name: 'ty-db2', view, postgres: runningReplica(), dynamic: failsafeOn(), peers: [] }),
      { leader: { name: 'ty-db1', receivedMs: NOW - 30_000 } },
    );
    assert.ok(decide(obs, {}).actions.some((a) => a.type === 'acquire_leader'));
  });

  it('a member missing from a non-empty /failsafe key never races (Patroni)', () => {
    const view = threeMembers().raw('failsafe', JSON.stringify({ 'ty-db1': TOPOLOGY['ty-db1'] })).build();
    const d = decide(anObservation({ name: 'ty-db2', view, postgres: runningReplica(), dynamic: failsafeOn(), peers: [] }), {});
    assert.deepEqual(d.actions, []);
    assert.equal(d.reason, 'failsafe mode: I am not listed in the /failsafe key, not racing');
  });
});

describe('failsafe: the /failsafe key and failsafe_mode off', () => {
  it('the leader writes the topology (name → api_url) when it changes', () => {
    const view = threeMembers().leader('ty-db1').build();
    const d = decide(anObservation({ view, postgres: runningPrimary(), lockValidForMs: 10_000, dynamic: failsafeOn() }), {});
    assert.deepEqual(d.actions.find((a) => a.type === 'write_failsafe'), { type: 'write_failsafe', members: TOPOLOGY });
  });

  it('writes nothing when the key already holds the topology', () => {
    const view = threeMembers().leader('ty-db1').raw('failsafe', JSON.stringify(TOPOLOGY)).build();
    const d = decide(anObservation({ view, postgres: runningPrimary(), lockValidForMs: 10_000, dynamic: failsafeOn() }), {});
    assert.equal(d.actions.some((a) => a.type === 'write_failsafe'), false);
  });

  it('failsafe_mode off: etcd down demotes the leader, no key is written, no round, replicas race as today', () => {
    const off = dynamic();
    const demote = decide(withFailsafe(
      anObservation({ dcsError: 'down', postgres: runningPrimary(), lockValidForMs: 10_000, dynamic: off }),
      { round: { ok: true, reason: 'stale', atMs: NOW } },
    ), {});
    assert.deepEqual(demote.actions, [{ type: 'demote', mode: 'offline' }]);
    const lead = decide(anObservation({ view: threeMembers().leader('ty-db1').build(), postgres: runningPrimary(), lockValidForMs: 10_000, dynamic: off }), {});
    assert.equal(lead.actions.some((a) => a.type === 'write_failsafe'), false);
    assert.deepEqual(planRound(leaderFacts({ failsafeMode: false })), { step: 'idle', reason: 'failsafe_mode is off' });
    const race = decide(withFailsafe(
      anObservation({ name: 'ty-db2', view: threeMembers().raw('failsafe', JSON.stringify(TOPOLOGY)).build(), postgres: runningReplica(), dynamic: off, peers: [] }),
      { leader: { name: 'ty-db1', receivedMs: NOW - 1000 } },
    ), {});
    assert.ok(race.actions.some((a) => a.type === 'acquire_leader'));
  });
});

describe('failsafe: what the leader publishes and the fence while etcd is down', () => {
  const leaderWithoutEtcd = (mode: boolean, round?: FailsafeState['round']): Observation => {
    const base = anObservation({ postgres: runningPrimary(), lockValidForMs: 5000, dynamic: dynamic({ failsafeMode: mode }) });
    const lastView = threeMembers().leader('ty-db1').build();
    return { ...base, dcs: { ok: false, error: 'down', lastView }, ...(round ? { failsafe: { round } } : {}) };
  };

  it('keeps publishing itself leader (REST /primary answers 200) after a good round, as Patroni', () => {
    const obs = leaderWithoutEtcd(true, { ok: true, reason: 'all confirmed', atMs: NOW });
    assert.equal(publishedLeaderValidity(obs, NOW + 5000), NOW + 5000);
  });

  it('publishes no leadership once a round failed, or without failsafe mode', () => {
    assert.equal(publishedLeaderValidity(leaderWithoutEtcd(true, { ok: false, reason: 'ty-db3 silent', atMs: NOW }), NOW + 5000), 0);
    assert.equal(publishedLeaderValidity(leaderWithoutEtcd(false), NOW + 5000), 0);
  });

  it('the fence keeps taking renewals (good rounds) in failsafe mode; without it, it holds its deadline', () => {
    assert.equal(armFacts(leaderWithoutEtcd(true), []).holdsKeyOnOwnLease, true);
    assert.equal(armFacts(leaderWithoutEtcd(false), []).holdsKeyOnOwnLease, false);
  });
});
