/**
 * The fence of one simulated node (src/fence/): its two files and its processes. The agent's side is the shipping
 * FenceKeeper (shell.ts gives it `keeperHost()`), the fence process is the shipping runFence loop (src/fence/run.ts,
 * deciding with plan.ts) on a process of its own on the simulated clock. Both reach the host only through this
 * class: the grant "file" and the pid "file" belong to the node, not to the agent, so a killed agent's fence keeps
 * reading the last grant and a restarted agent adopts it, as on a real host. A node crash ends every fence process
 * (the files stay, as on disk).
 */
import type { FenceHost } from '../../../src/fence/keeper';
import type { Grant } from '../../../src/fence/plan';
import { runFence, type FenceFiles } from '../../../src/fence/run';
import type { Logger } from '../../../src/log/logger';
import type { SimContext } from './context';
import type { SimPostgres } from './postgres-model';
import { newProc, type Proc } from './scheduler';

/** CLOCK_MONOTONIC ns on the simulated clock: the one clock the agent's grant and the fence compare. */
export function simMonoNs(ctx: SimContext): bigint {
  return BigInt(Math.round(ctx.sched.now * 1e6));
}

/** How long `pgha fence` takes from the spawn to its first read of the grant (a Node process starting on a busy host). */
const START_MS = [50, 600] as const;

export class SimFenceHost {
  /** grant.json: what the agent last wrote. */
  grant: Grant | undefined;
  /** fence.pid */
  pidFile: number | undefined;
  /** Times a fence sent its first stop signal (SIGINT) to a postmaster. */
  fired = 0;
  /** A fence took the pid file while another live fence held it: two fences of one data directory (never allowed). */
  doubled: string | undefined;
  private readonly live = new Map<number, Proc>();
  private pids = 0;
  private agents = 0;

  constructor(private readonly ctx: SimContext, private readonly name: string, private readonly pg: SimPostgres, private readonly logger: () => Logger) {}

  /** The FenceKeeper's host for a new agent process of this node. */
  keeperHost(): FenceHost {
    return {
      agentPid: 10_000 + ++this.agents,
      ensureDir: () => {},
      writeGrant: (_dir, grant) => {
        this.grant = grant;
      },
      runningFence: () => this.running(),
      isFence: (pid) => this.live.has(pid),
      spawn: () => this.spawn(),
    };
  }

  /** The live fence the pid file names (files.ts runningFence). */
  running(): number | undefined {
    return this.pidFile !== undefined && this.live.has(this.pidFile) ? this.pidFile : undefined;
  }

  /** How many fence processes exist (spawned and not exited): a hand-over must never leave two. */
  get processes(): number {
    return this.live.size;
  }

  /** The host crashed: every fence process is gone; its files stay. */
  killAll(): void {
    for (const proc of this.live.values()) this.ctx.sched.retire(proc);
    this.live.clear();
  }

  private spawn(): number {
    const pid = 90_000 + ++this.pids;
    const proc = newProc(`${this.name}/fence${pid}`);
    this.live.set(pid, proc);
    this.ctx.sched.after(this.ctx.rng.range(...START_MS), () => void this.run(pid, proc), proc);
    return pid;
  }

  private async run(pid: number, proc: Proc): Promise<void> {
    const reason = await runFence({
      dir: `/sim/${this.name}.pgha-fence`, dataDir: `/sim/${this.name}`, logger: this.logger(), pid,
      nowNs: () => simMonoNs(this.ctx),
      sleep: (ms) => new Promise((resolve) => this.ctx.sched.after(ms, resolve, proc)),
      kill: (target, signal) => this.kill(target, signal),
      stopped: () => false,
      files: this.files(),
    });
    this.live.delete(pid);
    this.ctx.trace(this.name, `fence ${pid} exited: ${reason}`);
  }

  private files(): FenceFiles {
    return {
      readGrant: () => this.grant,
      postmasterPid: () => (this.pg.postmasterAlive ? this.pg.pid : undefined),
      // The simulated postmaster's children die with it (pg.crash()).
      childrenOf: () => [],
      runningFence: () => this.running(),
      writePidFile: (_dir, pid) => {
        const other = this.running();
        if (other !== undefined && other !== pid) this.doubled ??= `fences ${other} and ${pid} both hold ${this.name}'s data directory`;
        this.pidFile = pid;
      },
      removePidFile: (_dir, pid) => {
        if (this.pidFile === pid) this.pidFile = undefined;
      },
    };
  }

  /** process.kill on the simulated host: only the live postmaster exists as a target (else ESRCH, as kill(2)). */
  private kill(target: number, signal: NodeJS.Signals): void {
    if (!this.pg.postmasterAlive || this.pg.pid !== target) throw new Error(`kill ESRCH ${target}`);
    this.ctx.trace(this.name, `fence: ${signal} to postmaster ${target}`);
    if (signal === 'SIGINT') {
      this.fired++;
      this.pg.signal('fast');
    } else if (signal === 'SIGQUIT') {
      this.pg.signal('immediate');
    } else {
      this.pg.crash();
    }
  }
}
