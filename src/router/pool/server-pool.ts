/**
 * One pool of server connections (one per listener, user, database and backend member): at most `size` of them;
 * clients beyond wait in a FIFO queue, each for at most `queue_timeout`; `min_idle` kept open; an idle connection
 * is closed after `idle_timeout`, any connection once it is older than `lifetime` (when idle, never under a client).
 * Every deadline shares ONE timer on the injected Scheduler, armed for the earliest (as hold.ts does per queue), so
 * the timing is unit-tested on a manual clock. Opening a connection (connect + login) is the caller's `open`.
 *
 * Handing out: the most recently released idle connection first (PgBouncer's default, server_round_robin = 0: the
 * others stay idle long enough to be closed when the load drops). A retired pool (its member left the listener's
 * pool, or lost the leadership) hands out nothing: idle connections close at once, busy ones when released.
 */
import type { Scheduler } from '../../lib/clock';
import type { PoolConfig } from './types';

/** What the pool needs of a server connection. */
export interface PooledConnection {
  close(): void;
  /** False: the server already ended it (server-conn.ts); the pool drops it instead of handing it out. */
  usable?(): boolean;
}

export interface PoolWaiter<C> {
  granted(conn: C): void;
  /** `queue_timeout`: waited too long; `open_failed`: the connection for it could not be opened; `retired`. */
  failed(reason: 'queue_timeout' | 'open_failed' | 'retired', err?: unknown): void;
}

export interface AcquireTicket {
  /** The client went away while waiting: leave the queue, no callback. */
  cancel(): void;
}

interface Slot<C> {
  conn: C;
  createdAtMs: number;
  idleSinceMs: number;
  busy: boolean;
}

interface Queued<C> {
  waiter: PoolWaiter<C>;
  sinceMs: number;
  live: boolean;
}

/** When opening failed, the min_idle top-up waits this long before trying again (not a hot loop on a down member). */
const REOPEN_BACKOFF_MS = 1000;

export class ServerPool<C extends PooledConnection> {
  private readonly slots = new Map<C, Slot<C>>();
  /** Idle connections, the most recently released last. */
  private idleList: C[] = [];
  private queue: Queued<C>[] = [];
  private opening = 0;
  private timer: unknown;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private reopenAtMs = 0;
  paused = false;
  retired = false;

  constructor(
    private readonly clock: Scheduler,
    /** Read on each use, so a reload reaches the pool. */
    private readonly config: () => PoolConfig,
    private readonly open: () => Promise<C>,
    private readonly hooks: { opened?(c: C): void; openFailed?(err: unknown): void; changed?(): void; foundDead?(c: C): void } = {},
  ) {
    // min_idle connections open as soon as the pool exists.
    this.topUp();
  }

  get waiting(): number {
    return this.queue.filter((q) => q.live).length;
  }
  get busy(): number {
    return this.slots.size - this.idleList.length;
  }
  /** Every open server connection (figures such as the prepared statements on them). */
  connections(): IterableIterator<C> {
    return this.slots.keys();
  }
  get idle(): number {
    return this.idleList.length;
  }
  get openingCount(): number {
    return this.opening;
  }
  /** Seconds the oldest waiting client has waited. */
  maxWaitMs(): number {
    const oldest = this.queue.find((q) => q.live);
    return oldest ? this.clock.now() - oldest.sinceMs : 0;
  }

  /**
   * The common case of acquire, with nothing queued and nothing allocated (a transaction takes a connection this way
   * once per transaction): an idle connection at once when no client waits before this one, the pool is neither
   * paused nor retired; else undefined and the caller queues with acquire. No timer is re-armed: taking an idle
   * connection only removes deadlines, and a timer that fires early recomputes (fire).
   */
  take(): C | undefined {
    if (this.paused || this.retired || this.queue.length > 0) return undefined;
    for (let conn = this.idleList.pop(); conn !== undefined; conn = this.idleList.pop()) {
      if (conn.usable?.() === false) {
        this.slots.delete(conn);
        this.hooks.foundDead?.(conn);
        continue;
      }
      this.slots.get(conn)!.busy = true;
      this.topUp();
      return conn;
    }
    return undefined;
  }

