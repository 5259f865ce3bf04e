/**
 * The moment pg_ctl promote returns: what the agent publishes at once, and which tick may publish after it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { publishPlan, statusAfterPromote } from '../../../src/agent/promoted-status';
import { memberDocument, restRole } from '../../../src/model/patroni-format';
import type { AgentStatus } from '../../../src/agent/status';

/** A streaming replica's last published status (the fields the documents read). */
function aReplicaStatus(): AgentStatus {
  return {
    scope: 'pgcluster', name: 'ty-db2', patroniVersion: '3.0.2', pghaVersion: 'test', state: 'running', role: 'replica',
    probe: { reachable: true, inRecovery: true, timeline: 1, receiveLsn: 5000, replayLsn: 4000, replicationState: 'streaming', serverVersion: 150010 },
    leaderValidUntilMs: 0, clusterUnlocked: true, pause: false, tags: {}, reason: 'manual failover: I am the candidate (ty-db2), taking the leader lock',
    dynamic: {} as AgentStatus['dynamic'], nextCycleDueMs: 0,
    connUrl: 'postgres://127.0.0.1:5433/postgres', apiUrl: 'http://127.0.0.1:8009/patroni',
  };
}

describe('statusAfterPromote: the candidate just promoted', () => {
  it('reports role master in REST and in its member key, at the position it had received, without guessing the new timeline', () => {
    const s = statusAfterPromote(aReplicaStatus());
    assert.equal(s.role, 'master');
    assert.equal(s.state, 'running');
    assert.equal(restRole(s), 'master', 'routers read the REST role');
    const doc = memberDocument(s);
    assert.equal(doc.role, 'master');
    assert.equal(doc.xlog_location, 5000, 'the received position: a lower bound of the new flush position');
    assert.equal(doc.timeline, undefined, 'postgres picks the new timeline; the next tick reads it');
    assert.equal(doc.replication_state, undefined);
    assert.equal(s.reason, aReplicaStatus().reason, 'the reason stays the tick\'s own');
  });
});

describe('publishPlan: a tick that overlaps a promotion', () => {
  it('a tick that began observing before pg_ctl promote returned publishes nothing (it saw a replica)', () => {
    const p = publishPlan({ promotionsBefore: 0, promotionsNow: 1 });
    assert.equal(p.publish, false);
    assert.match(p.reason, /promoted after this tick observed/);
  });

  it('a tick that began after it publishes as usual', () => {
    assert.equal(publishPlan({ promotionsBefore: 1, promotionsNow: 1 }).publish, true);
  });
});
