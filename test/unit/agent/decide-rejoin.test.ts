import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideRejoin, type RejoinInput } from '../../../src/agent/decide-rejoin';
import type { HistoryLine } from '../../../src/model/cluster';
import { checkpointEndFromWaldump } from '../../../src/postgres/waldump';
import { rewindGrantsSql } from '../../../src/postgres/rewind-role';

// A primary on timeline 1 stopped cleanly; its shutdown checkpoint is at 0x3000028 and its record ends at 0x30000A0.
const CHECKPOINT = 0x3000028;
const END = 0x30000a0;
const history = (...lines: [number, number][]): HistoryLine[] => lines.map(([tl, lsn]) => [tl, lsn, 'no recovery target specified']);

function cleanlyStopped(over: Partial<RejoinInput> = {}): RejoinInput {
  return {
    control: { clusterState: 'shut down', timeline: 1, checkpointLsn: CHECKPOINT, minRecoveryEndLsn: 0, minRecoveryEndTimeline: 0 },
    checkpointEndLsn: END,
    leaderTimeline: 2,
    history: history([1, END]),
    ...over,
  };
}

describe('decideRejoin: a former primary before it starts as a replica (Patroni\'s rewind check)', () => {
  it('starts without pg_rewind when the leader left my timeline exactly where my shutdown checkpoint ends (a switchover)', () => {
    // The issue: pgha ran pg_rewind here, which could not log in, and re-cloned the node (its logical slots were lost).
    assert.deepEqual(decideRejoin(cleanlyStopped()), {
      rewind: false,
      reason: `no rewind needed: the leader left timeline 1 where my shutdown checkpoint ends (${END})`,
    });
  });

  it('rewinds when the leader left my timeline before my shutdown checkpoint (writes it never received)', () => {
    const d = decideRejoin(cleanlyStopped({ history: history([1, 0x2000000]) }));
    assert.equal(d.rewind, true);
    assert.equal(d.reason, `rewind needed: my shutdown checkpoint on timeline 1 is at or past the switch point (${CHECKPOINT} >= ${0x2000000})`);
  });

  it('rewinds when the leader left my timeline after my checkpoint but not at its end, or the end is unknown', () => {
    assert.equal(decideRejoin(cleanlyStopped({ history: history([1, END + 8]) })).rewind, true);
    const unknown = decideRejoin(cleanlyStopped({ checkpointEndLsn: undefined }));
    assert.equal(unknown.rewind, true);
    assert.match(unknown.reason, /ends at an unknown position/);
  });

  it('rewinds a primary that crashed (not shut down cleanly)', () => {
    const d = decideRejoin(cleanlyStopped({ control: { ...cleanlyStopped().control, clusterState: 'in production' } }));
    assert.deepEqual(d, { rewind: true, reason: 'rewind needed: postgres was not shut down cleanly (in production)' });
  });

  it('needs no rewind on the leader\'s own timeline; rewinds when ahead of it or when the leader timeline is unknown', () => {
    assert.equal(decideRejoin(cleanlyStopped({ leaderTimeline: 1 })).rewind, false);
    assert.match(decideRejoin(cleanlyStopped({ control: { ...cleanlyStopped().control, timeline: 3 } })).reason, /ahead of the leader's timeline 2/);
    assert.match(decideRejoin(cleanlyStopped({ leaderTimeline: 0 })).reason, /timeline is unknown/);
  });

  it('rewinds when my timeline is not in the leader\'s history (or the history is skipped past it)', () => {
    assert.match(decideRejoin(cleanlyStopped({ history: [] })).reason, /timeline 1 is not in the leader's history/);
    assert.equal(decideRejoin(cleanlyStopped({ control: { ...cleanlyStopped().control, timeline: 2 }, leaderTimeline: 4, history: history([1, 10], [3, END]) })).rewind, true);
  });

  it('shut down in recovery: compares the minimum recovery point with the switch point', () => {
    const replica = (min: number): RejoinInput => cleanlyStopped({
      control: { clusterState: 'shut down in recovery', timeline: 1, checkpointLsn: CHECKPOINT, minRecoveryEndLsn: min, minRecoveryEndTimeline: 1 },
    });
    assert.equal(decideRejoin(replica(END)).rewind, false);
    assert.equal(decideRejoin(replica(END + 1)).rewind, true);
    // No minimum recovery point: it was a primary (Patroni's rule), so the shutdown checkpoint decides.
    assert.equal(decideRejoin(replica(0)).rewind, false);
  });
});

describe('pg_waldump output: where the checkpoint record ends', () => {
  it('reads the end from the error on the record after the checkpoint (PostgreSQL 15 wording)', () => {
    const stderr = 'pg_waldump: error: error in WAL record at 0/1500718: invalid record length at 0/1500790: wanted 24, got 0';
    assert.equal(checkpointEndFromWaldump(stderr, 0x1500718), 0x1500790);
  });
  it('says nothing when the error is about another record, or another error', () => {
    assert.equal(checkpointEndFromWaldump('pg_waldump: error: error in WAL record at 0/1500790: invalid record length at 0/1500800: wanted 24, got 0', 0x1500718), undefined);
    assert.equal(checkpointEndFromWaldump('pg_waldump: error: could not find file "000000010000000000000001"', 0x1500718), undefined);
  });
});

describe('the rewind role (Patroni\'s post_bootstrap on PostgreSQL 11+)', () => {
  it('is granted the four functions pg_rewind calls', () => {
    assert.deepEqual(rewindGrantsSql('rewind_user'), [
      'GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO "rewind_user"',
      'GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO "rewind_user"',
      'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO "rewind_user"',
      'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO "rewind_user"',
    ]);
  });
});
