import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimelineHistory, timelineHistoryFile } from '../../../src/postgres/sql';

describe('timeline history files', () => {
  it('names them as PostgreSQL does (%08X.history)', () => {
    assert.equal(timelineHistoryFile(2), 'pg_wal/00000002.history');
    assert.equal(timelineHistoryFile(26), 'pg_wal/0000001A.history');
  });

  it('parses parent timeline, switch LSN and reason; skips comments and blank lines', () => {
    const text = '1\t0/3000158\tno recovery target specified\n\n# comment\n2\t1/A0000000\tno recovery target specified\n';
    assert.deepEqual(parseTimelineHistory(text), [
      [1, 0x3000158, 'no recovery target specified'],
      [2, 0x1_A000_0000, 'no recovery target specified'],
    ]);
  });

  it('ignores garbage lines', () => {
    assert.deepEqual(parseTimelineHistory('garbage\n3 nonsense\n'), []);
  });
});
