/**
 * ClusterStore over etcd v3 (gRPC, through the `etcd3` package's low-level RPC clients). Every call carries an
 * absolute gRPC deadline, so nothing waits past `deadlineMs`; transport failures become DcsUnavailableError.
 * Leases are never kept alive by the library: keepAlive() is one round trip the agent times itself (design §3).
 * With several endpoints, a failed call is retried on the next host within the same deadline, and a host that
 * failed is skipped for a short while (a circuit breaker per host).
 */
import { readFileSync } from 'node:fs';
import { Etcd3, isRecoverableError, type IKeyValue, type IRequestOp, type ICompare } from 'etcd3';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import type { ClusterStore, LeaseId, Watch, WatchEvent, WatchHandlers } from '../store';
import type { KeyValue } from '../../model/cluster';
import { DcsUnavailableError } from '../../lib/errors';
import type { Logger } from '../../log/logger';

export interface EtcdStoreOptions {
  hosts: ({ host: string; port: number } | string)[];
  protocol?: 'http' | 'https';
  username?: string;
  password?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  /** Upper bound of every call, including retries on other endpoints. */
  deadlineMs: number;
  logger?: Logger;
}

/** How long a host that failed is skipped before it is tried again. */
const HOST_BREAKER_MS = 2000;

const b = (s: string) => Buffer.from(s);

