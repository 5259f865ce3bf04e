/**
 * A leader change on the write listener: sessions on the old leader are closed, except those not answered yet
 * (routed again); sessions already on the new leader, already killed, or on a read listener stay.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeOldLeaderSessions } from '../../../src/router/leader-change';
import type { Session } from '../../../src/router/session';
import type { Backend, RoutingTable } from '../../../src/router/types';

const backend = (member: string, port = 5432): Backend => ({ member, host: '127.0.0.1', port, weight: 1 });
/** Only the fields this step reads; the rest of a session is sockets. */
const aSession = (id: number, o: Partial<Session>): Session => ({ id, ...o }) as Session;
const tableLedBy = (leader: Backend | undefined): RoutingTable => ({ generation: 9, leader } as RoutingTable);

function run(role: string, sessions: Session[], leader: Backend | undefined, unanswered: number[] = []) {
  const killed: number[] = [];
  const rerouted: number[] = [];
  const n = closeOldLeaderSessions({ config: { role }, sessions: new Set(sessions) }, tableLedBy(leader), {
    reroute: (s, generation) => {
      assert.equal(generation, 9);
      if (!unanswered.includes(s.id)) return false;
      rerouted.push(s.id);
      return true;
    },
    kill: (s) => killed.push(s.id),
  });
  return { n, killed, rerouted };
}

describe('closing write sessions on a leader change', () => {
  it('sessions on the old leader are closed, those on the new leader stay', () => {
    const r = run('primary', [aSession(1, { backend: backend('node1') }), aSession(2, { backend: backend('node2') })], backend('node2'));
    assert.deepEqual(r, { n: 1, killed: [1], rerouted: [] });
  });

  it('no leader: every write session is closed', () => {
    const r = run('primary', [aSession(1, { backend: backend('node1') }), aSession(2, { backend: backend('node1') })], undefined);
    assert.deepEqual(r.killed, [1, 2]);
  });

  it('the same member on another port is another backend', () => {
    const r = run('primary', [aSession(1, { backend: backend('node1', 5432) })], backend('node1', 5433));
    assert.deepEqual(r.killed, [1]);
  });

  it('a session nothing reached the client from yet is routed again, not closed nor counted', () => {
    const r = run('primary', [aSession(1, { backend: backend('node1') }), aSession(2, { backend: backend('node1') })], backend('node2'), [2]);
    assert.deepEqual(r, { n: 1, killed: [1], rerouted: [2] });
  });

  it('a session killed before and not closed yet is not counted again', () => {
    const r = run('primary', [aSession(1, { backend: backend('node1'), killed: 'leader_change' })], backend('node2'));
    assert.deepEqual(r, { n: 0, killed: [], rerouted: [] });
  });

  it('read listeners are not touched (read-follow.ts decides for them)', () => {
    const r = run('replica', [aSession(1, { backend: backend('node1') })], backend('node2'));
    assert.deepEqual(r, { n: 0, killed: [], rerouted: [] });
  });
});
