/**
 * Findings E and G (test/support/sim/FINDINGS.md): a promotion must not reuse a timeline number (and switch point) the
 * cluster already used, and the `history` key keeps every timeline number in use.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  announcedHistory, historyAfterPromotion, historyKeyLines, promotionAnnouncement, timelineFilesToWrite,
} from '../../../src/agent/timeline-history';
import type { HistoryLine } from '../../../src/model/cluster';

const replicaAt = (timeline: number, lsn: number) => ({ reachable: true, inRecovery: true, timeline, receiveLsn: lsn, replayLsn: lsn });

describe('timelineFilesToWrite: history files a promoting replica needs', () => {
  it('nothing when the cluster never left my timeline (an ordinary failover)', () => {
    assert.deepEqual(timelineFilesToWrite([[1, 100, 'r']], replicaAt(2, 500)), []);
    assert.deepEqual(timelineFilesToWrite(undefined, replicaAt(1, 500)), []);
  });

  it('the cluster left my timeline at my position: the next timeline file, so postgres picks a new number', () => {
    assert.deepEqual(timelineFilesToWrite([[1, 500, 'r']], replicaAt(1, 500)), [[2, [[1, 500]]]]);
  });

  it('left before my position: every timeline up to the newest in use (a member key may know a newer one)', () => {
    const history: HistoryLine[] = [[1, 300, 'r'], [2, 700, 'r']];
    assert.deepEqual(timelineFilesToWrite(history, replicaAt(1, 500), 4), [
      [2, [[1, 300]]], [3, [[1, 300], [2, 700]]], [4, [[1, 300], [2, 700]]],
    ]);
  });

  it('left exactly at my position: never a file whose history forks later; every switch after it is at my position', () => {
    // Timeline 3's own file ([1, 500], [2, 700]) would become the recovery target with a history my WAL does not
    // have. Stopping before it (as before) promoted to 3, a number in use with another history, which a replica of
    // that timeline 3 streams from without any check. Here postgres promotes to 4: [1, 500], [2, 500], [3, 500].
    const history: HistoryLine[] = [[1, 500, 'r'], [2, 700, 'r']];
    assert.deepEqual(timelineFilesToWrite(history, replicaAt(1, 500)), [[2, [[1, 500]]], [3, [[1, 500], [2, 500]]]]);
  });

  it('left after my position: the files of the numbers in use, each switching at my position', () => {
    assert.deepEqual(timelineFilesToWrite([[1, 900, 'r']], replicaAt(1, 500)), [[2, [[1, 500]]]]);
  });

  it('seed 8549: a skipped number whose real fork the key no longer holds is not reused', () => {
    // n2 promoted 1 -> 2 at 153000; n1, on timeline 1 at 237000, skipped 2 and promoted to 3; the key now holds n1's
    // history. n3, still on timeline 1 at 153000 (n2's very fork point), promotes: with no file postgres took 2 again,
    // with n2's history [1, 153000], and n2's diverged WAL could not be told apart.
    const history: HistoryLine[] = [[1, 237000, 'r'], [2, 237000, 'skipped: the number was used by another member']];
    assert.deepEqual(timelineFilesToWrite(history, replicaAt(1, 153000), 3), [
      [2, [[1, 153000]]], [3, [[1, 153000], [2, 153000]]],
    ]);
  });

  it('my ancestors are kept in front of the switches at my position', () => {
    const history: HistoryLine[] = [[1, 100, 'r'], [2, 900, 'r']];
    assert.deepEqual(timelineFilesToWrite(history, replicaAt(2, 500), 0, [[1, 100, 'x']]), [[3, [[1, 100], [2, 500]]]]);
  });

  it('seed 9261: my own ancestors, not the key\'s, and nothing when my history is unknown', () => {
    // n3 promoted 3 -> 4 at 397000; n1, on 3 at 445000, skipped 4 and promoted to 5: the key says 3 left at 445000 and
    // 4 was skipped there. n3 (timeline 4 at 439000) promotes again: a file with the key's [3, 445000] became its
    // history, and n2, on timeline 3 at 398000 (past n3's real fork), followed it with diverged WAL.
    const history: HistoryLine[] = [[1, 224000, 'r'], [2, 377000, 'r'], [3, 445000, 'r'], [4, 445000, 'skipped: the number was used by another member']];
    const own: Array<[number, number, string]> = [[1, 224000, 'x'], [2, 377000, 'x'], [3, 397000, 'x']];
    assert.deepEqual(timelineFilesToWrite(history, replicaAt(4, 439000), 0, own), [
      [5, [[1, 224000], [2, 377000], [3, 397000], [4, 439000]]],
    ]);
    assert.deepEqual(timelineFilesToWrite(history, replicaAt(4, 439000)), []);
  });

  it('never for a primary', () => {
    assert.deepEqual(timelineFilesToWrite([[1, 500, 'r']], { reachable: true, inRecovery: false, timeline: 1, replayLsn: 500 }), []);
  });
});

describe('promotionAnnouncement: the key line a promotion writes before pg_ctl promote', () => {
  it('an ordinary failover: my timeline ends here (postgres takes the next number)', () => {
    assert.equal(promotionAnnouncement([[1, 100, 'r']], [], 2), 2);
  });

  it('nothing when the key already left my timeline and no file is written', () => {
    assert.equal(promotionAnnouncement([[1, 100, 'r'], [2, 300, 'r']], [], 2), undefined);
  });

  it('seed 10793: a promotion that skips numbers records the one it takes', () => {
    // n1 (timeline 1 at 203000) wrote the files of 2, 3 and 4 and promoted to 5, then lost etcd before writing the
    // history key; n3, at the same position with the same key, wrote the same files and took 5 with the same history.
    const history: HistoryLine[] = [[1, 159000, 'r'], [2, 172000, 'r'], [3, 209000, 'r']];
    const files = timelineFilesToWrite(history, replicaAt(1, 203000));
    assert.deepEqual(files.map(([tl]) => tl), [2, 3, 4]);
    assert.equal(promotionAnnouncement(history, files, 1), 4);
    const announced: HistoryLine[] = [...history, [4, 203000, 'r']];
    assert.deepEqual(timelineFilesToWrite(announced, replicaAt(1, 203000)).map(([tl]) => tl), [2, 3, 4, 5]);
  });
});

describe('historyKeyLines: the history key from the leader\'s timeline history file', () => {
  it('keeps the reason, time and member the key had for a timeline, with the file\'s LSN', () => {
    const current: HistoryLine[] = [[1, 90, 'failover', '2026-01-01T00:00:00Z', 'db2']];
    assert.deepEqual(historyKeyLines([[1, 100, 'no recovery target specified']], 2, current), [[1, 100, 'failover', '2026-01-01T00:00:00Z', 'db2']]);
  });

  it('records a timeline number the history skipped, so the newest one in use stays known', () => {
    assert.deepEqual(historyKeyLines([[1, 100, 'x']], 3, []), [[1, 100, 'x'], [2, 100, 'skipped: the number was used by another member']]);
  });
});

describe('a history key holding garbage lines (hand-written, or another tool\'s)', () => {
  const garbage = [[1, 300, 'r'], 'garbage', null, {}] as unknown as HistoryLine[];

  it('timelineFilesToWrite reads the list lines only', () => {
    assert.deepEqual(timelineFilesToWrite(garbage, replicaAt(1, 500), 2), [[2, [[1, 300]]]]);
  });

  it('historyKeyLines rebuilds the key from the file, keeping what the list lines said', () => {
    assert.deepEqual(historyKeyLines([[1, 300, 'file']], 2, garbage), [[1, 300, 'r']]);
  });
});

describe('announcedHistory: the history key before pg_ctl promote', () => {
  it('an ordinary failover appends the line of the timeline I leave, with my position, reason, time and name', () => {
    assert.deepEqual(announcedHistory([[1, 100, 'r']], [], 2, 500, 'failover', 'T', 'ty-db2'), [[1, 100, 'r'], [2, 500, 'failover', 'T', 'ty-db2']]);
  });

  it('no write when the key already counts the number I would take', () => {
    assert.equal(announcedHistory([[1, 100, 'r'], [2, 300, 'r']], [], 2, 500, 'failover', 'T', 'ty-db2'), undefined);
  });
});

describe('historyAfterPromotion: the history key once postgres runs on its new timeline', () => {
  const base = { current: [[1, 100, 'old', 'T0', 'ty-db1']] as HistoryLine[], oldTimeline: 2, positionBefore: 500, reason: 'failover', at: 'T1', member: 'ty-db2' };

  it("follows the new timeline's history file: the switch point postgres really took, reasons of known lines kept", () => {
    const own: Array<[number, number, string]> = [[1, 100, 'x'], [2, 520, 'x']];
    assert.deepEqual(historyAfterPromotion({ ...base, own, newTimeline: 3 }), [[1, 100, 'old', 'T0', 'ty-db1'], [2, 520, 'failover', 'T1', 'ty-db2']]);
  });

  it('a promotion past numbers in use: the file\'s lines, its own line, then the numbers it skipped after its switch', () => {
    const own: Array<[number, number, string]> = [[1, 100, 'x'], [2, 500, 'x'], [3, 500, 'x']];
    assert.deepEqual(historyAfterPromotion({ ...base, own, newTimeline: 5 }), [
      [1, 100, 'old', 'T0', 'ty-db1'], [2, 500, 'x'], [3, 500, 'failover', 'T1', 'ty-db2'],
      [4, 500, 'skipped: the number was used by another member'],
    ]);
  });

  it('without the history file: the key as it was plus the position seen before promoting', () => {
    assert.deepEqual(historyAfterPromotion({ ...base, own: [], newTimeline: 3 }), [[1, 100, 'old', 'T0', 'ty-db1'], [2, 500, 'failover', 'T1', 'ty-db2']]);
  });
});
