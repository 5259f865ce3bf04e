import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isValidSystemId, parseControlData } from '../../../src/postgres/controldata';

/** Trimmed pg_controldata output of a PG15 replica (LC_ALL=C). */
const SAMPLE = `pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7713141708441873524
Database cluster state:               in archive recovery
pg_control last modified:             Sat Nov 28 08:49:08 2026
Latest checkpoint location:           0/3000060
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's REDO WAL file:    000000020000000000000003
Latest checkpoint's TimeLineID:       2
Latest checkpoint's PrevTimeLineID:   1
Latest checkpoint's NextXID:          0:724
Latest checkpoint's oldestCommitTsXid:0
Minimum recovery ending location:     0/3000138
Min recovery ending loc's timeline:   2
wal_level setting:                    replica
wal_log_hints setting:                on
Data page checksum version:           1
`;

describe('pg_controldata parsing', () => {
  it('lifts the fields the agent needs', () => {
    const cd = parseControlData(SAMPLE);
    assert.equal(cd.systemId, '7713141708441873524');
    assert.equal(cd.clusterState, 'in archive recovery');
    assert.equal(cd.timeline, 2);
    assert.equal(cd.checkpointLsn, 0x3000060);
    assert.equal(cd.redoLsn, 0x3000028);
    assert.equal(cd.minRecoveryEndLsn, 0x3000138);
    assert.equal(cd.minRecoveryEndTimeline, 2);
    assert.equal(cd.dataChecksumVersion, 1);
    assert.equal(cd.walLogHints, true);
  });

  it('splits at the first colon only, and keeps labels without a space after the colon', () => {
    const cd = parseControlData(SAMPLE);
    assert.equal(cd.raw["Latest checkpoint's NextXID"], '0:724');
    assert.equal(cd.raw['pg_control last modified'], 'Sat Nov 28 08:49:08 2026');
    assert.equal(cd.raw["Latest checkpoint's oldestCommitTsXid"], '0');
  });

  it('names the missing line when the output is not pg_controldata', () => {
    assert.throws(() => parseControlData('Database system identifier: 1\n'), /no "Database cluster state" line/);
  });

  it("checks system ids as Patroni does: digits, at least 10", () => {
    assert.ok(isValidSystemId('7713141708441873524'));
    assert.ok(!isValidSystemId('123'));
    assert.ok(!isValidSystemId('77131417084418735x4'));
    assert.ok(!isValidSystemId(undefined));
  });
});
