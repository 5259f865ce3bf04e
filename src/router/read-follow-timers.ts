/**
 * Applies read-follow plans (read-follow.ts): ONE timer per (listener, member) on the injected scheduler, as the
 * hold queue does (hold.ts). A grace of 0 ends the sessions in the same turn, without a timer. A later end for the
 * same pair keeps the earlier deadline (a promotion during a lag grace ends the sessions at once; a lag after a
 * promotion's end changes nothing). A member back in the pool before its deadline keeps its sessions: the timer is
 * cancelled. The ending itself (the router's kill path) and the counting are injected.
 */
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';
import type { ReadEnd, ReadFollowPlan } from './read-follow';
import type { ReadExitCause } from './types';

export interface ReadFollowEffects {
  /** Ends the open sessions of `listener` on `member` (close reason role_change); returns how many it closed. */
  endSessions(listener: string, member: string): number;
  /** pgha_router_read_sessions_ended_total{listener, reason}. */
  ended(listener: string, reason: ReadExitCause, n: number): void;
}

interface Pending {
  end: ReadEnd;
  atMs: number;
  handle: unknown;
}

export class ReadFollowTimers {
  private readonly timers = new Map<string, Pending>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly log: Logger,
    private readonly effects: ReadFollowEffects,
  ) {}

  /** Timers armed and not yet run: for tests and /status. */
  get pending(): number {
    return this.timers.size;
  }

  apply(plan: ReadFollowPlan): void {
    for (const b of plan.back) {
      const k = key(b.listener, b.member);
      const t = this.timers.get(k);
      if (!t) continue;
      this.scheduler.clearTimer(t.handle);
      this.timers.delete(k);
      this.log.info({ listener: b.listener, member: b.member, reason: t.end.reason }, 'member back in the read pool: its sessions stay');
    }
    const now = this.scheduler.now();
    for (const end of plan.end) {
      const k = key(end.listener, end.member);
      const atMs = now + end.graceMs;
      const t = this.timers.get(k);
      if (t && t.atMs <= atMs) continue;
      if (t) {
        this.scheduler.clearTimer(t.handle);
        this.timers.delete(k);
      }
      if (end.graceMs <= 0) {
        this.run(end);
        continue;
      }
      const handle = this.scheduler.setTimer(() => {
        this.timers.delete(k);
        this.run(end);
      }, end.graceMs);
      this.timers.set(k, { end, atMs, handle });
      this.log.info({ listener: end.listener, member: end.member, reason: end.reason, graceMs: end.graceMs, detail: end.sentence }, 'member left the read pool: its sessions end after the grace');
    }
  }

  /** Router stopping: no end runs any more. */
  stop(): void {
    for (const t of this.timers.values()) this.scheduler.clearTimer(t.handle);
    this.timers.clear();
  }

  private run(end: ReadEnd): void {
    const closed = this.effects.endSessions(end.listener, end.member);
    if (closed > 0) this.effects.ended(end.listener, end.reason, closed);
    const fields = { listener: end.listener, member: end.member, reason: end.reason, closed, detail: end.sentence };
    if (closed > 0) this.log.warn(fields, 'ended read sessions on a member that left the pool');
    else this.log.debug(fields, 'ended read sessions on a member that left the pool');
  }
}

const key = (listener: string, member: string): string => `${listener}\0${member}`;
