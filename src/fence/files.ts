/**
 * The fence's files, shared by the agent (writer of the grant, finder of a running fence) and the fence process
 * (reader of the grant, holder of the pid file). They live in a directory beside the data directory, never inside
 * it: pg_basebackup and pg_rewind copy unknown files of a data directory, and a replica must not inherit its
 * leader's grant or pid file.
 *
 * The channel is a file replaced by rename, not a pipe or a socket: a write never waits on the fence (a stopped or
 * slow fence cannot fill a buffer and block the agent), it outlives both processes (a restarted agent renews the
 * same grant the old fence reads: the hand-over needs no reconnect), and `cat grant.json` shows the state. The
 * fence re-reads it every POLL_MS (plan.ts). No fsync: both processes run on this host, and the page cache is what
 * the fence reads; a host crash ends the fence and postgres alike.
 */
import { readFileSync, renameSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import type { Grant } from './plan';

export const GRANT_FILE = 'grant.json';
export const PID_FILE = 'fence.pid';
export const LOG_FILE = 'fence.log';

/** `<parent>/<name>.pgha-fence` for data directory `<parent>/<name>`. */
export function fenceDirFor(dataDir: string): string {
  return join(dirname(dataDir), `${basename(dataDir)}.pgha-fence`);
}

export function writeGrant(dir: string, grant: Grant): void {
  const tmp = join(dir, `${GRANT_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(grant)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, GRANT_FILE));
}

/** undefined: no grant file, or one that does not parse (a grant is replaced whole by rename, so never half). */
export function readGrant(dir: string): Grant | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, GRANT_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const g = JSON.parse(text) as Grant;
    return typeof g.deadlineNs === 'string' && typeof g.seq === 'number' ? g : undefined;
  } catch {
    return undefined;
  }
}

export function removeGrant(dir: string): void {
  rmSync(join(dir, GRANT_FILE), { force: true });
}

/** The live process a pid file names, when it is a fence for this data directory; else undefined (stale, reused pid). */
export function runningFence(dir: string, dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, PID_FILE), 'utf8').trim());
  } catch {
    return undefined;
  }
  return pid && isFence(pid, dataDir) ? pid : undefined;
}

/** Whether `pid` is a live fence process for `dataDir` (its command line says so). */
export function isFence(pid: number, dataDir: string): boolean {
  const cmd = cmdline(pid);
  return cmd !== undefined && cmd.includes(' fence ') && cmd.includes(dataDir) && !zombie(pid);
}

export function writePidFile(dir: string, pid: number): void {
  const tmp = join(dir, `${PID_FILE}.${pid}.tmp`);
  writeFileSync(tmp, `${pid}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, PID_FILE));
}

/** Removes the pid file only while it still names `pid` (a newer fence's file is left alone). */
export function removePidFile(dir: string, pid: number): void {
  try {
    if (Number(readFileSync(join(dir, PID_FILE), 'utf8').trim()) === pid) rmSync(join(dir, PID_FILE), { force: true });
  } catch {
    // no pid file: nothing to remove
  }
}

/** A process' command line with NULs as spaces; undefined when it is gone. */
export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}

/** The postmaster named by the data directory's postmaster.pid, when that process is alive and is postgres. */
export function postmasterPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!pid) return undefined;
  const cmd = cmdline(pid);
  // A crashed postmaster leaves its pid file; the pid may since belong to another program.
  return cmd && /postgres|postmaster/.test(cmd) && !/ fence /.test(cmd) && !zombie(pid) ? pid : undefined;
}

function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** The direct children of `ppid` (a postmaster's backends and auxiliary processes). */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
