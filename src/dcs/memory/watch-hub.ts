/**
 * The event history and watches of the in-memory fake, with etcd's rules:
 * - a watch from revision R gets every matching event with revision >= R, in order, then everything later;
 * - a watch from a revision below the compaction point is lost with `compacted = true`;
 * - progress answers say that every event up to the given revision has been delivered.
 *
 * Delivery is asynchronous, in one microtask queued by the write (or by watchPrefix/requestProgress). A writer's
 * `await store.put(...)` resumes after that microtask, so once a write has returned every watcher has seen it:
 * deterministic, and still never re-entrant (a handler that writes gets its own events in a later microtask).
 */
import type { KeyValue } from '../../model/cluster';
import type { Watch, WatchEvent, WatchHandlers } from '../store';

interface HistoryEntry {
  revision: number;
  event: WatchEvent;
}

interface LiveWatch {
  prefix: string;
  /** Next revision this watch has not been given yet. */
  nextRevision: number;
  handlers: WatchHandlers;
  /** Who opened it (a MemoryClient), so one client's watches can be cut off alone. */
  owner: unknown;
  progressRequested: boolean;
  lostReason?: { reason: string; compacted: boolean };
}

export class WatchHub {
  private history: HistoryEntry[] = [];
  private watches = new Set<LiveWatch>();
  private flushQueued = false;
  private compactedBelow = 0;

  /** `revision()` is the store's current revision. */
  constructor(private readonly revision: () => number) {}

  get compactRevision(): number {
    return this.compactedBelow;
  }

  record(revision: number, events: readonly WatchEvent[]): void {
    for (const event of events) this.history.push({ revision, event: { type: event.type, kv: { ...event.kv } } });
    if (events.length) this.queueFlush();
  }

  open(prefix: string, fromRevision: number, handlers: WatchHandlers, owner: unknown): Watch {
    const w: LiveWatch = {
      prefix,
      nextRevision: fromRevision > 0 ? fromRevision : this.revision() + 1,
      handlers,
      owner,
      progressRequested: false,
    };
    this.watches.add(w);
    this.queueFlush();
    return {
      requestProgress: () => {
        if (!this.watches.has(w)) return;
        w.progressRequested = true;
        this.queueFlush();
      },
      close: () => {
        this.watches.delete(w);
      },
    };
  }

  /** A watch opened while the store is unreachable: lost right away (asynchronously, like a failed stream). */
  openLost(handlers: WatchHandlers, reason: string): Watch {
    const w: LiveWatch = { prefix: '', nextRevision: 0, handlers, owner: undefined, progressRequested: false, lostReason: { reason, compacted: false } };
    this.watches.add(w);
    this.queueFlush();
    return { requestProgress: () => undefined, close: () => this.watches.delete(w) };
  }

  /** Drops history below `revision`; watches that still needed it are lost (compacted). */
  compact(revision: number): void {
    if (revision <= this.compactedBelow) return;
    this.compactedBelow = revision;
    this.history = this.history.filter((h) => h.revision >= revision);
    this.queueFlush();
  }

  /** Every watch of `owner` (all watches when undefined) is lost with `reason`. */
  loseAll(reason: string, owner?: unknown): void {
    for (const w of this.watches) if (owner === undefined || w.owner === owner) w.lostReason ??= { reason, compacted: false };
    this.queueFlush();
  }

  closeAll(owner?: unknown): void {
    for (const w of [...this.watches]) if (owner === undefined || w.owner === owner) this.watches.delete(w);
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    const current = this.revision();
    for (const w of [...this.watches]) {
      if (!this.watches.has(w)) continue; // closed by an earlier handler in this flush
      if (!w.lostReason && w.nextRevision < this.compactedBelow) {
        w.lostReason = { reason: `revision ${w.nextRevision} is compacted (oldest available: ${this.compactedBelow})`, compacted: true };
      }
      if (w.lostReason) {
        this.watches.delete(w);
        const { reason, compacted } = w.lostReason;
        call(() => w.handlers.onLost(reason, compacted));
        continue;
      }
      const events = w.nextRevision <= current ? this.pending(w) : [];
      w.nextRevision = Math.max(w.nextRevision, current + 1);
      if (events.length) call(() => w.handlers.onEvents(events, current));
      if (w.progressRequested && this.watches.has(w)) {
        w.progressRequested = false;
        call(() => w.handlers.onProgress?.(current));
      }
    }
  }

  private pending(w: LiveWatch): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (let i = this.firstAtOrAfter(w.nextRevision); i < this.history.length; i++) {
      const h = this.history[i]!;
      if (h.event.kv.key.startsWith(w.prefix)) out.push({ type: h.event.type, kv: copy(h.event.kv) });
    }
    return out;
  }

  /** Index of the first history entry with revision >= `revision` (history is in revision order). */
  private firstAtOrAfter(revision: number): number {
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function copy(kv: KeyValue): KeyValue {
  return { ...kv };
}

/** A handler that throws is a bug in the caller: fail loudly (uncaught), but not in the middle of a delivery. */
function call(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}