  acquire(waiter: PoolWaiter<C>): AcquireTicket {
    if (this.retired) {
      waiter.failed('retired');
      return { cancel: () => undefined };
    }
    const entry: Queued<C> = { waiter, sinceMs: this.clock.now(), live: true };
    this.queue.push(entry);
    this.dispatch();
    return {
      cancel: () => {
        if (!entry.live) return;
        entry.live = false;
        this.queue = this.queue.filter((q) => q.live);
        this.schedule();
      },
    };
  }

  /** A client is done with `conn`: back to the idle list (`reusable`), else closed. */
  release(conn: C, reusable: boolean): void {
    const slot = this.slots.get(conn);
    if (!slot || !slot.busy) return;
    slot.busy = false;
    const now = this.clock.now();
    const lifetime = this.config().lifetimeMs;
    if (!reusable || this.retired || (lifetime > 0 && now - slot.createdAtMs >= lifetime)) {
      this.drop(conn);
    } else {
      slot.idleSinceMs = now;
      this.idleList.push(conn);
      if (this.queue.length === 0 && !this.paused && this.laterThanTimer(slot)) {
        // Nobody waits: dispatch would hand out nothing, and the armed timer already comes first (the per-transaction
        // release of transaction pooling skips the recomputation over every idle connection).
        this.hooks.changed?.();
        return;
      }
    }
    this.dispatch();
  }

  /**
   * True when the timer armed now comes no later than `slot`'s own idle and lifetime deadlines, and `slot` did not
   * make the idle deadlines count (idle connections above min_idle before it too): schedule would keep the timer.
   */
  private laterThanTimer(slot: Slot<C>): boolean {
    if (!Number.isFinite(this.timerAtMs)) return false;
    const { idleTimeoutMs, lifetimeMs, minIdle } = this.config();
    if (idleTimeoutMs > 0 && (this.idleList.length - 1 <= minIdle || slot.idleSinceMs + idleTimeoutMs < this.timerAtMs)) return false;
    return !(lifetimeMs > 0 && slot.createdAtMs + lifetimeMs < this.timerAtMs);
  }

  /** `conn` closed on its own (server gone): forget it. */
  lost(conn: C): void {
    if (!this.slots.has(conn)) return;
    this.slots.delete(conn);
    this.idleList = this.idleList.filter((c) => c !== conn);
    this.dispatch();
  }

  /** Hands out nothing more: idle connections close now, busy ones at release; waiters fail `retired`. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    for (const c of this.idleList.splice(0)) this.drop(c);
    const waiting = this.queue.filter((q) => q.live);
    this.queue = [];
    for (const q of waiting) {
      q.live = false;
      q.waiter.failed('retired');
    }
    this.schedule();
  }

  /** The busy connections (cut by the caller when fencing requires it). */
  busyConnections(): C[] {
    return [...this.slots.values()].filter((s) => s.busy).map((s) => s.conn);
  }

  /** True once retired with nothing left open: the owner may forget the pool. */
  get empty(): boolean {
    return this.slots.size === 0 && this.opening === 0 && this.waiting === 0;
  }

  /** Closes everything (router stopping). */
  closeAll(): void {
    this.retire();
    for (const c of [...this.slots.keys()]) this.drop(c);
    this.disarm();
  }

  /** Gives idle connections to waiters (oldest first), opens what is missing, and re-arms the timer. */
  dispatch(): void {
    if (!this.paused) {
      while (this.queue.length > 0 && this.idleList.length > 0) {
        if (!this.queue[0]!.live) {
          this.queue.shift();
          continue;
        }
        const conn = this.idleList.pop()!;
        if (conn.usable?.() === false) {
          // Its server ended it (a dead node) and the close has not reached `lost` yet: nothing of a transaction may
          // go there; the waiter takes the next idle connection or a new one (server-end.ts).
          this.slots.delete(conn);
          this.hooks.foundDead?.(conn);
          continue;
        }
        const q = this.queue.shift()!;
        q.live = false;
        this.slots.get(conn)!.busy = true;
        q.waiter.granted(conn);
      }
      const size = this.config().size;
      const want = this.queue.length === 0 ? 0 : this.waiting;
      while (!this.retired && this.opening < want && this.slots.size + this.opening < size) this.startOpen();
    }
    this.topUp();
    this.schedule();
    this.hooks.changed?.();
  }

