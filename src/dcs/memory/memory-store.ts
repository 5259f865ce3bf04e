/**
 * A faithful in-process etcd for unit and simulation tests; it passes the same contract suite as EtcdStore.
 *
 * Like etcd v3: one global revision (starting at 1) bumped once per write that changes something; per-key create
 * and mod revisions; compares on a missing key see mod/create revision 0 and never match a value; a write that
 * would attach a key to an unknown lease fails (LeaseNotFoundError); a lease's expiry deletes all its keys in one
 * revision; watches from a revision; compaction.
 *
 * Deterministic: no timers. Time is the injected `now()` (ms); leases expire lazily at the start of every call,
 * or when the test calls `expireLeases()` (a simulation calls it after advancing its clock, so watchers see the
 * deletions). Watch delivery: see watch-hub.ts (one microtask after the write).
 *
 * Outages: `setAvailable(false)` makes every call throw DcsUnavailableError and loses every watch. While etcd is
 * down nothing expires, and when it comes back every lease gets a full TTL again, as etcd does when a new raft
 * leader takes over leases. `client()` gives one node its own connection, to cut that node off alone.
 */
import type { KeyValue } from '../../model/cluster';
import { DcsUnavailableError } from '../../lib/errors';
import { LeaseNotFoundError, type ClusterStore, type LeaseId, type Watch, type WatchEvent, type WatchHandlers } from '../store';
import { WatchHub } from './watch-hub';

export interface MemoryStoreOptions {
  /** Milliseconds; any origin. Monotonic in practice (tests move it forward). */
  now: () => number;
  /** etcd raises shorter TTLs to its minimum (2 s with default election settings). Default 1: no raise. */
  minTtlSeconds?: number;
}

interface Entry {
  value: string;
  createRevision: number;
  modRevision: number;
  lease: LeaseId;
}

interface Lease {
  ttlSeconds: number;
  expiresAtMs: number;
  keys: Set<string>;
}

type Change = { type: 'put'; key: string; value: string; lease: LeaseId } | { type: 'delete'; key: string };

/**
 * Lease ids above 2^53, like etcd's, so that a caller converting them to numbers breaks in unit tests already.
 * Odd step so that ids do not look sequential.
 */
const FIRST_LEASE_ID = 7_587_869_129_437_655_041n;
const LEASE_ID_STEP = 2_654_435_761n;

export class MemoryStore implements ClusterStore {
  private rev = 1;
  private readonly kv = new Map<string, Entry>();
  private readonly leases = new Map<LeaseId, Lease>();
  private nextLeaseId = FIRST_LEASE_ID;
  private up = true;
  private readonly hub = new WatchHub(() => this.rev);
  private readonly now: () => number;
  private readonly minTtlSeconds: number;

  constructor(opts: MemoryStoreOptions) {
    this.now = opts.now;
    this.minTtlSeconds = opts.minTtlSeconds ?? 1;
  }

  // ---- test controls ----

  get revision(): number {
    return this.rev;
  }

  get available(): boolean {
    return this.up;
  }

  /** etcd down (false) or back (true). Going down loses every watch; coming back renews every lease. */
  setAvailable(available: boolean): void {
    if (available === this.up) return;
    this.up = available;
    if (!available) {
      this.hub.loseAll('etcd unavailable (simulated outage)');
      return;
    }
    const now = this.now();
    for (const lease of this.leases.values()) lease.expiresAtMs = Math.max(lease.expiresAtMs, now + lease.ttlSeconds * 1000);
  }

  /** Deletes the keys of every lease whose TTL has run out by `now()` (one revision per lease). No-op while down. */
  expireLeases(): void {
    if (!this.up) return;
    const now = this.now();
    for (const [id, lease] of this.leases) if (now >= lease.expiresAtMs) this.dropLease(id);
  }

  /** Compacts history below `revision` (at most the current revision); older watches are lost as compacted. */
  compact(revision: number): void {
    if (revision > this.rev) throw new Error(`compacting to ${revision}: the current revision is ${this.rev}`);
    this.hub.compact(revision);
  }

  get compactRevision(): number {
    return this.hub.compactRevision;
  }

  /** Remaining lease time in ms (undefined: no such lease). For assertions. */
  leaseRemainingMs(lease: LeaseId): number | undefined {
    const l = this.leases.get(lease);
    return l ? Math.max(0, l.expiresAtMs - this.now()) : undefined;
  }

  /** A connection of its own (one simulated node), that can be cut off without an etcd outage. */
  client(): MemoryClient {
    return new MemoryClient(this);
  }

  // ---- ClusterStore ----

  /** Always linearizable (there is one copy): `serializable` changes nothing. */
  async readPrefix(prefix: string, _opts?: { serializable?: boolean }): Promise<{ revision: number; kvs: KeyValue[] }> {
    this.enter(`reading ${prefix}`);
    const kvs = [...this.kv.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([k, e]) => toKeyValue(k, e));
    return { revision: this.rev, kvs };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.enter(`reading ${key}`);
    const e = this.kv.get(key);
    return e ? toKeyValue(key, e) : undefined;
  }

