/**
 * Read sessions follow the role: which open read sessions end when a member leaves a read pool (planReadFollow,
 * pure, on tables derived by routing.ts), and the timers that end them (ReadFollowTimers, on a manual clock).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { deriveRoutingTable } from '../../../src/router/routing';
import { planReadFollow, type ReadEnd, type ReadFollowPlan } from '../../../src/router/read-follow';
import { ReadFollowTimers } from '../../../src/router/read-follow-timers';
import { ManualClock } from '../../support/manual-clock';
import { createLogger } from '../../../src/log/logger';
import type { EndSessionsConfig, ListenerConfig, MemberHealth, MemberLag, RoutingTable } from '../../../src/router/types';
import { aMember, aView } from '../../support/builders';
import { aDownAgent, aListener, aPrimaryAgent, aReplicaAgent, aRoutingConfig, anInput, lagOf } from './builders';

const WRITE = aListener('write', 'primary');
const READ = aListener('read', 'replica', { maxLagBytes: 1000 });

function cluster(o: { leader?: string; tags2?: Record<string, unknown> } = {}) {
  return aView({
    leader: o.leader ?? 'node1',
    members: [
      aMember('node1', { role: 'master', conn_url: 'postgres://127.0.0.1:5431/postgres' }),
      aMember('node2', { conn_url: 'postgres://127.0.0.1:5432/postgres', ...(o.tags2 ? { tags: o.tags2 } : {}) }),
      aMember('node3', { conn_url: 'postgres://127.0.0.1:5433/postgres' }),
    ],
  });
}

interface Moment {
  leader?: string;
  tags2?: Record<string, unknown>;
  health?: Record<string, MemberHealth>;
  lag?: Record<string, MemberLag>;
}

/** The routing table of one moment: node1 leads, node2 and node3 replicate in sync, unless told otherwise. */
function tableAt(m: Moment, listeners: ListenerConfig[]): RoutingTable {
  const health = new Map(Object.entries({ node1: aPrimaryAgent(), node2: aReplicaAgent(), node3: aReplicaAgent(), ...m.health }));
  const lag = new Map(Object.entries({ node2: lagOf(0, 0), node3: lagOf(0, 0), ...m.lag }));
  return deriveRoutingTable(anInput(cluster(m), { health, lag }), aRoutingConfig(listeners));
}

/** The plan for the change from one moment to the next, with these listeners. */
function follow(from: Moment, to: Moment, listeners: ListenerConfig[] = [WRITE, READ]): ReadFollowPlan {
  return planReadFollow(tableAt(from, listeners), tableAt(to, listeners), listeners);
}

const brief = (p: ReadFollowPlan) => p.end.map((e) => [e.listener, e.member, e.reason, e.graceMs]);
const ends = (o: Partial<EndSessionsConfig>): EndSessionsConfig => ({ promoted: 0, lag: 'never', tags: 'never', ...o });
const STEADY: Moment = {};
const NODE2_PROMOTED: Moment = { leader: 'node2', health: { node1: aReplicaAgent(), node2: aPrimaryAgent() } };

