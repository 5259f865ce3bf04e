/**
 * A watch-fed copy of the cluster prefix, for the agent (early wake-ups) and the router (routing table):
 * one list, then a watch from the next revision; on a lost or compacted watch, list again (with backoff) and
 * watch again. Listeners get the new view and the keys that changed.
 *
 * lastContactMs() answers "as of when is this view known to be current?", which is what the router's write
 * bound needs (the leader's lease cannot have expired unseen). An idle watch proves nothing, and a read that
 * succeeds on another endpoint does not prove the watch is still delivering. So every `contactIntervalMs` the
 * cache does a linearizable read of one key (revision R, sent at time T), then asks the watch stream for its
 * progress; once the watch has delivered everything up to R and the view holds what the read returned (on etcd
 * before 3.4.25/3.5.8 a requested progress answer carries the member's current revision and is sent outside the
 * event stream, so it can overtake events still on their way: etcd #15220), the view was current at T: contact = T.
 * A list counts from its send time, a watch event from its arrival. A watch that does not catch up within
 * `stallMs` (etcd member partitioned or frozen behind a stream) is dropped and the cache lists again.
 */
import { parseClusterView, type ClusterView, type KeyValue } from '../model/cluster';
import type { ClusterKeys } from '../model/keys';
import type { Logger } from '../log/logger';
import type { ClusterStore, Watch, WatchEvent } from './store';
import { realScheduler, type Scheduler } from '../lib/clock';

/** starting: before the first list; live: watching; relisting: the watch was lost; down: etcd did not answer. */
export type CacheState = 'starting' | 'live' | 'relisting' | 'down';
export type ChangeListener = (view: ClusterView, changedKeys: string[]) => void;

export interface ClusterCacheOptions {
  /** How often reachability and watch freshness are checked while no event arrives. Default 1000 ms. */
  contactIntervalMs?: number;
  /** How long the watch may lag a successful read before it is dropped. Default max(3 × interval, 5 s). */
  stallMs?: number;
  logger?: Logger;
  /** The relist and contact timers' scheduler (default: the real clock). */
  scheduler?: Scheduler;
  /** Monotonic ms (default: the scheduler's). */
  now?: () => number;
}

/** Re-list backoff: quick first retry, doubling to a 2 s cap so a recovering etcd is found within seconds. */
const RELIST_MIN_MS = 100;
const RELIST_MAX_MS = 2000;
/** One contact check per second: the router's write bound (ttl − margin, seconds) loses at most ~1 s to it. */
const DEFAULT_CONTACT_INTERVAL_MS = 1000;
/**
 * A progress answer takes one round trip; a watch still behind a read after a few checks is stuck. 5 s floor:
 * on a loaded machine etcd can stall for a second or two (fsync) without anything being wrong.
 */
const MIN_STALL_MS = 5000;

interface Probe {
  /** Send time of the read whose revision the watch must reach. */
  sentAtMs: number;
  revision: number;
  /** What the read returned: the view must hold it too, not only claim its revision (covers()). */
  read: { revision: number; kvs: readonly KeyValue[] };
  /** When the watch first failed to keep up with a read (stall detection). */
  behindSinceMs: number;
}

export class ClusterCache {
  private kvs = new Map<string, KeyValue>();
  private current: ClusterView | undefined;
  private watch: Watch | undefined;
  /** Callbacks of older watches are ignored: each new watch gets a new token. */
  private watchToken = 0;
  /** Every event up to this revision is in `kvs`. */
  private deliveredRevision = 0;
  /** The last list's revision, and the delete revision of each key deleted since (covers()). */
  private listedRevision = 0;
  private readonly deletedAt = new Map<string, number>();
  private probe: Probe | undefined;
  private readonly listeners = new Set<ChangeListener>();
  private stateValue: CacheState = 'starting';
  private lastContact: number | undefined;
  private stopped = true;
  private listing = false;
  private probing = false;
  private contactTimer: unknown;
  private relistTimer: unknown;
  private backoffMs = RELIST_MIN_MS;
  private readonly now: () => number;
  private readonly scheduler: Scheduler;
  private readonly contactIntervalMs: number;
  private readonly stallMs: number;
  private readonly log: Logger | undefined;

