/**
 * Discrete-event scheduler with a simulated monotonic clock (ms). Events run one at a time in (time, sequence)
 * order; a handler may await the memory DCS (whose effects are synchronous) but never another event.
 *
 * An event may belong to a process (an agent, a postgres): a crashed process's events are dropped (its
 * incarnation moved on), a frozen (SIGSTOPped) process's events wait until it is thawed, then run in their
 * original order — exactly what overdue timers and buffered socket reads do when a stopped process resumes.
 *
 * The real agent's code awaits promises: after every event, every promise chain it started runs to its next wait
 * before simulated time moves on (nothing does real I/O, so this is deterministic). A killed process's chains wait
 * on events that never run: they never resume.
 */
import type { Scheduler as ClockScheduler } from '../../../src/lib/clock';

/** Wall time of simulated time 0 (what scheduled switchovers and history lines see). */
export const WALL0 = Date.parse('2026-01-01T00:00:00Z');

/** Lets every queued promise continuation run (they all run before the event loop's next turn). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
export interface Proc {
  readonly name: string;
  incarnation: number;
  frozen: boolean;
  deferred: SimEvent[];
  /** Retired (an agent process that was killed): nothing it schedules from now on runs, whatever its code still does. */
  dead?: boolean;
}

export interface SimEvent {
  at: number;
  seq: number;
  fn: () => void | Promise<void>;
  proc: Proc | undefined;
  incarnation: number;
  /** Cleared as a timer (clearTimer): never runs. */
  cancelled?: boolean;
}

export function newProc(name: string): Proc {
  return { name, incarnation: 0, frozen: false, deferred: [] };
}

export class Scheduler {
  now = 0;
  private heap: SimEvent[] = [];
  private seq = 0;
  events = 0;

  at(t: number, fn: () => void | Promise<void>, proc?: Proc): SimEvent {
    const ev: SimEvent = { at: Math.max(t, this.now), seq: this.seq++, fn, proc, incarnation: proc?.incarnation ?? 0 };
    if (proc?.dead) ev.cancelled = true;
    else this.push(ev);
    return ev;
  }

  after(ms: number, fn: () => void | Promise<void>, proc?: Proc): SimEvent {
    return this.at(this.now + Math.max(0, ms), fn, proc);
  }

  /** The src/lib/clock.ts Scheduler of one process: its timers are that process's events (dropped at a kill, held while frozen). */
  forProc(proc: Proc): ClockScheduler {
    return {
      now: () => this.now,
      wallNow: () => WALL0 + this.now,
      setTimer: (fn, ms) => this.after(ms, fn, proc),
      clearTimer: (h) => {
        if (h) (h as SimEvent).cancelled = true;
      },
    };
  }

  /** Kills a process: its pending events are dropped. */
  kill(proc: Proc): void {
    proc.incarnation++;
    proc.frozen = false;
    proc.deferred = [];
  }

  /**
   * Kills a process for good: the real agent's code is plain async code, and a promise chain of the dead agent that
   * was already resolved could still schedule timers; a retired process's timers never run. Its successor is a new Proc.
   */
  retire(proc: Proc): void {
    this.kill(proc);
    proc.dead = true;
  }

  freeze(proc: Proc): void {
    proc.frozen = true;
  }

  /** Resumes a frozen process: everything that fell due meanwhile runs now, in its original order. */
  thaw(proc: Proc): void {
    proc.frozen = false;
    const due = proc.deferred;
    proc.deferred = [];
    for (const ev of due) {
      ev.at = this.now;
      this.push(ev);
    }
  }

  /** Runs events up to `until` (inclusive); `afterEach` runs after every event that ran; stops early when it says so. */
  async runUntil(until: number, afterEach: () => boolean): Promise<void> {
    while (this.heap.length > 0 && this.heap[0]!.at <= until) {
      const ev = this.pop();
      if (ev.cancelled) continue;
      this.now = ev.at;
      if (ev.proc) {
        if (ev.incarnation !== ev.proc.incarnation) continue;
        if (ev.proc.frozen) {
          ev.proc.deferred.push(ev);
          continue;
        }
      }
      this.events++;
      const r = ev.fn();
      if (r) await r;
      // Only a process's events (timers, answers to its calls) resume the real code's promise chains; the world's
      // own events (client writes, replication steps) are synchronous, and most events are those.
      if (ev.proc) await settle();
      if (afterEach()) return;
    }
    this.now = Math.max(this.now, until);
  }

  private push(ev: SimEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): SimEvent {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
