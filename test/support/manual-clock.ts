import type { Scheduler } from '../../src/lib/clock';

/** A manual clock for the router's timers: they fire only when the test advances time, in deadline order. */
export class ManualClock implements Scheduler {
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  constructor(public t = 0) {}
  now(): number {
    return this.t;
  }
  /** A fixed epoch plus the manual time. */
  wallNow(): number {
    return 1_700_000_000_000 + this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimer(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Timers armed and not fired yet. */
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
  }
}
