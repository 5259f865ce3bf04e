/**
 * Is postgres running on this data dir? Read from postmaster.pid and checked against the live process,
 * because a postgres killed with SIGKILL leaves a stale pid file whose pid may since belong to anything.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';

/** postmaster.pid, line by line (src/include/utils/pidfile.h). */
export interface PostmasterPidFile {
  pid: number;
  dataDir: string;
  /** Epoch seconds. */
  startTime: number;
  port: number;
  socketDir: string;
  listenAddress: string;
  /** 'starting' | 'stopping' | 'ready' | 'standby' | '' (empty before PG10 or very early). */
  status: string;
}

export function parsePostmasterPid(text: string): PostmasterPidFile | undefined {
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return {
    pid,
    dataDir: lines[1] ?? '',
    startTime: Number(lines[2] ?? 0),
    port: Number(lines[3] ?? 0),
    socketDir: lines[4] ?? '',
    listenAddress: lines[5] ?? '',
    status: (lines[7] ?? '').trim(),
  };
}

export async function readPostmasterPid(dataDir: string): Promise<PostmasterPidFile | undefined> {
  try {
    return parsePostmasterPid(await fs.readFile(join(dataDir, 'postmaster.pid'), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** kill(pid, 0): true when the process exists (EPERM means it exists but is not ours). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True when `pid` is a live (not zombie) postgres process whose working directory is the data dir (the
 * postmaster chdirs there). Where /proc cannot tell (other OS, or no permission), kill(pid, 0) decides.
 */
export async function isPostmasterAlive(pid: number, dataDir: string): Promise<boolean> {
  if (!processExists(pid)) return false;
  let stat: string;
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return processExists(pid);
  }
  // "<pid> (<comm>) <state> ...": comm may hold spaces and parentheses, so split at the last ')'.
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const state = stat.slice(close + 2, close + 3);
  if (state === 'Z' || state === 'X') return false;
  if (comm !== 'postgres' && comm !== 'postmaster') return false;
  try {
    const [cwd, dir] = await Promise.all([fs.readlink(`/proc/${pid}/cwd`), fs.realpath(dataDir)]);
    return cwd === dir;
  } catch {
    return true;
  }
}

export interface PostmasterStatus {
  running: boolean;
  pid?: number;
  /** The pid file's content, also when stale (running false). */
  pidFile?: PostmasterPidFile;
}

/** Whether a postmaster runs on this data dir, by its pid file and the live process. */
export async function status(dataDir: string): Promise<PostmasterStatus> {
  const pidFile = await readPostmasterPid(dataDir);
  if (!pidFile) return { running: false };
  const running = await isPostmasterAlive(pidFile.pid, dataDir);
  return running ? { running, pid: pidFile.pid, pidFile } : { running, pidFile };
}
