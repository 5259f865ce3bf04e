/** One simulated machine: a postgres, an agent process (absent while crashed), its links to the DCS and peers. */
import { silentLogger } from '../../../src/log/logger';
import type { Cut } from './net';
import { SimFenceHost } from './fence';
import { ShellAgent, traceLogger, type ShellWorld } from './shell';
import { SimPostgres } from './postgres-model';
import type { SimContext } from './context';
import { newProc, type Proc } from './scheduler';

export class SimNode {
  readonly pg: SimPostgres;
  /** The fence's files and processes: they outlive the agent (not a crash of the whole node). */
  readonly fence: SimFenceHost;
  /** The running agent's process; a new one for each start after a crash. */
  agentProc: Proc;
  agent: ShellAgent | undefined;
  dcsCut: Cut = false;
  /** Cut off from the other nodes (their REST APIs, replication), not from clients. */
  isolated = false;
  replCut = false;
  /** Until when a SIGSTOP (or its aftermath) leaves this primary unfenceable: no watchdog can stop it. */
  unfencedUntil = -Infinity;
  dcsCutUntil = 0;
  isolatedUntil = 0;
  replCutUntil = 0;
  frozenUntil = 0;

  constructor(readonly name: string, private readonly ctx: SimContext, private readonly world: ShellWorld) {
    this.pg = new SimPostgres(name, ctx);
    this.fence = new SimFenceHost(ctx, name, this.pg, () => (world.verbose ? traceLogger((m) => ctx.trace(`${name}/f`, m)) : silentLogger()));
    this.agentProc = newProc(`${name}/agent`);
  }

  replBlocked(): boolean {
    return this.isolated || this.replCut;
  }

  startAgent(): void {
    this.agent = new ShellAgent(this.world, this.name, this.agentProc, this.pg, this, this.world.fence ? this.fence : undefined);
    this.ctx.trace(this.name, 'agent started');
    this.agent.start();
  }

  /** The machine dies: postgres and agent gone; it comes back after `downMs`. */
  crash(downMs: number): void {
    this.retireAgent();
    this.fence.killAll();
    this.pg.crash();
    this.ctx.trace(this.name, `node crashed (down for ${Math.round(downMs)} ms)`);
    this.ctx.sched.after(downMs, () => this.startAgent(), this.agentProc);
  }

  /** kill -9 of the agent alone: postgres and the fence keep running; the agent is started again after `downMs`. */
  killAgent(downMs: number): void {
    this.retireAgent();
    this.ctx.trace(this.name, `agent killed (down for ${Math.round(downMs)} ms)`);
    this.ctx.sched.after(downMs, () => this.startAgent(), this.agentProc);
  }

  /** The agent process exited by itself (decide's `exit`): it stays down, as under a service manager that gave up. */
  exited(): void {
    this.retireAgent();
  }

  private retireAgent(): void {
    this.ctx.sched.retire(this.agentProc);
    this.agent = undefined;
    this.agentProc = newProc(`${this.name}/agent`);
  }

  get agentFrozen(): boolean {
    return this.agentProc.frozen;
  }
}