  constructor(
    private readonly store: ClusterStore,
    private readonly keys: ClusterKeys,
    opts: ClusterCacheOptions = {},
  ) {
    const scheduler = opts.scheduler ?? realScheduler;
    this.scheduler = scheduler;
    this.now = opts.now ?? (() => scheduler.now());
    this.contactIntervalMs = opts.contactIntervalMs ?? DEFAULT_CONTACT_INTERVAL_MS;
    this.stallMs = opts.stallMs ?? Math.max(3 * this.contactIntervalMs, MIN_STALL_MS);
    this.log = opts.logger?.child({ prefix: keys.prefix });
  }

  get state(): CacheState {
    return this.stateValue;
  }

  view(): ClusterView | undefined {
    return this.current;
  }

  /** Monotonic ms (the `now` clock) as of which the view is known current; undefined before the first list. */
  lastContactMs(): number | undefined {
    return this.lastContact;
  }

  onChange(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  /**
   * Lists and starts watching. Resolves after the first successful list; rejects when that list fails, but keeps
   * retrying in the background either way (until stop()).
   */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.scheduleContactCheck();
    await this.relist(true);
  }

  stop(): void {
    this.stopped = true;
    this.closeWatch();
    this.probe = undefined;
    if (this.contactTimer) this.scheduler.clearTimer(this.contactTimer);
    if (this.relistTimer) this.scheduler.clearTimer(this.relistTimer);
    this.contactTimer = this.relistTimer = undefined;
  }

  // ---- list and watch ----

  private async relist(throwOnFailure = false): Promise<void> {
    if (this.stopped || this.listing) return;
    this.listing = true;
    this.closeWatch();
    const sentAt = this.now();
    try {
      const { revision, kvs } = await this.store.readPrefix(this.keys.prefix);
      if (this.stopped) return;
      const before = this.kvs;
      const first = this.current === undefined;
      this.kvs = new Map(kvs.map((kv) => [kv.key, kv]));
      this.deliveredRevision = revision;
      this.listedRevision = revision;
      this.deletedAt.clear();
      this.probe = undefined;
      this.backoffMs = RELIST_MIN_MS;
      this.touch(sentAt);
      this.openWatch(revision + 1);
      this.setState('live');
      this.log?.debug({ revision, keys: kvs.length }, 'cluster listed');
      this.publish(revision, changedKeys(before, this.kvs), first);
    } catch (err) {
      if (this.stopped) return;
      this.setState('down', err);
      this.scheduleRelist();
      if (throwOnFailure) throw err;
    } finally {
      this.listing = false;
    }
  }

  private openWatch(fromRevision: number): void {
    const token = ++this.watchToken;
    const current = () => token === this.watchToken && !this.stopped;
    this.watch = this.store.watchPrefix(this.keys.prefix, fromRevision, {
      onEvents: (events, revision) => current() && this.apply(events, revision),
      onProgress: (revision) => current() && this.progressed(revision),
      onLost: (reason, compacted) => {
        if (!current()) return;
        this.watch = undefined;
        this.log?.warn({ reason, compacted }, 'watch lost; listing again');
        this.setState('relisting');
        this.scheduleRelist();
      },
    });
  }

  private closeWatch(): void {
    this.watchToken++;
    const w = this.watch;
    this.watch = undefined;
    w?.close();
  }

