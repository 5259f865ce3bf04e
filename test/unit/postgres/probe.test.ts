import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { probeFromRow, toPythonTimestamp, type StatusRow } from '../../../src/postgres/probe';

const primaryRow: StatusRow = {
  in_recovery: false,
  server_version: 150010,
  start_time: '2024-08-28 19:39:26.352526',
  primary_timeline: 3,
  checkpoint_timeline: 2,
  flush_lsn: '0/4000148',
  receive_lsn: null,
  replay_lsn: null,
  replay_paused: false,
  replay_timestamp: null,
  wal_receiver: null,
  replication: [
    { usename: 'rep', application_name: 'ty-db2', client_addr: '127.0.0.1', state: 'streaming', sync_state: 'async', sync_priority: 0, flush_lsn: '0/4000148', replay_lsn: '0/4000100' },
  ],
  pending_restart: false,
  slots: ['ty_db2'],
};

const replicaRow: StatusRow = {
  ...primaryRow,
  in_recovery: true,
  primary_timeline: null,
  checkpoint_timeline: 1,
  flush_lsn: null,
  receive_lsn: '0/4000148',
  replay_lsn: '0/4000100',
  replay_paused: true,
  replay_timestamp: '2024-08-28 19:40:00.000000',
  wal_receiver: { status: 'streaming', received_tli: 3, latest_end_lsn: '0/4000148' },
  replication: null,
  pending_restart: true,
  slots: null,
};

describe('status probe: row to PostgresProbe', () => {
  it('reads a primary: timeline from the current WAL file, flush LSN, replication rows', () => {
    const p = probeFromRow(primaryRow);
    assert.equal(p.reachable, true);
    assert.equal(p.inRecovery, false);
    assert.equal(p.timeline, 3);
    assert.equal(p.flushLsn, 0x4000148);
    assert.equal(p.receiveLsn, undefined);
    assert.equal(p.postmasterStartTime, '2024-08-28 19:39:26.352526+00:00');
    assert.deepEqual(p.replication, [
      { usename: 'rep', application_name: 'ty-db2', client_addr: '127.0.0.1', state: 'streaming', sync_state: 'async', sync_priority: 0, flushLsn: 0x4000148, replayLsn: 0x4000100 },
    ]);
    assert.deepEqual(p.slots, ['ty_db2']);
  });

  it('reads a streaming replica: received timeline, LSNs, pause, replay time', () => {
    const p = probeFromRow(replicaRow);
    assert.equal(p.inRecovery, true);
    assert.equal(p.timeline, 3);
    assert.equal(p.flushLsn, undefined);
    assert.equal(p.receiveLsn, 0x4000148);
    assert.equal(p.replayLsn, 0x4000100);
    assert.equal(p.replayPaused, true);
    assert.equal(p.replayedTimestamp, '2024-08-28 19:40:00+00:00');
    assert.equal(p.replicationState, 'streaming');
    assert.equal(p.latestEndLsn, 0x4000148);
    assert.equal(p.pendingRestart, true);
    assert.deepEqual(p.replication, []);
    assert.deepEqual(p.slots, []);
  });

  it('falls back to the checkpoint timeline and archive recovery without a live WAL receiver', () => {
    const p = probeFromRow({ ...replicaRow, wal_receiver: { status: 'starting', received_tli: 3, latest_end_lsn: null } });
    assert.equal(p.timeline, 1);
    assert.equal(p.replicationState, 'in archive recovery');
    const none = probeFromRow({ ...replicaRow, wal_receiver: null, replay_timestamp: null });
    assert.equal(none.replicationState, 'in archive recovery');
    assert.equal(none.replayedTimestamp, null);
  });

  it("formats timestamps like Python's str(datetime)", () => {
    assert.equal(toPythonTimestamp('2024-08-28 19:39:26.352526'), '2024-08-28 19:39:26.352526+00:00');
    assert.equal(toPythonTimestamp('2024-08-28 19:39:26.000000'), '2024-08-28 19:39:26+00:00');
    assert.equal(toPythonTimestamp(null), null);
  });
});