  async put(key: string, value: string, lease?: LeaseId): Promise<void> {
    this.enter(`writing ${key}`);
    this.checkLease(`writing ${key}`, lease);
    this.commit([{ type: 'put', key, value, lease: lease ?? '0' }]);
  }

  async createIfAbsent(key: string, value: string, lease?: LeaseId): Promise<boolean> {
    this.enter(`creating ${key}`);
    return this.txn(`creating ${key}`, !this.kv.has(key), [{ type: 'put', key, value, lease: lease ?? '0' }]);
  }

  async putIfModRevision(key: string, value: string, modRevision: number): Promise<boolean> {
    this.enter(`updating ${key} at revision ${modRevision}`);
    const ok = modRevision === 0 ? !this.kv.has(key) : this.kv.get(key)?.modRevision === modRevision;
    return this.txn(`updating ${key}`, ok, [{ type: 'put', key, value, lease: '0' }]);
  }

  async putIfValue(key: string, value: string, expected: string, lease?: LeaseId): Promise<boolean> {
    this.enter(`updating ${key} if unchanged`);
    return this.txn(`updating ${key}`, this.kv.get(key)?.value === expected, [{ type: 'put', key, value, lease: lease ?? '0' }]);
  }

  async deleteIfValue(key: string, expected: string): Promise<boolean> {
    this.enter(`deleting ${key} if unchanged`);
    return this.txn(`deleting ${key}`, this.kv.get(key)?.value === expected, [{ type: 'delete', key }]);
  }

  /** Like etcd, a missing key has mod revision 0: deleteIfModRevision(missing, 0) succeeds (deleting nothing). */
  async deleteIfModRevision(key: string, modRevision: number): Promise<boolean> {
    this.enter(`deleting ${key} at revision ${modRevision}`);
    return this.txn(`deleting ${key}`, (this.kv.get(key)?.modRevision ?? 0) === modRevision, [{ type: 'delete', key }]);
  }

  async reattachOrCreate(key: string, value: string, lease: LeaseId): Promise<boolean> {
    this.enter(`re-attaching ${key} to lease ${lease}`);
    const current = this.kv.get(key);
    const ok = current === undefined || current.value === value;
    return this.txn(`re-attaching ${key}`, ok, [{ type: 'put', key, value, lease }]);
  }

  async delete(key: string): Promise<void> {
    this.enter(`deleting ${key}`);
    this.commit([{ type: 'delete', key }]);
  }

  async deletePrefix(prefix: string): Promise<void> {
    this.enter(`deleting ${prefix}*`);
    const keys = [...this.kv.keys()].filter((k) => k.startsWith(prefix)).sort();
    this.commit(keys.map((key) => ({ type: 'delete', key })));
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.enter('granting a lease');
    const id = String(this.nextLeaseId);
    this.nextLeaseId += LEASE_ID_STEP;
    const ttl = Math.max(this.minTtlSeconds, Math.ceil(ttlSeconds));
    this.leases.set(id, { ttlSeconds: ttl, expiresAtMs: this.now() + ttl * 1000, keys: new Set() });
    return id;
  }

  async keepAlive(lease: LeaseId): Promise<number> {
    this.enter(`renewing lease ${lease}`);
    const l = this.leases.get(lease);
    if (!l) return 0;
    l.expiresAtMs = this.now() + l.ttlSeconds * 1000;
    return l.ttlSeconds;
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.enter(`revoking lease ${lease}`);
    if (this.leases.has(lease)) this.dropLease(lease);
  }

  watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Watch {
    return this.openWatch(prefix, fromRevision, handlers, undefined);
  }

  /** Closes every watch. The store itself stays usable (it is shared by every simulated node). */
  async close(): Promise<void> {
    this.hub.closeAll();
  }

  // ---- for MemoryClient ----

  /** @internal */
  openWatch(prefix: string, fromRevision: number, handlers: WatchHandlers, owner: unknown): Watch {
    if (!this.up) return this.hub.openLost(handlers, 'etcd unavailable (simulated outage)');
    this.expireLeases();
    return this.hub.open(prefix, fromRevision, handlers, owner);
  }

  /** @internal */
  get watchHub(): WatchHub {
    return this.hub;
  }

  // ---- internals ----

  /** Every call: fail while down, then let leases that ran out expire (their deletions come first). */
  private enter(what: string): void {
    if (!this.up) throw new DcsUnavailableError(what, new Error('etcd unavailable (simulated outage)'));
    this.expireLeases();
  }

  private checkLease(what: string, lease: LeaseId | undefined): void {
    if (lease && lease !== '0' && !this.leases.has(lease)) throw new LeaseNotFoundError(what, lease);
  }

  /** A transaction with one compare: when it holds, checks the leases its writes name, then commits them. */
  private txn(what: string, compareHolds: boolean, changes: Change[]): boolean {
    if (!compareHolds) return false;
    for (const c of changes) if (c.type === 'put') this.checkLease(what, c.lease);
    this.commit(changes);
    return true;
  }

