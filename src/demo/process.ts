import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, fchownSync } from 'node:fs';

export interface Managed {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns a long-running process with output to a log file, stoppable by PID. */
export function spawnManaged(
  name: string,
  command: string,
  args: string[],
  opts: { logFile: string; env: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string },
): Managed {
  const fd = openSync(opts.logFile, 'a');
  // The log belongs to the process's user, so that the daemon restarted by hand (as that user) can append to it.
  if (opts.uid !== undefined && opts.gid !== undefined && process.getuid?.() === 0) fchownSync(fd, opts.uid, opts.gid);
  const child = spawn(command, args, {
    stdio: ['ignore', fd, fd],
    env: opts.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pid = child.pid;
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    name,
    pid,
    child,
    exited,
    async stop(graceMs = 30_000) {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => !gone && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