describe('read-follow: promotion', () => {
  test('a replica that takes the leader key leaves the read pool: its read sessions end at once', () => {
    const plan = follow(STEADY, NODE2_PROMOTED);
    assert.deepEqual(brief(plan), [['read', 'node2', 'promoted', 0]]);
    assert.equal(plan.end[0]!.sentence, 'node2 left the pool of read because it was promoted (leader (fallback_to_leader is off)): its open sessions there end at once');
  });

  test('a replica whose agent reports primary without the leader key counts as promoted too', () => {
    const plan = follow(STEADY, { health: { node2: aPrimaryAgent() } });
    assert.deepEqual(brief(plan), [['read', 'node2', 'promoted', 0]]);
    assert.match(plan.end[0]!.sentence, /agent reports role master but the member does not hold the leader key/);
  });

  test('a replica first seen down during the switchover and then holding the key is still ended', () => {
    const unreachable: Moment = { leader: 'node1', health: { node2: aDownAgent() } };
    assert.deepEqual(brief(follow(STEADY, unreachable)), [], 'an agent down ends nothing: a dead backend closes its own sessions');
    assert.deepEqual(brief(follow(unreachable, NODE2_PROMOTED)), [['read', 'node2', 'promoted', 0]]);
  });

  test('a leader that stays leader is planned once, not on every table', () => {
    assert.deepEqual(brief(follow(NODE2_PROMOTED, NODE2_PROMOTED)), []);
  });

  test('the write listener is never planned: write sessions follow the leader change already', () => {
    const plan = follow(STEADY, NODE2_PROMOTED);
    assert.ok(plan.end.every((e) => e.listener !== 'write'));
  });

  test('an `any` listener serves the leader too: a promotion ends nothing there', () => {
    const any = aListener('any', 'any');
    assert.deepEqual(brief(follow(STEADY, NODE2_PROMOTED, [WRITE, any])), []);
    assert.deepEqual(brief(follow(STEADY, { health: { node2: aPrimaryAgent() } }, [WRITE, any])), []);
  });

  test('a read-only pool: the leader that served as the fallback was not promoted when replicas come back', () => {
    const ro = aListener('ro', 'read-only', { maxLagBytes: 1000 });
    const noReplicas: Moment = { lag: { node2: lagOf(5000, 1), node3: lagOf(5000, 1) } };
    assert.equal(tableAt(noReplicas, [WRITE, ro]).pools.ro!.fallback, true);
    assert.deepEqual(brief(follow(noReplicas, STEADY, [WRITE, ro])), []);
    // Nor when its agent was briefly unreachable in between (out of the pool for another reason).
    const leaderUnconfirmed: Moment = { ...noReplicas, health: { node1: aDownAgent() } };
    assert.deepEqual(brief(follow(leaderUnconfirmed, STEADY, [WRITE, ro])), []);
  });

  test('promoted: never keeps the sessions on the new leader', () => {
    assert.deepEqual(brief(follow(STEADY, NODE2_PROMOTED, [WRITE, { ...READ, endSessions: ends({ promoted: 'never' }) }])), []);
  });
});

describe('read-follow: lag and tags', () => {
  const lagging: Moment = { lag: { node2: lagOf(5000, 1) } };

  test('a replica over max_lag leaves the pool; by default its sessions stay (lag: never)', () => {
    assert.equal(tableAt(lagging, [WRITE, READ]).members.find((m) => m.member === 'node2')!.pools.read!.cause, 'lag');
    assert.deepEqual(brief(follow(STEADY, lagging)), []);
  });

  test('with end_sessions.lag: 30s the sessions end after the grace', () => {
    const plan = follow(STEADY, lagging, [WRITE, { ...READ, endSessions: ends({ lag: 30_000 }) }]);
    assert.deepEqual(brief(plan), [['read', 'node2', 'lag', 30_000]]);
    assert.match(plan.end[0]!.sentence, /because it lags \(lag 5000 bytes > max_lag 1000\): its open sessions there end after 30\.0 s$/);
  });

  test('unknown lag ends nothing even with lag: 0s: the router lacking a figure is no reason', () => {
    const unknown: Moment = { lag: { node2: { observedAtMs: 1_000_000 } } };
    assert.deepEqual(brief(follow(STEADY, unknown, [WRITE, { ...READ, endSessions: ends({ lag: 0 }) }])), []);
  });

  test('noloadbalance, a tag filter or weight 0: the tags cause, default never', () => {
    const read = { ...READ, endSessions: ends({ tags: 0 }) };
    assert.deepEqual(brief(follow(STEADY, { tags2: { noloadbalance: true } })), []);
    assert.deepEqual(brief(follow(STEADY, { tags2: { noloadbalance: true } }, [WRITE, read])), [['read', 'node2', 'tags', 0]]);
    assert.deepEqual(brief(follow(STEADY, { tags2: { weight: 0 } }, [WRITE, read])), [['read', 'node2', 'tags', 0]]);
    const zone = { ...read, tagFilters: { zone: 'a' } };
    assert.deepEqual(brief(follow({ tags2: { zone: 'a' } }, { tags2: { zone: 'b' } }, [WRITE, zone])), [['read', 'node2', 'tags', 0]]);
  });

  test('a member back in the pool is listed, so its pending end is cancelled', () => {
    const plan = follow(lagging, STEADY, [WRITE, { ...READ, endSessions: ends({ lag: 30_000 }) }]);
    assert.deepEqual(plan.back, [{ listener: 'read', member: 'node2' }]);
    assert.deepEqual(plan.end, []);
  });

  test('a lagging member then promoted: the cause changed, so the promotion is planned', () => {
    const plan = follow(lagging, { ...NODE2_PROMOTED, lag: lagging.lag! });
    assert.deepEqual(brief(plan), [['read', 'node2', 'promoted', 0]]);
  });
});


