/**
 * A watch-fed copy of the cluster prefix: one list, then a watch from the next revision; re-lists when the watch is
 * lost or compacted. Used by the agent (early wake-ups) and the router (routing on events, no polling delay).
 * An idle watch says nothing about reachability, so a cheap read every `contactIntervalMs` keeps lastContactMs true.
 */
import { parseClusterView, type ClusterView, type KeyValue } from '../model/cluster';
import type { ClusterKeys } from '../model/keys';
import type { Logger } from '../log/logger';
import { describe } from '../lib/errors';
import type { ClusterStore, Watch, WatchEvent } from './store';

export type CacheState = 'starting' | 'live' | 'relisting' | 'down';
export type ChangeListener = (view: ClusterView, changedKeys: string[]) => void;

export interface ClusterCacheOptions {
  contactIntervalMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** Re-list backoff: quick first retry, doubling to a 2 s cap so a recovering etcd is found within seconds. */
const RELIST_MIN_MS = 100;
const RELIST_MAX_MS = 2000;

export class ClusterCache {
  private kvs = new Map<string, KeyValue>();
  private current: ClusterView | undefined;
  private watch: Watch | undefined;
  private listeners = new Set<ChangeListener>();
  private stateValue: CacheState = 'starting';
  private lastContact = 0;
  private stopped = false;
  private contactTimer: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private backoffMs = RELIST_MIN_MS;
  private readonly now: () => number;
  private readonly contactIntervalMs: number;

  constructor(private readonly store: ClusterStore, private readonly keys: ClusterKeys, private readonly opts: ClusterCacheOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.contactIntervalMs = opts.contactIntervalMs ?? 1000;
  }

  get state(): CacheState {
    return this.stateValue;
  }

  view(): ClusterView | undefined {
    return this.current;
  }

  /** Monotonic ms of the last successful exchange with etcd (0: never). */
  lastContactMs(): number {
    return this.lastContact;
  }

  onChange(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves after the first successful list, or rejects if it fails (the cache keeps retrying either way). */
  async start(): Promise<void> {
    this.stopped = false;
    this.scheduleContact();
    await this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    if (this.contactTimer) clearTimeout(this.contactTimer);
    if (this.relistTimer) clearTimeout(this.relistTimer);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    this.watch?.close();
    try {
      const { revision, kvs } = await this.store.readPrefix(this.keys.prefix);
      if (this.stopped) return;
      const before = this.kvs;
      this.kvs = new Map(kvs.map((kv) => [kv.key, kv]));
      this.lastContact = this.now();
      this.backoffMs = RELIST_MIN_MS;
      this.stateValue = 'live';
      this.publish(revision, changedBetween(before, this.kvs));
      this.watch = this.store.watchPrefix(this.keys.prefix, revision + 1, {
        onEvents: (events, rev) => this.apply(events, rev),
        onLost: (reason, compacted) => {
          this.opts.logger?.warn({ reason, compacted }, 'watch lost; listing again');
          this.stateValue = 'relisting';
          this.scheduleRelist();
        },
      });
    } catch (err) {
      this.stateValue = this.current ? 'relisting' : 'down';
      this.opts.logger?.warn({ err: describe(err), retryMs: this.backoffMs }, 'listing the cluster failed');
      this.scheduleRelist();
      if (!this.current) throw err;
    }
  }

  private scheduleRelist(): void {
    if (this.stopped || this.relistTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(RELIST_MAX_MS, this.backoffMs * 2);
    this.relistTimer = setTimeout(() => {
      this.relistTimer = undefined;
      void this.relist().catch(() => undefined);
    }, delay);
  }

  private apply(events: readonly WatchEvent[], revision: number): void {
    this.lastContact = this.now();
    const changed: string[] = [];
    for (const e of events) {
      if (e.type === 'delete') this.kvs.delete(e.kv.key);
      else this.kvs.set(e.kv.key, e.kv);
      changed.push(e.kv.key);
    }
    this.publish(revision, changed);
  }

  private publish(revision: number, changed: string[]): void {
    this.current = parseClusterView(this.keys, revision, [...this.kvs.values()]);
    if (!changed.length) return;
    for (const fn of this.listeners) {
      try {
        fn(this.current, changed);
      } catch (err) {
        this.opts.logger?.error({ err: describe(err) }, 'cluster change listener failed');
      }
    }
  }

  private scheduleContact(): void {
    if (this.stopped) return;
    this.contactTimer = setTimeout(() => {
      void this.store
        .get(this.keys.leader)
        .then(() => {
          this.lastContact = this.now();
          if (this.stateValue === 'down') this.scheduleRelist();
        })
        .catch(() => {
          if (this.stateValue === 'live') this.stateValue = 'down';
          this.scheduleRelist();
        })
        .finally(() => this.scheduleContact());
    }, this.contactIntervalMs);
    this.contactTimer.unref();
  }
}

function changedBetween(a: Map<string, KeyValue>, b: Map<string, KeyValue>): string[] {
  const out: string[] = [];
  for (const [k, v] of b) if (a.get(k)?.modRevision !== v.modRevision) out.push(k);
  for (const k of a.keys()) if (!b.has(k)) out.push(k);
  return out;
}
