import type { KeyValue } from '../model/cluster';
import { PghaError } from '../lib/errors';

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
  /** Answer to Watch.requestProgress(): every event of this watch up to `revision` has been delivered. */
  onProgress?(revision: number): void;
}

export interface Watch {
  /**
   * Asks the server, on this watch's own stream, up to which revision events were delivered (answered through
   * onProgress). An idle watch is otherwise silent, so this is how a caller proves the watch is alive and current.
   */
  requestProgress(): void;
  close(): void;
}

/**
 * A write named a lease the DCS does not know (expired or revoked). Not a transport failure: retrying with the
 * same lease cannot succeed; grant a new lease and write again (Patroni does the same).
 */
export class LeaseNotFoundError extends PghaError {
  constructor(what: string, readonly lease: LeaseId, cause?: unknown) {
    super('dcs_lease_not_found', `${what}: lease ${lease} not found (expired or revoked)`, false, { cause });
    this.name = 'LeaseNotFoundError';
  }
}

/**
 * The DCS seam, shaped like etcd v3 (revisions, leases, transactions, watch from a revision).
 * Expected outcomes (a lost compare-and-swap) are return values; transport failures throw
 * DcsUnavailableError. Every call finishes within the store's deadline (at most `retry_timeout`).
 * A write that attaches a key to an unknown lease throws LeaseNotFoundError (only when that write would
 * happen: a compare that fails first returns false).
 * After an ambiguous failure (a deadline passed after the request was sent) a CAS may or may not have been
 * applied: it throws DcsUnavailableError and the caller re-reads.
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
