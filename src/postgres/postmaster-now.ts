/**
 * Whether the postmaster of a data directory is alive right now, synchronously: for answers given between HA ticks
 * (the REST health checks), where the last tick's "running" can be a second or a loop_wait old. Patroni queries
 * postgres on each health request; a pid file read and kill(pid, 0) answer the same question without a connection.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePostmasterPid } from './postmaster';

export function postmasterAliveNow(dataDir: string): boolean {
  let pid: number | undefined;
  try {
    pid = parsePostmasterPid(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8'))?.pid;
  } catch {
    return false;
  }
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // A killed postmaster not yet reaped by its parent is a zombie: kill(pid, 0) still succeeds.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}