  private scheduleRelist(): void {
    if (this.stopped || this.relistTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(RELIST_MAX_MS, this.backoffMs * 2);
    this.relistTimer = this.scheduler.setTimer(() => {
      this.relistTimer = undefined;
      void this.relist();
    }, delay);
  }

  private apply(events: readonly WatchEvent[], revision: number): void {
    this.touch(this.now());
    const changed: string[] = [];
    for (const e of events) {
      if (e.type === 'delete') {
        this.kvs.delete(e.kv.key);
        this.deletedAt.set(e.kv.key, e.kv.modRevision); // a delete event's mod revision is the delete's
      } else {
        this.kvs.set(e.kv.key, e.kv);
        this.deletedAt.delete(e.kv.key);
      }
      if (!changed.includes(e.kv.key)) changed.push(e.kv.key);
    }
    this.progressed(revision);
    this.publish(revision, changed, false);
  }

  private publish(revision: number, changed: string[], first: boolean): void {
    this.current = parseClusterView(this.keys, revision, [...this.kvs.values()]);
    if (!changed.length && !first) return;
    for (const fn of this.listeners) {
      try {
        fn(this.current, changed);
      } catch (err) {
        this.log?.error({ err }, 'cluster change listener failed');
      }
    }
  }

  // ---- contact and freshness ----

  private scheduleContactCheck(): void {
    if (this.stopped) return;
    this.contactTimer = this.scheduler.setTimer(() => {
      void this.checkContact().finally(() => this.scheduleContactCheck());
    }, this.contactIntervalMs);
  }

  /** One linearizable read; then the watch must show it has delivered everything up to that read's revision. */
  private async checkContact(): Promise<void> {
    const watch = this.watch;
    if (this.stopped || this.probing || !watch) return; // without a watch, the relist loop is the check
    this.probing = true;
    const sentAt = this.now();
    try {
      const read = await this.store.readPrefix(this.keys.leader);
      const revision = read.revision;
      if (this.stopped || watch !== this.watch) return;
      this.probe = { sentAtMs: sentAt, revision, read, behindSinceMs: this.probe?.behindSinceMs ?? sentAt };
      if (this.confirmProbe()) return;
      if (this.now() - this.probe.behindSinceMs > this.stallMs) {
        this.log?.warn({ revision, delivered: this.deliveredRevision, stallMs: this.stallMs }, 'watch stalled; listing again');
        this.closeWatch();
        this.setState('relisting');
        this.scheduleRelist();
        return;
      }
      watch.requestProgress();
    } catch (err) {
      if (!this.stopped) this.setState('down', err);
    } finally {
      this.probing = false;
    }
  }

  private progressed(revision: number): void {
    if (revision > this.deliveredRevision) this.deliveredRevision = revision;
    this.confirmProbe();
  }

  private confirmProbe(): boolean {
    const p = this.probe;
    // Reaching the read's revision is not enough where a progress answer can overtake events: the view must also
    // hold what the read returned, else a lagging watch would be taken for a current one and never found stalled.
    if (!p || this.deliveredRevision < p.revision || !this.covers(p.read, this.keys.leader)) return false;
    this.probe = undefined;
    this.touch(p.sentAtMs);
    if (this.watch) this.setState('live');
    return true;
  }

  /**
   * Whether the view holds everything a linearizable read of `range` returned: each key it read at least as new,
   * each key of the range it did not read deleted. The delivered revision alone does not prove it (etcd #15220).
   */
  private covers(read: { revision: number; kvs: readonly KeyValue[] }, range: string): boolean {
    const readKeys = new Set<string>();
    for (const kv of read.kvs) {
      readKeys.add(kv.key);
      const mine = this.kvs.get(kv.key);
      const goneAt = Math.max(this.deletedAt.get(kv.key) ?? 0, this.listedRevision);
      if (mine ? mine.modRevision < kv.modRevision : goneAt < kv.modRevision) return false;
    }
    // A key the read no longer had but the view still holds at an older revision: its delete is not applied yet.
    for (const [key, mine] of this.kvs) if (key.startsWith(range) && !readKeys.has(key) && mine.modRevision <= read.revision) return false;
    return true;
  }

  private touch(atMs: number): void {
    if (this.lastContact === undefined || atMs > this.lastContact) this.lastContact = atMs;
  }

  private setState(next: CacheState, err?: unknown): void {
    const prev = this.stateValue;
    if (prev === next) return;
    this.stateValue = next;
    if (next === 'down') this.log?.warn({ err, retryMs: this.backoffMs }, 'etcd unreachable');
    else if (next === 'live' && prev === 'down') this.log?.info({}, 'etcd reachable again');
  }
}

function changedKeys(before: Map<string, KeyValue>, after: Map<string, KeyValue>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k)?.modRevision !== v.modRevision) out.push(k);
  for (const k of before.keys()) if (!after.has(k)) out.push(k);
  return out;
}