  /** Applies changes at one new revision; no revision when nothing changes (deleting missing keys). */
  private commit(changes: Change[]): void {
    const effective = changes.filter((c) => c.type === 'put' || this.kv.has(c.key));
    if (effective.length === 0) return;
    const revision = ++this.rev;
    const events: WatchEvent[] = [];
    for (const c of effective) {
      const before = this.kv.get(c.key);
      if (before && before.lease !== '0') this.leases.get(before.lease)?.keys.delete(c.key);
      if (c.type === 'delete') {
        this.kv.delete(c.key);
        events.push({ type: 'delete', kv: { key: c.key, value: '', createRevision: 0, modRevision: revision, lease: '0' } });
        continue;
      }
      const entry: Entry = { value: c.value, createRevision: before?.createRevision ?? revision, modRevision: revision, lease: c.lease };
      this.kv.set(c.key, entry);
      if (c.lease !== '0') this.leases.get(c.lease)?.keys.add(c.key);
      events.push({ type: 'put', kv: toKeyValue(c.key, entry) });
    }
    this.hub.record(revision, events);
  }

  private dropLease(id: LeaseId): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    this.leases.delete(id);
    this.commit([...lease.keys].sort().map((key) => ({ type: 'delete', key })));
  }
}

/**
 * One node's connection to a MemoryStore. `setReachable(false)` cuts this node off etcd (its calls throw
 * DcsUnavailableError, its watches are lost) while the store and other nodes carry on, leases expiring.
 */
export class MemoryClient implements ClusterStore {
  private reachable = true;
  private closed = false;

  constructor(private readonly store: MemoryStore) {}

  setReachable(reachable: boolean): void {
    if (reachable === this.reachable) return;
    this.reachable = reachable;
    if (!reachable) this.store.watchHub.loseAll('connection to etcd cut (simulated partition)', this);
  }

  readPrefix(prefix: string, opts?: { serializable?: boolean }): Promise<{ revision: number; kvs: KeyValue[] }> {
    return this.via(`reading ${prefix}`, () => this.store.readPrefix(prefix, opts));
  }
  get(key: string): Promise<KeyValue | undefined> {
    return this.via(`reading ${key}`, () => this.store.get(key));
  }
  put(key: string, value: string, lease?: LeaseId): Promise<void> {
    return this.via(`writing ${key}`, () => this.store.put(key, value, lease));
  }
  createIfAbsent(key: string, value: string, lease?: LeaseId): Promise<boolean> {
    return this.via(`creating ${key}`, () => this.store.createIfAbsent(key, value, lease));
  }
  putIfModRevision(key: string, value: string, modRevision: number): Promise<boolean> {
    return this.via(`updating ${key}`, () => this.store.putIfModRevision(key, value, modRevision));
  }
  putIfValue(key: string, value: string, expected: string, lease?: LeaseId): Promise<boolean> {
    return this.via(`updating ${key}`, () => this.store.putIfValue(key, value, expected, lease));
  }
  deleteIfValue(key: string, expected: string): Promise<boolean> {
    return this.via(`deleting ${key}`, () => this.store.deleteIfValue(key, expected));
  }
  deleteIfModRevision(key: string, modRevision: number): Promise<boolean> {
    return this.via(`deleting ${key}`, () => this.store.deleteIfModRevision(key, modRevision));
  }
  reattachOrCreate(key: string, value: string, lease: LeaseId): Promise<boolean> {
    return this.via(`re-attaching ${key}`, () => this.store.reattachOrCreate(key, value, lease));
  }
  delete(key: string): Promise<void> {
    return this.via(`deleting ${key}`, () => this.store.delete(key));
  }
  deletePrefix(prefix: string): Promise<void> {
    return this.via(`deleting ${prefix}*`, () => this.store.deletePrefix(prefix));
  }
  grantLease(ttlSeconds: number): Promise<LeaseId> {
    return this.via('granting a lease', () => this.store.grantLease(ttlSeconds));
  }
  keepAlive(lease: LeaseId): Promise<number> {
    return this.via(`renewing lease ${lease}`, () => this.store.keepAlive(lease));
  }
  revokeLease(lease: LeaseId): Promise<void> {
    return this.via(`revoking lease ${lease}`, () => this.store.revokeLease(lease));
  }

  watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Watch {
    const problem = this.problem();
    if (problem) return this.store.watchHub.openLost(handlers, problem);
    return this.store.openWatch(prefix, fromRevision, handlers, this);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.store.watchHub.closeAll(this);
  }

  private problem(): string | undefined {
    if (this.closed) return 'client closed';
    if (!this.reachable) return 'connection to etcd cut (simulated partition)';
    return undefined;
  }

  private async via<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const problem = this.problem();
    if (problem) throw new DcsUnavailableError(what, new Error(problem));
    return fn();
  }
}

function toKeyValue(key: string, e: Entry): KeyValue {
  return { key, value: e.value, modRevision: e.modRevision, createRevision: e.createRevision, lease: e.lease };
}
