/**
 * The pure pieces cut out of the router: the session's state machine, the words of a "no backend" refusal, how a
 * held switchover ended, and the reasons a closed session or a failed connect is counted under.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextState, type SessionEvent, type SessionState } from '../../../src/router/session';
import { noBackendError } from '../../../src/router/refusals';
import { switchoverOutcome } from '../../../src/router/switchover-log';
import { closeReason } from '../../../src/router/close';
import { connectFailureReason } from '../../../src/router/backend-connect';
import type { RoutingTable } from '../../../src/router/types';
import { aListener } from './builders';

/** Runs `events` from `startup`; undefined steps (the event does not apply) leave the state as it was. */
const run = (...events: SessionEvent[]): SessionState => events.reduce<SessionState>((s, e) => nextState(s, e) ?? s, 'startup');

describe('a session moves through one state', () => {
  it('a plain connection: routed, connected, negotiated, spliced, closed', () => {
    assert.equal(run('route'), 'connecting');
    assert.equal(run('route', 'connected'), 'negotiating');
    assert.equal(run('route', 'connected', 'splice'), 'spliced');
    assert.equal(run('route', 'connected', 'splice', 'close'), 'closed');
  });

  it('held while no backend qualifies, then routed when one does', () => {
    assert.equal(run('hold'), 'held');
    assert.equal(run('hold', 'route'), 'connecting');
  });

  it('a backend that fails before its first reply sends the session back to be routed again', () => {
    assert.equal(run('route', 'retry'), 'startup');
    assert.equal(run('route', 'connected', 'retry'), 'startup');
    assert.equal(run('route', 'connected', 'retry', 'hold', 'route', 'connected', 'splice'), 'spliced');
  });

  it('a spliced session is never retried: bytes already reached the client', () => {
    assert.equal(nextState('spliced', 'retry'), undefined);
    assert.equal(nextState('spliced', 'route'), undefined);
  });

  it('closed is final: a late splice or connect of a torn-down socket changes nothing', () => {
    for (const e of ['hold', 'route', 'connected', 'splice', 'retry', 'close'] as const) assert.equal(nextState('closed', e), undefined);
  });

  it('every state can close', () => {
    for (const s of ['startup', 'held', 'connecting', 'negotiating', 'spliced'] as const) assert.equal(nextState(s, 'close'), 'closed');
  });

  it('no splice before a backend is connected, no hold once routed', () => {
    assert.equal(nextState('startup', 'splice'), undefined);
    assert.equal(nextState('connecting', 'splice'), undefined);
    assert.equal(nextState('connecting', 'hold'), undefined);
    assert.equal(nextState('held', 'hold'), undefined);
  });
});

const aTable = (o: Partial<RoutingTable> = {}): RoutingTable => ({
  generation: 7,
  computedAtMs: 0,
  writeReason: 'no leader key in etcd (election in progress)',
  writeValidUntilMs: 0,
  ttlMs: 30_000,
  pools: { read: { listener: 'read', role: 'replica', backends: [], fallback: false, reason: 'no replica qualifies: node2 lags 20 MB' } },
  members: [],
  ...o,
});

describe('refusing when no backend qualifies', () => {
  it('a write listener gives the table write reason and how long it waited', () => {
    const { fields, why } = noBackendError(aListener('write', 'primary', { holdTimeoutMs: 10_000 }), aTable(), 10_000, 'hold_timeout');
    assert.equal(why, 'no leader key in etcd (election in progress)');
    assert.equal(fields.sqlstate, '57P03');
    assert.equal(fields.message, 'pgha router: no writable primary available for listener "write": no leader key in etcd (election in progress)');
    assert.equal(fields.detail, 'Waited 10.0 s (hold_timeout 10.0 s).');
    assert.match(fields.hint!, /Retry the connection/);
  });

  it('a read listener gives its pool reason', () => {
    const { fields } = noBackendError(aListener('read', 'replica'), aTable(), 1234, 'hold_timeout');
    assert.equal(fields.message, 'pgha router: no backend qualifies for listener "read" (replica): no replica qualifies: node2 lags 20 MB');
    assert.equal(fields.detail, 'Waited 1.2 s (hold_timeout 10.0 s).');
  });

  it('a listener with no pool in the table says so', () => {
    const { why } = noBackendError(aListener('other', 'replica'), aTable(), 0, 'hold_timeout');
    assert.equal(why, 'no backend');
  });

  it('over max_held the connection is not held and the detail says why', () => {
    const { fields } = noBackendError(aListener('write', 'primary', { maxHeld: 50 }), aTable(), 0, 'max_held');
    assert.equal(fields.detail, 'Not held: max_held (50) connections already wait for a backend on this listener.');
  });
});

describe('how a held switchover ended', () => {
  const held = { revision: 41, from: 'node1', to: 'node2', sinceMs: 0 };
  it('writes go to another member: completed', () => assert.equal(switchoverOutcome(held, 'node2', undefined), 'completed'));
  it('back to the old leader with the same request still there: switchover_hold passed', () => assert.equal(switchoverOutcome(held, 'node1', 41), 'hold_expired'));
  it('back to the old leader after the request was cleared: rolled back', () => {
    assert.equal(switchoverOutcome(held, 'node1', undefined), 'rolled_back');
    assert.equal(switchoverOutcome(held, 'node1', 42), 'rolled_back');
  });
});

describe('the reason a closed session is counted under', () => {
  it('killed by the router wins over an error and over who closed first', () =>
    assert.equal(closeReason({ killed: 'leader_change', errored: true, firstClosed: 'backend' }), 'leader_change'));
  it('a socket error wins over who closed first', () => assert.equal(closeReason({ errored: true, firstClosed: 'client' }), 'error'));
  it('else the side that closed first', () => assert.equal(closeReason({ errored: false, firstClosed: 'backend' }), 'backend'));
  it('nothing known: the client', () => assert.equal(closeReason({ errored: false }), 'client'));
});

describe('the reason a backend connect failed', () => {
  it('from the socket error code', () => {
    assert.equal(connectFailureReason('ECONNREFUSED'), 'refused');
    assert.equal(connectFailureReason('ETIMEDOUT'), 'timeout');
    assert.equal(connectFailureReason('ECONNRESET'), 'reset');
    assert.equal(connectFailureReason('EHOSTUNREACH'), 'error');
    assert.equal(connectFailureReason(undefined), 'error');
  });
});