/** The end of a prefix range: the prefix with its last byte increased (etcd's "range_end" for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease: String(kv.lease ?? '0'),
  };
}

export class EtcdStore implements ClusterStore {
  private readonly client: Etcd3;
  private readonly deadlineMs: number;

  constructor(opts: EtcdStoreOptions) {
    const scheme = opts.protocol ?? (opts.cacert || opts.cert ? 'https' : 'http');
    const hosts = opts.hosts.map((h) => (typeof h === 'string' ? (h.includes('://') ? h : `${scheme}://${h}`) : `${scheme}://${h.host}:${h.port}`));
    this.deadlineMs = opts.deadlineMs;
    const credentials = opts.cacert
      ? {
          rootCertificate: readFileSync(opts.cacert),
          ...(opts.key ? { privateKey: readFileSync(opts.key) } : {}),
          ...(opts.cert ? { certChain: readFileSync(opts.cert) } : {}),
        }
      : undefined;
    this.client = new Etcd3({
      hosts,
      dialTimeout: opts.deadlineMs,
      ...(credentials ? { credentials } : {}),
      ...(opts.username ? { auth: { username: opts.username, password: opts.password ?? '' } } : {}),
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: HOST_BREAKER_MS, breaker: new ConsecutiveBreaker(1) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(1, hosts.length - 1) }),
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
      },
    });
  }

  private opts() {
    return { deadline: Date.now() + this.deadlineMs };
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new DcsUnavailableError(what, err);
    }
  }

  async readPrefix(prefix: string, o: { serializable?: boolean } = {}): Promise<{ revision: number; kvs: KeyValue[] }> {
    const res = await this.call(`reading ${prefix}`, () =>
      this.client.kv.range({ key: b(prefix), range_end: prefixEnd(prefix), serializable: o.serializable ?? false }, this.opts()),
    );
    return { revision: Number(res.header.revision), kvs: res.kvs.map(toKeyValue) };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(`reading ${key}`, () => this.client.kv.range({ key: b(key) }, this.opts()));
    const kv = res.kvs[0];
    return kv ? toKeyValue(kv) : undefined;
  }

  async put(key: string, value: string, lease?: LeaseId): Promise<void> {
    await this.call(`writing ${key}`, () =>
      this.client.kv.put({ key: b(key), value: b(value), ...(lease ? { lease } : {}) }, this.opts()),
    );
  }

  private async txn(what: string, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []) {
    return this.call(what, () => this.client.kv.txn({ compare, success, failure }, this.opts()));
  }

  private putOp(key: string, value: string, lease?: LeaseId): IRequestOp {
    return { request_put: { key: b(key), value: b(value), ...(lease ? { lease } : {}) } };
  }

  async createIfAbsent(key: string, value: string, lease?: LeaseId): Promise<boolean> {
    const res = await this.txn(`creating ${key}`, [{ key: b(key), target: 'Create', result: 'Equal', create_revision: '0' }], [
      this.putOp(key, value, lease),
    ]);
    return res.succeeded;
  }

  async putIfModRevision(key: string, value: string, modRevision: number): Promise<boolean> {
    const compare: ICompare =
      modRevision === 0
        ? { key: b(key), target: 'Create', result: 'Equal', create_revision: '0' }
        : { key: b(key), target: 'Mod', result: 'Equal', mod_revision: String(modRevision) };
    return (await this.txn(`updating ${key}`, [compare], [this.putOp(key, value)])).succeeded;
  }

  async putIfValue(key: string, value: string, expected: string, lease?: LeaseId): Promise<boolean> {
    const compare: ICompare = { key: b(key), target: 'Value', result: 'Equal', value: b(expected) };
    return (await this.txn(`updating ${key}`, [compare], [this.putOp(key, value, lease)])).succeeded;
  }

  async deleteIfValue(key: string, expected: string): Promise<boolean> {
    const compare: ICompare = { key: b(key), target: 'Value', result: 'Equal', value: b(expected) };
    return (await this.txn(`deleting ${key}`, [compare], [{ request_delete_range: { key: b(key) } }])).succeeded;
  }

  async deleteIfModRevision(key: string, modRevision: number): Promise<boolean> {
    const compare: ICompare = { key: b(key), target: 'Mod', result: 'Equal', mod_revision: String(modRevision) };
    return (await this.txn(`deleting ${key}`, [compare], [{ request_delete_range: { key: b(key) } }])).succeeded;
  }

  /** Patroni's nested transaction (reference §1.3, PR #2693): re-attach to `lease` if still ours, else create. */
  async reattachOrCreate(key: string, value: string, lease: LeaseId): Promise<boolean> {
    const res = await this.txn(
      `re-attaching ${key}`,
      [{ key: b(key), target: 'Value', result: 'Equal', value: b(value) }],
      [this.putOp(key, value, lease)],
      [{ request_txn: { compare: [{ key: b(key), target: 'Create', result: 'Equal', create_revision: '0' }], success: [this.putOp(key, value, lease)], failure: [] } }],
    );
    return res.succeeded || Boolean(res.responses[0]?.response_txn?.succeeded);
  }

  async delete(key: string): Promise<void> {
    await this.call(`deleting ${key}`, () => this.client.kv.deleteRange({ key: b(key) }, this.opts()));
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.call(`deleting ${prefix}`, () => this.client.kv.deleteRange({ key: b(prefix), range_end: prefixEnd(prefix) }, this.opts()));
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    const res = await this.call('granting a lease', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, this.opts()));
    return String(res.ID);
  }

  /** One keepalive round trip on a fresh stream, bounded by the deadline. 0 = the lease is gone. */
  async keepAlive(lease: LeaseId): Promise<number> {
    return this.call(`keeping lease ${lease} alive`, async () => {
      const stream = await this.client.leaseClient.leaseKeepAlive(this.opts());
      try {
        const res = await new Promise<{ TTL: string }>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.on('end', () => reject(new Error('keepalive stream ended without an answer')));
          stream.write({ ID: lease });
        });
        return Math.max(0, Number(res.TTL));
      } finally {
        stream.end();
      }
    });
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: lease }, this.opts());
    } catch (err) {
      if (/not found/i.test(String(err))) return;
      throw new DcsUnavailableError(`revoking lease ${lease}`, err);
    }
  }

  watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Watch {
    let closed = false;
    let cancel: (() => Promise<void>) | undefined;
    const lost = (reason: string, compacted: boolean) => {
      if (closed) return;
      closed = true;
      void cancel?.().catch(() => undefined);
      handlers.onLost(reason, compacted);
    };
    void this.client
      .watch()
      .prefix(prefix)
      .startRevision(String(fromRevision))
      .create()
      .then((watcher) => {
        cancel = () => watcher.cancel();
        if (closed) return void watcher.cancel().catch(() => undefined);
        watcher.on('data', (res) => {
          if (closed) return;
          if (res.compact_revision && res.compact_revision !== '0') return lost(`compacted at ${res.compact_revision}`, true);
          const events: WatchEvent[] = (res.events ?? []).map((e) => ({ type: e.type === 'Delete' ? 'delete' : 'put', kv: toKeyValue(e.kv) }));
          if (events.length) handlers.onEvents(events, Number(res.header.revision));
        });
        watcher.on('error', (err: Error) => lost(err.message, /compact/i.test(err.message)));
        watcher.on('end', () => lost('watch ended', false));
      })
      .catch((err: unknown) => lost(String(err), /compact/i.test(String(err))));
    return {
      close: () => {
        closed = true;
        void cancel?.().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
