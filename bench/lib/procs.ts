/**
 * Processes for the benchmarks: CPU and memory of a whole process tree from /proc (the router with workers is
 * several processes), waiting for a port, stopping a child by its PID.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** Fields after the `(comm)` of /proc/<pid>/stat; comm may contain spaces, so split after the last ')'. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // exited meanwhile
  }
}

/** `root` and every descendant (children, their children…), from the ppid field of each /proc/<pid>/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** utime + stime in seconds, summed over the process tree of `root` (all threads of each process included). */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

export interface TreeMemory {
  processes: number;
  /** Sum of VmRSS: counts pages shared between processes (node's code) once per process. */
  rssMb: number;
  /** Sum of Pss (proportional share): shared pages split between their processes, so the sum is not inflated. */
  pssMb: number;
}

export function treeMemory(root: number): TreeMemory {
  const pids = processTree(root);
  let rssKb = 0;
  let pssKb = 0;
  for (const pid of pids) {
    try {
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      pssKb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return { processes: pids.length, rssMb: rssKb / 1024, pssMb: pssKb / 1024 };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((r) => {
    const s = connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      r(true);
    });
    s.on('error', () => r(false));
  });
}

/** Resolves once `port` accepts; rejects after the deadline, or as soon as `child` exits (it will never open). */
export async function waitPort(port: number, child?: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`process ${child.pid} exited (${child.exitCode ?? child.signalCode}) before port ${port} opened`);
    if (await portOpen(port)) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await sleep(100);
  }
}

/** SIGTERM, SIGKILL after 10 s; resolves once the child has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}
