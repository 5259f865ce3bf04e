/**
 * The agent's side of the fence (effects): finds or starts the fence process of this data directory, writes its
 * grant after every successful keepalive while armed, disarms it. Every call returns at once: writing the grant is
 * a small local file replaced by rename (files.ts says why not a pipe), and the fence is spawned detached, never
 * awaited.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';
import type { ArmMode } from './arm-plan';
import { isFence, LOG_FILE, runningFence, writeGrant } from './files';
import type { Grant } from './plan';

/**
 * The keeper's effects on its host: the files (files.ts) and a detached spawn. A seam so the simulator can run this
 * very keeper against a simulated fence process (test/support/sim/fence.ts); production uses processHost().
 */
export interface FenceHost {
  /** Written into the grant, for the fence's log. */
  readonly agentPid: number;
  /** Creates the fence directory (mode 0700) if missing. */
  ensureDir(dir: string): void;
  writeGrant(dir: string, grant: Grant): void;
  runningFence(dir: string, dataDir: string): number | undefined;
  isFence(pid: number, dataDir: string): boolean;
  /** Starts a fence process for this directory, detached; its pid. */
  spawn(): number | undefined;
}

export interface FenceKeeperOptions {
  dir: string;
  dataDir: string;
  /** argv that runs `pgha` (e.g. [node, bin/pgha.js]); the keeper appends `fence DIR DATA_DIR`. */
  command: string[];
  logger: Logger;
  scheduler: Scheduler;
  /** CLOCK_MONOTONIC ns, the clock the fence compares the deadline with (process.hrtime.bigint()). */
  monoNs: () => bigint;
  /** Default: this process, real files and spawn (processHost). */
  host?: FenceHost;
}

/** What the runner sees of the fence (a no-op where there is none: unit tests, the simulator). */
export interface FencePort {
  /** Once per HA cycle, before its actions (arm-plan.ts). */
  want(mode: ArmMode, validUntilMs: number, marginMs: number): void;
  /** After every successful keepalive or lease grant: the lease keeper's new fencing point. */
  renewed(validUntilMs: number, marginMs: number): void;
  /** The agent stops: the fence exits without touching postgres. */
  disarm(why: string): void;
}

export class FenceKeeper implements FencePort {
  private mode: ArmMode = 'off';
  private seq = 0;
  private pid: number | undefined;
  private readonly host: FenceHost;

  constructor(private readonly o: FenceKeeperOptions) {
    this.host = o.host ?? processHost(o);
    try {
      this.host.ensureDir(o.dir);
    } catch (err) {
      // Not fatal: the agent still fences itself; each renewal then fails and says so.
      o.logger.error({ err, dir: o.dir }, 'creating the fence directory failed');
    }
    // Hand-over: a fence left by our predecessor keeps holding its grant until we renew or disarm it.
    this.pid = this.host.runningFence(o.dir, o.dataDir);
    if (this.pid !== undefined) o.logger.info({ fencePid: this.pid }, 'adopted the running fence');
    // Until the first cycle says otherwise, a running fence is held (neither renewed nor disarmed).
    if (this.pid !== undefined) this.mode = 'hold';
    this.seq = Number(this.o.monoNs() / 1000n);
  }

  want(mode: ArmMode, validUntilMs: number, marginMs: number): void {
    const before = this.mode;
    if (mode === before) return;
    if (mode === 'disarm' || mode === 'off') {
      if (before !== 'off' && before !== 'disarm') this.disarm(`mode ${mode}`);
      this.mode = mode;
      return;
    }
    this.mode = mode;
    this.o.logger.info({ mode, before }, 'fence mode changed');
    if (mode === 'renew') this.renewed(validUntilMs, marginMs);
  }

  renewed(validUntilMs: number, marginMs: number): void {
    if (this.mode !== 'renew') return;
    const leftMs = validUntilMs - this.o.scheduler.now();
    // A validity already over is not renewed: the fence would stop a postgres that may not be primary yet.
    if (leftMs <= 0) return;
    try {
      this.host.writeGrant(this.o.dir, {
        seq: ++this.seq,
        deadlineNs: String(this.o.monoNs() + BigInt(Math.floor(leftMs * 1e6))),
        quitAfterMs: Math.floor(marginMs / 2),
        killAfterMs: Math.floor((marginMs * 3) / 4),
        agentPid: this.host.agentPid,
      });
      this.ensureRunning();
    } catch (err) {
      // The in-process fence (lease-keeper.ts) still stops postgres at the same point while the agent lives.
      this.o.logger.error({ err, dir: this.o.dir }, 'renewing the fence failed');
    }
  }

  disarm(why: string): void {
    this.mode = 'disarm';
    if (this.pid === undefined && this.host.runningFence(this.o.dir, this.o.dataDir) === undefined) return;
    try {
      this.host.writeGrant(this.o.dir, { seq: ++this.seq, deadlineNs: '0', quitAfterMs: 0, killAfterMs: 0, disarmed: true, agentPid: this.host.agentPid });
      this.o.logger.info({ why, fencePid: this.pid }, 'fence disarmed');
    } catch (err) {
      this.o.logger.error({ err, why }, 'disarming the fence failed');
    }
    this.pid = undefined;
  }

  /** Starts a fence when none runs (the first arming, or the last one exited after a disarm or a stop). */
  private ensureRunning(): void {
    // Our own child is checked by pid: it writes its pid file only once it has started.
    if (this.pid !== undefined && this.host.isFence(this.pid, this.o.dataDir)) return;
    this.pid = this.host.runningFence(this.o.dir, this.o.dataDir);
    if (this.pid !== undefined) return;
    this.pid = this.host.spawn();
    if (this.pid !== undefined) this.o.logger.info({ fencePid: this.pid }, 'fence started');
  }
}

/** The real host: this process' pid, the files of files.ts, and `pgha fence DIR DATA_DIR` spawned detached. */
function processHost(o: FenceKeeperOptions): FenceHost {
  return {
    agentPid: process.pid,
    ensureDir: (dir) => mkdirSync(dir, { recursive: true, mode: 0o700 }),
    writeGrant,
    runningFence,
    isFence,
    spawn: () => {
      const log = openSync(join(o.dir, LOG_FILE), 'a', 0o600);
      try {
        const [file, ...args] = o.command;
        // detached: a session and process group of its own, so a signal to the agent's group does not reach it.
        const child = spawn(file!, [...args, 'fence', o.dir, o.dataDir], { detached: true, stdio: ['ignore', log, log] });
        child.on('error', (err) => o.logger.error({ err }, 'starting the fence failed'));
        child.unref();
        return child.pid;
      } finally {
        closeSync(log);
      }
    },
  };
}
