import type { Rng } from './rng';
import type { Proc, Scheduler } from './scheduler';

/** Outcome of a simulated call (a DCS request, a pg_ctl run). */
export type Res<T> = { ok: true; value: T } | { ok: false; error: Error };

export const ok = <T>(value: T): Res<T> => ({ ok: true, value });
export const fail = <T>(message: string | Error): Res<T> => ({ ok: false, error: typeof message === 'string' ? new Error(message) : message });

/** What the simulated processes need from the world around them. */
export interface SimContext {
  readonly sched: Scheduler;
  /** Draws for durations and delays (not the fault plan). */
  readonly rng: Rng;
  trace(who: string, msg: string): void;
  /** Something that may change who accepts writes or what is acknowledged happened: re-check. */
  touched(): void;
}

/** Calls `cb` as an event of `proc` at `at` (dropped when the process died, deferred while it is frozen). */
export function deliver<T>(ctx: SimContext, proc: Proc, at: number, cb: (r: Res<T>) => void, r: Res<T>): void {
  ctx.sched.at(at, () => cb(r), proc);
}
