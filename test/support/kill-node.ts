/**
 * Kills a node as a host crash would: its agent, its postmaster and every process the postmaster started (backends,
 * walsenders, checkpointer…), all with SIGKILL. Killing the postmaster alone is not that: PostgreSQL's children call
 * setsid() (each is its own process group, so the postmaster's group is the postmaster alone), survive it, and an
 * idle backend then says FATAL "terminating connection due to unexpected postmaster exit" while busy ones finish
 * their statement, which is a different failure.
 *
 * The postmaster is stopped (SIGSTOP) first so that it forks nothing between the listing of its children and the
 * kill. `deadAt` is when every one of those processes is gone (or a zombie): the moment the node stopped serving.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait';
import { childrenOf } from '../../src/fence/files';

export interface KilledNode {
  pids: number[];
  /** performance.now() just before the first SIGKILL, and once every process was dead. */
  signalledAt: number;
  deadAt: number;
}

/** The state letter of /proc/<pid>/stat (R, S, T, Z…), or undefined when the process is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the fields after its closing one are fixed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}


const dead = (pid: number): boolean => {
  const s = procState(pid);
  return s === undefined || s === 'Z' || s === 'X';
};

export async function killNode(agentPid: number, dataDir: string): Promise<KilledNode> {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(postmaster, 'SIGSTOP');
  await waitFor('the postmaster stopped', () => procState(postmaster) === 'T', { timeoutMs: 10_000, intervalMs: 1 });
  const pids = [agentPid, postmaster, ...childrenOf(postmaster)];
  const signalledAt = performance.now();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      // A child that exited on its own since the listing (ESRCH) is as dead as wanted.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  await waitFor('every process of the node dead', () => pids.every(dead), { timeoutMs: 10_000, intervalMs: 1 });
  return { pids, signalledAt, deadAt: performance.now() };
}
