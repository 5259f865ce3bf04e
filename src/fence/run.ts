/**
 * The fence process' loop (effects only; the decision is plan.ts): read the grant and the postmaster, decide, send
 * the signal, sleep. It shares nothing with the agent but two files, so a dead or frozen agent cannot stall it.
 */
import type { Logger } from '../log/logger';
import * as files from './files';
import { decideFence, initialFenceMemory, type StopStep } from './plan';

/** What the loop reads and writes on its host (files.ts); a seam so the simulator runs this loop on simulated files. */
export type FenceFiles = Pick<typeof files, 'childrenOf' | 'postmasterPid' | 'readGrant' | 'removePidFile' | 'runningFence' | 'writePidFile'>;

export interface FenceRunOptions {
  dir: string;
  dataDir: string;
  logger: Logger;
  /** CLOCK_MONOTONIC ns: process.hrtime.bigint(), the clock the agent's deadline is written on. */
  nowNs: () => bigint;
  /** A timer that keeps the process alive (the fence has nothing else to wait on). */
  sleep: (ms: number) => Promise<void>;
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** Told to stop (SIGTERM to the fence): leaves postgres as it is. */
  stopped: () => boolean;
  /** Default: the real files (files.ts) and this process' pid. */
  files?: FenceFiles;
  pid?: number;
}

const SIGNALS: Record<Exclude<StopStep, 'kill'>, NodeJS.Signals> = { fast: 'SIGINT', immediate: 'SIGQUIT' };

/** Runs until the plan says exit; returns the reason. */
export async function runFence(o: FenceRunOptions): Promise<string> {
  const f = o.files ?? files;
  const self = o.pid ?? process.pid;
  const other = f.runningFence(o.dir, o.dataDir);
  if (other !== undefined && other !== self) {
    o.logger.info({ fencePid: other }, 'another fence holds this data directory; exiting');
    return `fence ${other} runs already`;
  }
  f.writePidFile(o.dir, self);
  let mem = initialFenceMemory();
  let lastSeq = -1;
  try {
    while (!o.stopped()) {
      const grant = f.readGrant(o.dir);
      const pm = f.postmasterPid(o.dataDir);
      const d = decideFence({ nowNs: o.nowNs(), grant, postmaster: pm }, mem);
      mem = d.memory;
      if (grant && grant.seq !== lastSeq && lastSeq === -1) o.logger.info({ seq: grant.seq, agentPid: grant.agentPid, reason: d.act.reason }, 'fence holding the grant');
      if (grant) lastSeq = grant.seq;
      if (d.act.kind === 'exit') {
        o.logger.info({ reason: d.act.reason }, 'fence exiting');
        return d.act.reason;
      }
      if (d.act.kind === 'signal') {
        o.logger.warn({ step: d.act.step, postmaster: d.act.pid, reason: d.act.reason }, 'stopping postgres: the agent did not renew the grant');
        sendStop(o, f, d.act.pid, d.act.step);
      }
      await o.sleep(d.act.nextCheckMs);
    }
    o.logger.info('fence told to stop; postgres left as it is');
    return 'stopped by signal';
  } finally {
    f.removePidFile(o.dir, self);
  }
}

/** SIGKILL goes to the postmaster and every child (listed first: once the postmaster is gone they are orphans). */
function sendStop(o: FenceRunOptions, f: FenceFiles, pm: number, step: StopStep): void {
  const targets = step === 'kill' ? [...f.childrenOf(pm), pm] : [pm];
  const sig = step === 'kill' ? 'SIGKILL' : SIGNALS[step];
  for (const pid of targets) {
    try {
      o.kill(pid, sig);
    } catch (err) {
      o.logger.warn({ err, pid, signal: sig }, 'signalling a postgres process failed');
    }
  }
}
