import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { clusterDocument, isClusterPaused } from '../../../src/api/cluster-doc';
import { aMember, aView, MB } from '../../support/builders';

describe('GET /cluster document (≤ 4.0 form)', () => {
  const view = aView({
    leader: 'node1',
    optime: 100 * MB,
    syncStandby: ['node3'],
    members: [
      aMember('node3', { conn_url: 'postgres://10.0.0.3:5432/postgres', api_url: 'http://10.0.0.3:8008/patroni', xlog_location: 100 * MB + 5, replication_state: 'streaming', timeline: 5 }),
      aMember('node1', { conn_url: 'postgres://10.0.0.1:5432/postgres', api_url: 'http://10.0.0.1:8008/patroni', role: 'master', xlog_location: 100 * MB, timeline: 5, tags: { clonefrom: true } }),
      aMember('node2', { conn_url: 'postgres://10.0.0.2:5433/postgres', api_url: 'http://10.0.0.2:8008/patroni', xlog_location: 90 * MB, replication_state: 'streaming', timeline: 5, pending_restart: true }),
      aMember('node4', { conn_url: undefined, api_url: 'http://10.0.0.4:8008/patroni', state: 'stopped' }),
    ],
  });

  test('members sorted by name, roles, state from replication_state, lag for non-leaders', () => {
    assert.deepEqual(clusterDocument(view, 'pgcluster'), {
      members: [
        { name: 'node1', role: 'leader', state: 'running', api_url: 'http://10.0.0.1:8008/patroni', host: '10.0.0.1', port: 5432, timeline: 5, tags: { clonefrom: true } },
        { name: 'node2', role: 'replica', state: 'streaming', api_url: 'http://10.0.0.2:8008/patroni', host: '10.0.0.2', port: 5433, timeline: 5, pending_restart: true, lag: 10 * MB },
        { name: 'node3', role: 'sync_standby', state: 'streaming', api_url: 'http://10.0.0.3:8008/patroni', host: '10.0.0.3', port: 5432, timeline: 5, lag: 0 },
        { name: 'node4', role: 'replica', state: 'stopped', api_url: 'http://10.0.0.4:8008/patroni', lag: 'unknown' },
      ],
      scope: 'pgcluster',
    });
  });

  test('pause and a scheduled switchover', () => {
    const paused = aView({
      ...view, leader: 'node1', members: [...view.members.values()], configValue: { pause: true, ttl: 30 },
      failover: { leader: 'node1', member: 'node2', scheduledAt: '2023-09-24T10:36:00+02:00', modRevision: 9 },
    });
    const doc = clusterDocument(paused, 'pgcluster');
    assert.equal(doc.pause, true);
    assert.deepEqual(doc.scheduled_switchover, { at: '2023-09-24T10:36:00+02:00', from: 'node1', to: 'node2' });
  });

  test('an unscheduled failover request is not shown', () => {
    const doc = clusterDocument(aView({ failover: { member: 'node2', modRevision: 1 } }), 'x');
    assert.equal(doc.scheduled_switchover, undefined);
  });

  test('pause follows Patroni parse_bool; an invalid config key never pauses', () => {
    assert.equal(isClusterPaused(aView({ configValue: { pause: 'on' } })), true);
    assert.equal(isClusterPaused(aView({ configValue: { pause: 'false' } })), false);
    assert.equal(isClusterPaused(aView({ config: { value: { pause: true }, valid: false, modRevision: 1 } })), false);
  });

  test('a standby cluster names its leader standby_leader', () => {
    const standby = aView({ leader: 'node1', configValue: { standby_cluster: { host: 'upstream' } }, members: [aMember('node1')] });
    assert.equal(clusterDocument(standby, 'x').members[0]!.role, 'standby_leader');
  });

  test('no optime published: lag is measured from 0 (clamped)', () => {
    const doc = clusterDocument(aView({ leader: 'node1', members: [aMember('node2', { xlog_location: 5 })] }), 'x');
    assert.equal(doc.members[0]!.lag, 0);
  });
});
