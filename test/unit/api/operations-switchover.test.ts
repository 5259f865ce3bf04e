import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  failoverOutcome, failoverValue, isGoodCandidate, membersToAsk, pollWindowMs, validateFailoverRequest,
} from '../../../src/api/operations/switchover';
import { parseSchedule, pythonIsoFormat } from '../../../src/api/operations/schedule';
import { aMember, aView } from '../../support/builders';

const NOW_WALL = Date.parse('2026-11-28T12:00:00Z');
const open = { pause: false, nowEpochMs: NOW_WALL };
const paused = { pause: true, nowEpochMs: NOW_WALL };
const refusal = (code: number, message: string) => ({ code, message });

describe('validateFailoverRequest (Patroni 3.0.2 order)', () => {
  test('a failover needs a candidate', () => {
    assert.deepEqual(validateFailoverRequest('failover', { leader: 'a' }, open), refusal(400, 'Failover could be performed only to a specific candidate'));
  });
  test('a switchover needs a leader', () => {
    assert.deepEqual(validateFailoverRequest('switchover', { candidate: 'b' }, open), refusal(400, 'Switchover could be performed only from a specific leader'));
  });
  test('member is an alias of candidate', () => {
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a', member: 'b' }, open), { leader: 'a', candidate: 'b' });
    assert.deepEqual(validateFailoverRequest('failover', { member: 'b' }, open), { candidate: 'b' });
  });
  test('a switchover without a candidate is fine when not paused', () => {
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a' }, open), { leader: 'a' });
  });
  test('paused: only to a specific candidate', () => {
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a' }, paused), refusal(400, 'Switchover is possible only to a specific candidate in a paused state'));
  });
  test('scheduled: not while paused, not without a leader', () => {
    const at = '2026-11-28T13:00:00+00:00';
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a', candidate: 'b', scheduled_at: at }, paused), refusal(400, "Can't schedule switchover in the paused state"));
    assert.deepEqual(validateFailoverRequest('failover', { candidate: 'b', scheduled_at: at }, open), refusal(400, 'Scheduled failover is possible only from a specific leader'));
  });
  test('scheduled: the time is checked and normalized', () => {
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a', scheduled_at: '2026-11-28T14:30:00+01:00' }, open), { leader: 'a', scheduledAt: '2026-11-28T14:30:00+01:00' });
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a', scheduled_at: '2026-11-28T13:00:00' }, open), refusal(400, 'Timezone information is mandatory for the scheduled switchover'));
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a', scheduled_at: '2026-11-28T11:00:00Z' }, open), refusal(422, 'Cannot schedule switchover in the past'));
    assert.equal(validateFailoverRequest('switchover', { leader: 'a', scheduled_at: 'tomorrow-ish' }, open).hasOwnProperty('code'), true);
  });
  test('leader and candidate the same', () => {
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 'a', candidate: 'a' }, open), refusal(400, 'Switchover target and source are the same'));
  });
  test('names must be strings', () => {
    assert.deepEqual(validateFailoverRequest('switchover', { leader: 5 }, open), refusal(400, 'leader must be a member name'));
  });
});

