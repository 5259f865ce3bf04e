/**
 * Carries out the router's side of the switchover drain (drain-plan.ts decides): plans again on every view change
 * (the drain key), every new routing table (the leader), when the paused member goes idle, and at the times the plan
 * names; pauses and resumes through Pauses, and acknowledges by writing `drained: id` to this router's key.
 */
import type { ClusterView } from '../model/cluster';
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';
import { NO_DRAIN, initialDrainMemory, planDrain, type DrainAction, type DrainMemory, type DrainSettings } from './drain-plan';
import type { Pauses } from './drainable';
import type { RouterRegistry } from './registration';

/**
 * After the router acknowledged, the old leader stops postgres and releases its key; a router that sees neither a
 * new leader nor the key's removal (the agent died mid-switchover) resumes this long after its wait ended.
 */
export const DRAIN_RESUME_MARGIN_MS = 15_000;
/** A failed acknowledgement is written again this soon: the agent waits on it. */
const ACK_RETRY_MS = 500;

export interface RouterDrainDeps {
  registry: RouterRegistry;
  view: () => ClusterView | undefined;
  /** The routing table's confirmed leader. */
  leader: () => string | undefined;
  pauses: Pauses;
  scheduler: Scheduler;
  logger: Logger;
  timeoutMs: number;
}

export class RouterDrain {
  private memory: DrainMemory = initialDrainMemory;
  private timer: unknown;
  private retryTimer: unknown;
  private acking: string | undefined;
  private lastReason = '';
  private stopped = false;
  private readonly settings: DrainSettings;

  constructor(private readonly d: RouterDrainDeps) {
    this.settings = { timeoutMs: d.timeoutMs, marginMs: DRAIN_RESUME_MARGIN_MS };
  }

  /** Plans again with the current facts and carries the steps out. Cheap: called on every view and table change. */
  evaluate(): void {
    if (this.stopped) return;
    const request = this.d.view()?.drain;
    const leader = this.d.leader();
    const busy = request ? this.d.pauses.drainable.busy(request.leader) : 0;
    const now = this.d.scheduler.now();
    const step = planDrain({ ...(request ? { request } : {}), ...(leader ? { leader } : {}), busy, nowMs: now }, this.memory, this.settings);
    this.memory = step.memory;
    if (step.reason !== this.lastReason) {
      if (this.lastReason !== '' || step.reason !== NO_DRAIN) this.d.logger.info({ reason: step.reason }, 'switchover drain');
      this.lastReason = step.reason;
    }
    for (const a of step.actions) this.run(a);
    if (this.timer) this.d.scheduler.clearTimer(this.timer);
    this.timer = step.nextCheckAtMs === undefined ? undefined : this.d.scheduler.setTimer(() => this.evaluate(), Math.max(0, step.nextCheckAtMs - now));
  }

  /** For /status: the request being carried out, and the last one acknowledged. */
  status(): { active: { id: string; member: string; acked: boolean } | null; lastAcked: string | null } {
    const a = this.memory.active;
    return { active: a ? { id: a.id, member: a.member, acked: this.memory.acked === a.id } : null, lastAcked: this.memory.acked ?? null };
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.timer, this.retryTimer]) if (t) this.d.scheduler.clearTimer(t);
    const a = this.memory.active;
    if (a) this.d.pauses.resume(a.member, 'drain');
  }

  private run(a: DrainAction): void {
    switch (a.type) {
      case 'pause':
        this.d.pauses.pause(a.member, 'drain');
        this.d.pauses.drainable.idle(a.member).then(
          () => this.evaluate(),
          (err: unknown) => this.d.logger.warn({ err, member: a.member }, 'waiting for the drained member to go idle failed; acknowledging at the timeout'),
        );
        return;
      case 'resume':
        this.d.pauses.resume(a.member, 'drain');
        return;
      case 'ack':
        this.ack(a.id);
    }
  }

  private ack(id: string): void {
    if (this.acking === id) return;
    this.acking = id;
    this.d.registry.update({ drained: id }).then(
      () => {
        this.acking = undefined;
        this.memory = { ...this.memory, acked: id };
        this.d.logger.info({ id }, 'switchover drain acknowledged');
        this.evaluate();
      },
      (err: unknown) => {
        this.acking = undefined;
        this.d.logger.warn({ err, id }, 'writing the drain acknowledgement failed; retrying');
        if (!this.stopped) this.retryTimer = this.d.scheduler.setTimer(() => this.evaluate(), ACK_RETRY_MS);
      },
    );
  }
}
