/**
 * The one clock and scheduler of the daemons' logic. Everything that waits or measures time in the agent's shell,
 * the cluster cache and the router takes a Scheduler, so unit tests and the simulator run that code on their own
 * time; only the process entry points pass `realScheduler`.
 */

export interface Scheduler {
  /** Monotonic ms (never jumps with the wall clock): deadlines, leases, fencing. */
  now(): number;
  /** Wall-clock ms since the epoch: only for what is shown to people or compared with other hosts' times. */
  wallNow(): number;
  /** Runs `fn` once after `ms`; the handle is for clearTimer. Real timers do not keep the process alive. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Resolves after `ms` on `scheduler`'s time. */
export function sleep(scheduler: Scheduler, ms: number): Promise<void> {
  return new Promise((resolve) => {
    scheduler.setTimer(resolve, ms);
  });
}
