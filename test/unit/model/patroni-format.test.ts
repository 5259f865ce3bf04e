import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveTags, memberDocument, patroniDocument } from '../../../src/model/patroni-format';
import { pythonJson } from '../../../src/lib/python-format';
import { aMember, aPrimaryStatus, aReplicaStatus, aStoppedStatus, aView, NOW } from '../../support/builders';

describe('GET /patroni document (Patroni 3.x form)', () => {
  test('a running primary: xlog.location, role master, keys in Patroni order', () => {
    const doc = patroniDocument(
      aPrimaryStatus({
        tags: { clonefrom: false, dc: 'east' },
        probe: {
          replication: [{
            usename: 'replicator', application_name: 'node2', client_addr: '10.0.0.2', state: 'streaming',
            sync_state: 'async', sync_priority: 0, flushLsn: 5, replayLsn: 4,
          }],
        },
        reason: 'no action: I am the leader with the lock',
      }),
      NOW,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), {
      state: 'running',
      postmaster_start_time: '2024-08-28 19:39:26.352526+00:00',
      role: 'master',
      server_version: 160004,
      xlog: { location: 67_419_744 },
      timeline: 3,
      replication: [{
        usename: 'replicator', application_name: 'node2', client_addr: '10.0.0.2', state: 'streaming',
        sync_state: 'async', sync_priority: 0,
      }],
      dcs_last_seen: 1_724_874_295,
      tags: { dc: 'east' },
      database_system_identifier: '7268616322854375442',
      patroni: { version: '3.0.2', scope: 'pgcluster', name: 'node1' },
      pgha_version: '0.1.0',
      pgha_reason: 'no action: I am the leader with the lock',
    });
    assert.deepEqual(Object.keys(doc), [
      'state', 'postmaster_start_time', 'role', 'server_version', 'xlog', 'timeline', 'replication', 'dcs_last_seen',
      'tags', 'database_system_identifier', 'patroni', 'pgha_version', 'pgha_reason',
    ]);
  });

  test('a streaming replica: received/replayed locations, replication_state, sync_standby when listed', () => {
    const view = aView({ leader: 'node1', optime: 100, syncStandby: ['node2'], members: [aMember('node1'), aMember('node2')] });
    const doc = patroniDocument(
      aReplicaStatus({
        view, dynamic: { synchronousMode: true }, pause: true,
        probe: { receiveLsn: 120, replayLsn: 100, replayedTimestamp: '2024-08-28 19:41:00.5+00:00', pendingRestart: true },
      }),
      NOW,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), {
      state: 'running',
      postmaster_start_time: '2024-08-28 19:40:01.000001+00:00',
      role: 'replica',
      server_version: 160004,
      xlog: { received_location: 120, replayed_location: 100, replayed_timestamp: '2024-08-28 19:41:00.5+00:00', paused: false },
      sync_standby: true,
      timeline: 3,
      replication_state: 'streaming',
      dcs_last_seen: 1_724_874_295,
      database_system_identifier: '7268616322854375442',
      pending_restart: true,
      patroni: { version: '3.0.2', scope: 'pgcluster', name: 'node2' },
      pause: true,
      pgha_version: '0.1.0',
    });
  });

  test('received_location falls back to the replay position when nothing was received', () => {
    const doc = patroniDocument(aReplicaStatus({ probe: { receiveLsn: undefined, replayLsn: 42 } }), NOW);
    assert.deepEqual(doc.xlog, { received_location: 42, replayed_location: 42, replayed_timestamp: null, paused: false });
  });

  test('postgres stopped: the minimal form plus the DCS flags', () => {
    const doc = patroniDocument(aStoppedStatus({ clusterUnlocked: true, systemId: '7268616322854375442' }), NOW);
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), {
      state: 'stopped',
      role: 'replica',
      cluster_unlocked: true,
      dcs_last_seen: 1_724_874_295,
      database_system_identifier: '7268616322854375442',
      patroni: { version: '3.0.2', scope: 'pgcluster', name: 'node1' },
      pgha_version: '0.1.0',
    });
  });

  test('a long task in flight: pgha_progress last, with the copy figures once the tool reported', () => {
    const copying = patroniDocument(aStoppedStatus({
      state: 'creating replica',
      progress: {
        task: 'reinit', elapsedMs: 12_900, step: 'basebackup',
        copy: { percent: 45, doneKb: 123_392, totalKb: 274_212, rateKbPerSec: 57_549, elapsedMs: 9_100, etaSec: 3 },
      },
    }), NOW);
    assert.equal(Object.keys(copying).at(-1), 'pgha_progress');
    assert.deepEqual(copying.pgha_progress, {
      task: 'reinit', elapsed_s: 12, step: 'basebackup', percent: 45, done_kb: 123_392, total_kb: 274_212, rate_kb_s: 57_549, eta_s: 3,
    });
    const starting = patroniDocument(aStoppedStatus({ progress: { task: 'rewind', elapsedMs: 800, step: 'rewind' } }), NOW);
    assert.deepEqual(starting.pgha_progress, { task: 'rewind', elapsed_s: 0, step: 'rewind' });
    assert.deepEqual(patroniDocument(aReplicaStatus({ progress: { task: 'restart', elapsedMs: 4000 } }), NOW).pgha_progress, { task: 'restart', elapsed_s: 4 });
    assert.equal(patroniDocument(aReplicaStatus(), NOW).pgha_progress, undefined, 'idle: no field');
    assert.equal('pgha_progress' in memberDocument(aStoppedStatus({ progress: { task: 'reinit', elapsedMs: 1 } })), false, 'never in etcd');
  });

  test('"running" but unreachable reads as state unknown', () => {
    const doc = patroniDocument(aReplicaStatus({ probe: { reachable: false } }), NOW);
    assert.equal(doc.state, 'unknown');
    assert.equal(doc.xlog, undefined);
  });

  test('no cached view or no leader in it: cluster_unlocked', () => {
    assert.equal(patroniDocument(aReplicaStatus({ view: undefined }), NOW).cluster_unlocked, true);
    assert.equal(patroniDocument(aReplicaStatus({ view: aView() }), NOW).cluster_unlocked, true);
    assert.equal(patroniDocument(aReplicaStatus(), NOW).cluster_unlocked, undefined);
  });

  test('served as Python json.dumps text', () => {
    assert.equal(pythonJson({ a: 1, b: [true, null], c: 'é' }), '{"a": 1, "b": [true, null], "c": "\\u00e9"}');
  });
});