  private topUp(): void {
    const { minIdle, size } = this.config();
    if (this.retired || minIdle === 0 || this.clock.now() < this.reopenAtMs) return;
    while (this.idleList.length + this.opening < minIdle && this.slots.size + this.opening < size) this.startOpen();
  }

  private startOpen(): void {
    this.opening++;
    this.open().then(
      (conn) => {
        this.opening--;
        const now = this.clock.now();
        this.slots.set(conn, { conn, createdAtMs: now, idleSinceMs: now, busy: false });
        this.hooks.opened?.(conn);
        if (this.retired) this.drop(conn);
        else this.idleList.push(conn);
        this.dispatch();
      },
      (err: unknown) => {
        this.opening--;
        this.reopenAtMs = this.clock.now() + REOPEN_BACKOFF_MS;
        this.hooks.openFailed?.(err);
        // The oldest waiter gets the failure (it carries the server's reason, e.g. a missing database); the others
        // keep waiting for a connection released or opened later.
        const q = this.queue.find((e) => e.live);
        if (q) {
          q.live = false;
          this.queue = this.queue.filter((e) => e.live);
          q.waiter.failed('open_failed', err);
        }
        this.dispatch();
      },
    );
  }

  private drop(conn: C): void {
    this.slots.delete(conn);
    conn.close();
  }

  /** The one timer: the earliest queue deadline, idle expiry, lifetime end of an idle connection, or top-up retry. */
  private schedule(): void {
    const { queueTimeoutMs, idleTimeoutMs, lifetimeMs, minIdle } = this.config();
    let at = Number.POSITIVE_INFINITY;
    const oldest = this.queue.find((q) => q.live);
    if (oldest) at = oldest.sinceMs + queueTimeoutMs;
    // min_idle connections are exempt from idle_timeout: the timer counts it only while there are more idle ones.
    const idleCounts = idleTimeoutMs > 0 && this.idleList.length > minIdle;
    for (const c of this.idleList) {
      const s = this.slots.get(c)!;
      if (idleCounts) at = Math.min(at, s.idleSinceMs + idleTimeoutMs);
      if (lifetimeMs > 0) at = Math.min(at, s.createdAtMs + lifetimeMs);
    }
    if (minIdle > 0 && !this.retired && this.idleList.length + this.opening < minIdle && this.reopenAtMs > this.clock.now()) at = Math.min(at, this.reopenAtMs);
    if (at === this.timerAtMs) return;
    this.disarm();
    if (!Number.isFinite(at)) return;
    this.timerAtMs = at;
    this.timer = this.clock.setTimer(() => this.fire(), at - this.clock.now());
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const { queueTimeoutMs, idleTimeoutMs, lifetimeMs, minIdle } = this.config();
    const expired = this.queue.filter((q) => q.live && now - q.sinceMs >= queueTimeoutMs);
    for (const q of expired) q.live = false;
    this.queue = this.queue.filter((q) => q.live);
    // Idle connections past lifetime close; past idle_timeout too, as long as min_idle of them stay (the oldest
    // released go first). A replacement for one closed by lifetime is opened by the top-up.
    const keep: C[] = [];
    let remaining = this.idleList.length;
    for (const c of this.idleList) {
      const s = this.slots.get(c)!;
      const tooOld = lifetimeMs > 0 && now - s.createdAtMs >= lifetimeMs;
      const idleTooLong = idleTimeoutMs > 0 && now - s.idleSinceMs >= idleTimeoutMs && remaining > minIdle;
      if (tooOld || idleTooLong) {
        this.drop(c);
        remaining--;
      } else {
        keep.push(c);
      }
    }
    this.idleList = keep;
    for (const q of expired) q.waiter.failed('queue_timeout');
    this.dispatch();
  }
}