describe('parseSchedule', () => {
  test('unparsable → 422', () => {
    const r = parseSchedule('next tuesday', 'restart', NOW_WALL);
    assert.deepEqual(r, { ok: false, code: 422, message: 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601' });
  });
  test('Z becomes +00:00, as Python isoformat prints tzutc', () => {
    assert.deepEqual(parseSchedule('2026-11-28T12:30:00Z', 'restart', NOW_WALL), { ok: true, epochMs: Date.parse('2026-11-28T12:30:00Z'), iso: '2026-11-28T12:30:00+00:00' });
  });
  test('microseconds only when non-zero; negative offsets', () => {
    assert.equal(pythonIsoFormat(Date.parse('2026-11-28T12:30:00.250Z'), -300), '2026-11-28T07:30:00.250000-05:00');
  });
});

describe('membersToAsk (is_failover_possible, pure half)', () => {
  const view = aView({
    leader: 'a',
    members: [aMember('a', { role: 'master' }), aMember('b'), aMember('c')],
  });
  test('the leader must match', () => {
    assert.deepEqual(membersToAsk(view, { leader: 'b' }, 'switchover', false), refusal(412, 'leader name does not match'));
    assert.deepEqual(membersToAsk(aView({ members: [aMember('b')] }), { leader: 'a' }, 'switchover', false), refusal(412, 'leader name does not match'));
  });
  test('the candidate must exist', () => {
    assert.deepEqual(membersToAsk(view, { leader: 'a', candidate: 'z' }, 'switchover', false), refusal(412, 'candidate does not exists'));
    assert.deepEqual(membersToAsk(view, { leader: 'a', candidate: 'b' }, 'switchover', false), [view.members.get('b')]);
  });
  test('no candidate: every other member with an API', () => {
    assert.deepEqual((membersToAsk(view, { leader: 'a' }, 'switchover', false) as { name: string }[]).map((m) => m.name), ['b', 'c']);
    const alone = aView({ leader: 'a', members: [aMember('a', { role: 'master' })] });
    assert.deepEqual(membersToAsk(alone, { leader: 'a' }, 'switchover', false), refusal(412, 'switchover is not possible: cluster does not have members except leader'));
  });
  test('synchronous mode: a switchover goes to a sync standby only', () => {
    const sync = aView({ leader: 'a', members: [aMember('a'), aMember('b'), aMember('c')], syncStandby: ['c'] });
    assert.deepEqual(membersToAsk(sync, { leader: 'a', candidate: 'b' }, 'switchover', true), refusal(412, 'candidate name does not match with sync_standby'));
    assert.deepEqual((membersToAsk(sync, { leader: 'a' }, 'switchover', true) as { name: string }[]).map((m) => m.name), ['c']);
    // a manual failover may pick an async node
    assert.deepEqual((membersToAsk(sync, { candidate: 'b' }, 'failover', true) as { name: string }[]).map((m) => m.name), ['b']);
    const none = aView({ leader: 'a', members: [aMember('a'), aMember('b')] });
    assert.deepEqual(membersToAsk(none, { leader: 'a' }, 'switchover', true), refusal(412, 'switchover is not possible: can not find sync_standby'));
  });
  test('a good candidate answers and is not nofailover', () => {
    assert.equal(isGoodCandidate({ name: 'b', reachable: true, nofailover: false }), true);
    assert.equal(isGoodCandidate({ name: 'b', reachable: true, nofailover: true }), false);
    assert.equal(isGoodCandidate({ name: 'b', reachable: false, nofailover: false }), false);
  });
});

describe('failoverOutcome (poll_failover_result)', () => {
  const pending = { leader: 'a', member: 'b', modRevision: 7 };
  test('still pending', () => {
    assert.equal(failoverOutcome(aView({ leader: 'a', failover: pending }), 'a', 'b', 'switchover'), undefined);
    assert.equal(failoverOutcome(aView({ failover: pending }), 'a', 'b', 'switchover'), undefined);
  });
  test('the leader moved to the candidate', () => {
    assert.deepEqual(failoverOutcome(aView({ leader: 'b' }), 'a', 'b', 'switchover'), { code: 200, body: 'Successfully switched over to "b"' });
    assert.deepEqual(failoverOutcome(aView({ leader: 'b' }), undefined, 'b', 'failover'), { code: 200, body: 'Successfully failed over to "b"' });
    assert.deepEqual(failoverOutcome(aView({ leader: 'c' }), 'a', undefined, 'switchover'), { code: 200, body: 'Successfully switched over to "c"' });
  });
  test('the leader moved elsewhere', () => {
    assert.deepEqual(failoverOutcome(aView({ leader: 'c' }), 'a', 'b', 'switchover'), { code: 200, body: 'Switched over to "c" instead of "b"' });
  });
  test('the key was cleared first', () => {
    assert.deepEqual(failoverOutcome(aView({ leader: 'a' }), 'a', 'b', 'switchover'), { code: 503, body: 'Switchover failed' });
    assert.deepEqual(failoverOutcome(aView({ leader: 'a' }), 'a', 'b', 'failover'), { code: 503, body: 'Failover failed' });
  });
});

test('failoverValue is Patroni compact JSON with the candidate under member', () => {
  assert.equal(failoverValue({ leader: 'a', candidate: 'b' }), '{"leader":"a","member":"b"}');
  assert.equal(failoverValue({ candidate: 'b' }), '{"member":"b"}');
  assert.equal(failoverValue({ leader: 'a', scheduledAt: '2026-11-28T14:30:00+01:00' }), '{"leader":"a","scheduled_at":"2026-11-28T14:30:00+01:00"}');
});

test('pollWindowMs: Patroni 2*max(10, loop_wait), at least 2*loop_wait+ttl, at most 50 s', () => {
  assert.equal(pollWindowMs(2, 15), 20_000);
  assert.equal(pollWindowMs(10, 30), 50_000);
  assert.equal(pollWindowMs(1, 3), 20_000);
  assert.equal(pollWindowMs(5, 25), 35_000);
});
