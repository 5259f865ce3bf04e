/**
 * Where a checkpoint record ends, read with pg_waldump, as Patroni's rewind check does (rewind.py
 * _get_checkpoint_end): the record's size depends on the major version and the platform's alignment, so it is read,
 * not computed. Asked for two records from a clean shutdown's checkpoint, pg_waldump prints the checkpoint and fails
 * on the next one with "error in WAL record at <checkpoint>: invalid record length at <end>: wanted 24, got 0".
 */
import { join } from 'node:path';
import { formatLsn, parseLsn, type Lsn } from '../model/lsn';
import { PostgresToolError } from './errors';
import { runTool, type PgTools } from './tool';

/** The end of the checkpoint record at `lsn` from pg_waldump's error output; undefined when it says something else. */
export function checkpointEndFromWaldump(output: string, lsn: Lsn): Lsn | undefined {
  const m = /error in WAL record at ([0-9A-Fa-f]+\/[0-9A-Fa-f]+): invalid record length at ([0-9A-Fa-f]+\/[0-9A-Fa-f]+): wanted \d+, got 0/.exec(output);
  if (!m || parseLsn(m[1]!) !== lsn) return undefined;
  const end = parseLsn(m[2]!);
  return end > lsn ? end : undefined;
}

/** `pg_waldump -p <data_dir>/pg_wal -t <timeline> -s <lsn> -n 2`; undefined when the end cannot be told. */
export async function checkpointRecordEnd(tools: PgTools, dataDir: string, timeline: number, lsn: Lsn): Promise<Lsn | undefined> {
  const args = ['-p', join(dataDir, 'pg_wal'), '-t', String(timeline), '-s', formatLsn(lsn), '-n', '2'];
  try {
    const r = await runTool(tools, 'pg_waldump', args, { timeoutMs: 30_000 });
    return checkpointEndFromWaldump(r.stderr, lsn);
  } catch (err) {
    return err instanceof PostgresToolError ? checkpointEndFromWaldump(err.outputTail, lsn) : undefined;
  }
}