describe('effective tags', () => {
  test('known boolean tags only when true; other tags as configured', () => {
    assert.deepEqual(
      effectiveTags({ nofailover: false, noloadbalance: true, clonefrom: 0, nosync: false, nostream: '', custom: false, dc: 'x' }),
      { noloadbalance: true, custom: false, dc: 'x' },
    );
  });
  test('nofailover/nosync stay when failover_priority/sync_priority are set (3.2+)', () => {
    assert.deepEqual(effectiveTags({ nofailover: false, failover_priority: 1 }), { nofailover: false, failover_priority: 1 });
    assert.deepEqual(effectiveTags({ nosync: false, sync_priority: 0 }), { nosync: false, sync_priority: 0 });
  });
});

describe('members/<name> document', () => {
  test('a primary: compact JSON in touch_member order, xlog_location = flush position', () => {
    const json = JSON.stringify(memberDocument(aPrimaryStatus({ tags: { nofailover: false, dc: 'east' } })));
    assert.equal(
      json,
      '{"conn_url":"postgres://node1.example:5432/postgres","api_url":"http://node1.example:8008/patroni",' +
        '"state":"running","role":"master","version":"3.0.2","tags":{"dc":"east"},"xlog_location":67419744,' +
        '"timeline":3,"pgha_version":"0.1.0"}',
    );
  });

  test('a replica: xlog_location = max(receive, replay), replication_state, pause', () => {
    const doc = memberDocument(aReplicaStatus({ pause: true, probe: { receiveLsn: 500, replayLsn: 450, pendingRestart: true } }));
    assert.equal(
      JSON.stringify(doc),
      '{"conn_url":"postgres://node2.example:5432/postgres","api_url":"http://node2.example:8008/patroni",' +
        '"state":"running","role":"replica","version":"3.0.2","pending_restart":true,"xlog_location":500,' +
        '"replication_state":"streaming","timeline":3,"pause":true,"pgha_version":"0.1.0"}',
    );
  });

  test('replay ahead of receive (archive recovery): the replay position', () => {
    const doc = memberDocument(aReplicaStatus({ probe: { receiveLsn: 10, replayLsn: 90, replicationState: 'in archive recovery' } }));
    assert.equal(doc.xlog_location, 90);
    assert.equal(doc.replication_state, 'in archive recovery');
  });

  test('after promote, until the checkpoint is done: checkpoint_after_promote false, right after version', () => {
    const doc = memberDocument(aPrimaryStatus({ checkpointPending: true }));
    assert.equal(doc.checkpoint_after_promote, false);
    assert.deepEqual(Object.keys(doc).slice(0, 6), ['conn_url', 'api_url', 'state', 'role', 'version', 'checkpoint_after_promote']);
  });

  test('postgres stopped: no position, no timeline', () => {
    const doc = memberDocument(aStoppedStatus({ probe: { timeline: 3, flushLsn: 5 } }));
    assert.deepEqual(Object.keys(doc), ['conn_url', 'api_url', 'state', 'role', 'version', 'pgha_version']);
  });

  test('bare host:port addresses become Patroni URLs', () => {
    const doc = memberDocument(aStoppedStatus({ connUrl: '10.0.0.1:5432', apiUrl: '10.0.0.1:8008' }));
    assert.equal(doc.conn_url, 'postgres://10.0.0.1:5432/postgres');
    assert.equal(doc.api_url, 'http://10.0.0.1:8008/patroni');
  });
});
