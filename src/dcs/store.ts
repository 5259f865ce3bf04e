import type { KeyValue } from '../model/cluster';

/** etcd lease id as a decimal string ('0' = no lease). Strings, because lease ids are int64. */
export type LeaseId = string;

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

export interface WatchHandlers {
  /** Events in revision order; `revision` is the header revision of the batch. */
  onEvents(events: readonly WatchEvent[], revision: number): void;
  /** The watch is gone (compacted, connection lost for good): the caller re-lists and watches again. */
  onLost(reason: string, compacted: boolean): void;
}

export interface Watch {
  close(): void;
}

/**
 * The DCS seam, shaped like etcd v3 (revisions, leases, transactions, watch from a revision).
 * Expected outcomes (a lost compare-and-swap) are return values; transport failures throw
 * DcsUnavailableError. Every call finishes within the store's deadline (at most `retry_timeout`).
 */
export interface ClusterStore {
  /** Linearizable read of every key under `prefix` (serializable when asked: stale reads allowed). */
  readPrefix(prefix: string, opts?: { serializable?: boolean }): Promise<{ revision: number; kvs: KeyValue[] }>;
  get(key: string): Promise<KeyValue | undefined>;
  /** Unconditional put, optionally attached to a lease. */
  put(key: string, value: string, lease?: LeaseId): Promise<void>;
  /** Put only when the key does not exist (compare create_revision == 0). */
  createIfAbsent(key: string, value: string, lease?: LeaseId): Promise<boolean>;
  /** Put only when the key's mod_revision equals `modRevision` (0: only when absent). */
  putIfModRevision(key: string, value: string, modRevision: number): Promise<boolean>;
  /** Put only when the key's current value equals `expected`. */
  putIfValue(key: string, value: string, expected: string, lease?: LeaseId): Promise<boolean>;
  /** Delete only when the key's current value equals `expected`. */
  deleteIfValue(key: string, expected: string): Promise<boolean>;
  /** Delete only when the key's mod_revision equals `modRevision`. */
  deleteIfModRevision(key: string, modRevision: number): Promise<boolean>;
  /** Patroni's nested txn: re-attach `key` to `lease` if its value is still `value`, else create it if absent. */
  reattachOrCreate(key: string, value: string, lease: LeaseId): Promise<boolean>;
  delete(key: string): Promise<void>;
  deletePrefix(prefix: string): Promise<void>;

  grantLease(ttlSeconds: number): Promise<LeaseId>;
  /** One keepalive round trip. Returns the TTL etcd reports (seconds); 0 means the lease is gone. */
  keepAlive(lease: LeaseId): Promise<number>;
  revokeLease(lease: LeaseId): Promise<void>;

  /** Watch every key under `prefix` starting at `fromRevision` (inclusive). */
  watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Watch;

  close(): Promise<void>;
}
