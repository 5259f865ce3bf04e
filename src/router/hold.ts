/**
 * Holding new connections while no backend qualifies (an election, a switchover): FIFO per listener, each with
 * its own deadline. One timer per queue, armed for the earliest deadline. The clock is injected so the timing is
 * unit-tested without waiting.
 */

import type { Scheduler } from '../lib/clock';

interface Entry<T> {
  item: T;
  addedAtMs: number;
  deadlineMs: number;
  live: boolean;
}

export interface HoldTicket {
  /** Removes the entry (client went away); no callback runs. */
  cancel(): void;
}

export class HoldQueue<T> {
  private entries: Entry<T>[] = [];
  private timer: unknown;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private liveCount = 0;

  constructor(
    private readonly clock: Scheduler,
    /** Called once per entry whose deadline passed, with how long it waited. */
    private readonly onExpire: (item: T, waitedMs: number) => void,
  ) {}

  get size(): number {
    return this.liveCount;
  }

  /** The items still waiting, oldest first. */
  *live(): IterableIterator<T> {
    for (const e of this.entries) if (e.live) yield e.item;
  }

  add(item: T, timeoutMs: number): HoldTicket {
    const now = this.clock.now();
    const entry: Entry<T> = { item, addedAtMs: now, deadlineMs: now + timeoutMs, live: true };
    this.entries.push(entry);
    this.liveCount++;
    if (entry.deadlineMs < this.timerAtMs) this.arm(entry.deadlineMs);
    return {
      cancel: () => {
        if (!entry.live) return;
        entry.live = false;
        this.liveCount--;
        this.compactIfSparse();
      },
    };
  }

  /**
   * Offers waiting items, oldest first, to `dispatch`; an item for which it returns true leaves the queue.
   * Stops at the first item it refuses when `stopAtFirstRefusal` (FIFO fairness), else tries them all.
   * Returns how many left, with how long each waited via `onDispatched`.
   */
  drain(dispatch: (item: T, waitedMs: number) => boolean, stopAtFirstRefusal = true): number {
    const now = this.clock.now();
    let taken = 0;
    // Copy: dispatch may add to the queue (a backend connect failure re-queues).
    const snapshot = this.entries;
    this.entries = [];
    let i = 0;
    for (; i < snapshot.length; i++) {
      const e = snapshot[i]!;
      if (!e.live) continue;
      if (dispatch(e.item, now - e.addedAtMs)) {
        e.live = false;
        this.liveCount--;
        taken++;
      } else {
        this.entries.push(e);
        if (stopAtFirstRefusal) {
          i++;
          break;
        }
      }
    }
    for (; i < snapshot.length; i++) if (snapshot[i]!.live) this.entries.push(snapshot[i]!);
    // Entries added during dispatch went into the fresh array first: keep the old ones ahead of them.
    this.entries.sort((a, b) => a.addedAtMs - b.addedAtMs);
    if (this.liveCount === 0) this.disarm();
    return taken;
  }

  /** Expires everything (router stopping): onExpire for each. */
  expireAll(): void {
    const now = this.clock.now();
    const all = this.entries;
    this.entries = [];
    this.disarm();
    for (const e of all) {
      if (!e.live) continue;
      e.live = false;
      this.liveCount--;
      this.onExpire(e.item, now - e.addedAtMs);
    }
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const keep: Entry<T>[] = [];
    const expired: Entry<T>[] = [];
    for (const e of this.entries) {
      if (!e.live) continue;
      if (e.deadlineMs <= now) expired.push(e);
      else keep.push(e);
    }
    this.entries = keep;
    for (const e of expired) {
      e.live = false;
      this.liveCount--;
    }
    const earliest = keep.reduce((m, e) => Math.min(m, e.deadlineMs), Number.POSITIVE_INFINITY);
    if (Number.isFinite(earliest)) this.arm(earliest);
    for (const e of expired) this.onExpire(e.item, now - e.addedAtMs);
  }

  private arm(atMs: number): void {
    this.disarm();
    this.timerAtMs = atMs;
    this.timer = this.clock.setTimer(() => this.fire(), atMs - this.clock.now());
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
  }

  private compactIfSparse(): void {
    if (this.liveCount === 0) {
      this.entries = [];
      this.disarm();
    } else if (this.entries.length > 64 && this.liveCount < this.entries.length / 2) {
      this.entries = this.entries.filter((e) => e.live);
    }
  }
}