function harness(open: Record<string, number> = { 'read/node2': 3 }) {
  const clock = new ManualClock();
  const sessions = new Map(Object.entries(open));
  const counted: [string, string, number][] = [];
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), cb()) });
  const timers = new ReadFollowTimers(clock, createLogger({ level: 'info', destination: sink }), {
    endSessions: (listener, member) => {
      const n = sessions.get(`${listener}/${member}`) ?? 0;
      sessions.delete(`${listener}/${member}`);
      return n;
    },
    ended: (listener, reason, n) => counted.push([listener, reason, n]),
  });
  const ended = () => lines.filter((l) => l.msg === 'ended read sessions on a member that left the pool');
  return { clock, sessions, counted, lines, ended, timers };
}

const anEnd = (reason: ReadEnd['reason'], graceMs: number, member = 'node2'): ReadEnd => ({ listener: 'read', member, reason, graceMs, sentence: `${member} left (${reason})` });

describe('read-follow timers', () => {
  test('grace 0: the sessions end in the same turn, no timer; counted and logged once', () => {
    const h = harness();
    h.timers.apply({ end: [anEnd('promoted', 0)], back: [] });
    assert.equal(h.sessions.size, 0);
    assert.equal(h.clock.pending, 0);
    assert.deepEqual(h.counted, [['read', 'promoted', 3]]);
    assert.equal(h.ended().length, 1);
    assert.deepEqual(
      (({ listener, member, reason, closed }) => ({ listener, member, reason, closed }))(h.ended()[0]!),
      { listener: 'read', member: 'node2', reason: 'promoted', closed: 3 },
    );
  });

  test('a grace: nothing before it runs out, then one batch; one timer per pair however often it is planned', () => {
    const h = harness();
    h.timers.apply({ end: [anEnd('lag', 30_000)], back: [] });
    h.clock.advance(10_000);
    h.timers.apply({ end: [anEnd('lag', 30_000)], back: [] });
    assert.equal(h.clock.pending, 1);
    h.clock.advance(19_999);
    assert.equal(h.sessions.size, 1, 'still open 1 ms before the grace ends');
    h.clock.advance(1);
    assert.equal(h.sessions.size, 0);
    assert.deepEqual(h.counted, [['read', 'lag', 3]]);
    assert.equal(h.timers.pending, 0);
  });

  test('back in the pool before the grace ran out: the timer is cancelled and the sessions stay', () => {
    const h = harness();
    h.timers.apply({ end: [anEnd('tags', 60_000)], back: [] });
    h.clock.advance(59_000);
    h.timers.apply({ end: [], back: [{ listener: 'read', member: 'node2' }] });
    h.clock.advance(10_000);
    assert.equal(h.sessions.size, 1);
    assert.deepEqual(h.counted, []);
    assert.equal(h.clock.pending, 0);
    assert.ok(h.lines.some((l) => l.msg === 'member back in the read pool: its sessions stay'));
  });

  test('a promotion during a lag grace ends the sessions at once; the earlier deadline wins', () => {
    const h = harness({ 'read/node2': 2, 'read/node3': 1 });
    h.timers.apply({ end: [anEnd('lag', 30_000), anEnd('lag', 5_000, 'node3')], back: [] });
    h.timers.apply({ end: [anEnd('promoted', 0)], back: [] });
    assert.deepEqual(h.counted, [['read', 'promoted', 2]]);
    h.timers.apply({ end: [anEnd('tags', 60_000, 'node3')], back: [] });
    h.clock.advance(5_000);
    assert.deepEqual(h.counted, [['read', 'promoted', 2], ['read', 'lag', 1]]);
    assert.equal(h.clock.pending, 0);
  });

  test('no open session: nothing counted, no warning', () => {
    const h = harness({});
    h.timers.apply({ end: [anEnd('promoted', 0)], back: [] });
    assert.deepEqual(h.counted, []);
    assert.equal(h.ended().length, 0);
  });

  test('stop: pending ends never run', () => {
    const h = harness();
    h.timers.apply({ end: [anEnd('lag', 1_000)], back: [] });
    h.timers.stop();
    h.clock.advance(5_000);
    assert.equal(h.sessions.size, 1);
    assert.equal(h.clock.pending, 0);
  });
});
