/**
 * ClusterStore over etcd v3 (gRPC, through the `etcd3` package's low-level RPC clients).
 *
 * - Every call carries a gRPC deadline and a backstop timer, so nothing waits past `deadlineMs` (plus a few
 *   hundred ms); transport failures become DcsUnavailableError, never a hang.
 * - With several endpoints, a failed call moves on to the next one within the same deadline (endpoints.ts);
 *   compare-and-swaps move on only when the request surely was not sent.
 * - Leases are never kept alive by the library: keepAlive() is one round trip the agent times itself.
 * - Watches run on their own raw stream and are reported lost on any stream failure (watch-stream.ts).
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { ICompare, IRequestOp, IOptions } from 'etcd3';
import { LeaseNotFoundError, type ClusterStore, type LeaseId, type Watch, type WatchHandlers } from '../store';
import type { KeyValue } from '../../model/cluster';
import type { Logger } from '../../log/logger';
import { bytes, prefixEnd, toKeyValue } from './convert';
import { EndpointSet, type CallSafety, type Endpoint, type AttemptOptions } from './endpoints';
import { keepAliveOnce } from './keepalive';
import { openPrefixWatch } from './watch-stream';

export interface EtcdStoreOptions {
  /** `host:port`, a full URL, or `{ host, port }`. */
  hosts: ({ host: string; port: number } | string)[];
  /** Default: https when cacert or cert is given, else http. */
  protocol?: 'http' | 'https';
  username?: string;
  password?: string;
  /** Paths of PEM files. */
  cacert?: string;
  cert?: string;
  key?: string;
  /** Upper bound of every call, including attempts on other endpoints (the agent passes retry_timeout). */
  deadlineMs: number;
  logger?: Logger;
}

export class EtcdStore implements ClusterStore {
  private readonly endpoints: EndpointSet;
  private readonly watches = new Set<Watch>();
  private readonly logger: Logger | undefined;

  constructor(opts: EtcdStoreOptions) {
    this.logger = opts.logger;
    this.endpoints = new EndpointSet({
      urls: endpointUrls(opts),
      deadlineMs: opts.deadlineMs,
      ...tlsCredentials(opts),
      ...(opts.username ? { auth: { username: opts.username, password: opts.password ?? '' } } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }

  async readPrefix(prefix: string, o: { serializable?: boolean } = {}): Promise<{ revision: number; kvs: KeyValue[] }> {
    const res = await this.call(`reading ${prefix}`, 'idempotent', (ep, options) =>
      ep.client.kv.range({ key: bytes(prefix), range_end: prefixEnd(prefix), serializable: o.serializable ?? false }, options),
    );
    return { revision: Number(res.header.revision), kvs: res.kvs.map(toKeyValue) };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(`reading ${key}`, 'idempotent', (ep, options) => ep.client.kv.range({ key: bytes(key) }, options));
    const kv = res.kvs[0];
    return kv ? toKeyValue(kv) : undefined;
  }

  async put(key: string, value: string, lease?: LeaseId): Promise<void> {
    await this.call(`writing ${key}`, 'idempotent', (ep, options) => ep.client.kv.put({ key: bytes(key), value: bytes(value), ...leaseField(lease) }, options), lease);
  }

  async createIfAbsent(key: string, value: string, lease?: LeaseId): Promise<boolean> {
    return this.txn(`creating ${key}`, [absent(key)], [putOp(key, value, lease)], [], lease);
  }

  async putIfModRevision(key: string, value: string, modRevision: number): Promise<boolean> {
    const compare = modRevision === 0 ? absent(key) : modRevisionIs(key, modRevision);
    return this.txn(`updating ${key} at revision ${modRevision}`, [compare], [putOp(key, value)]);
  }

  async putIfValue(key: string, value: string, expected: string, lease?: LeaseId): Promise<boolean> {
    return this.txn(`updating ${key} if unchanged`, [valueIs(key, expected)], [putOp(key, value, lease)], [], lease);
  }

  async deleteIfValue(key: string, expected: string): Promise<boolean> {
    return this.txn(`deleting ${key} if unchanged`, [valueIs(key, expected)], [deleteOp(key)]);
  }

  async deleteIfModRevision(key: string, modRevision: number): Promise<boolean> {
    return this.txn(`deleting ${key} at revision ${modRevision}`, [modRevisionIs(key, modRevision)], [deleteOp(key)]);
  }

  /**
   * Patroni's nested transaction (reference §1.3, PR #2693): if the value is still ours, re-attach it to `lease`;
   * else, if the key is gone, create it. Success = the outer or the inner transaction succeeded.
   */
  async reattachOrCreate(key: string, value: string, lease: LeaseId): Promise<boolean> {
    const res = await this.call(
      `re-attaching ${key} to lease ${lease}`,
      'cas',
      (ep, options) =>
        ep.client.kv.txn(
          {
            compare: [valueIs(key, value)],
            success: [putOp(key, value, lease)],
            failure: [{ request_txn: { compare: [absent(key)], success: [putOp(key, value, lease)], failure: [] } }],
          },
          options,
        ),
      lease,
    );
    return res.succeeded || Boolean(res.responses[0]?.response_txn?.succeeded);
  }

  async delete(key: string): Promise<void> {
    await this.call(`deleting ${key}`, 'idempotent', (ep, options) => ep.client.kv.deleteRange({ key: bytes(key) }, options));
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.call(`deleting ${prefix}*`, 'idempotent', (ep, options) =>
      ep.client.kv.deleteRange({ key: bytes(prefix), range_end: prefixEnd(prefix) }, options),
    );
  }

  /** etcd may raise a short TTL to its minimum (1.5 × election timeout: 2 s with default settings). */
  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    // Idempotent enough: a repeat after an ambiguous failure leaves at most an unused lease that expires.
    const res = await this.call(`granting a ${ttlSeconds} s lease`, 'idempotent', (ep, options) =>
      ep.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, options),
    );
    return String(res.ID);
  }

  async keepAlive(lease: LeaseId): Promise<number> {
    return this.call(`renewing lease ${lease}`, 'idempotent', (ep, options) => keepAliveOnce(ep.client, lease, options));
  }

  /** Revoking a lease that is already gone is not an error. */
  async revokeLease(lease: LeaseId): Promise<void> {
    try {
      await this.call(`revoking lease ${lease}`, 'idempotent', (ep, options) => ep.client.leaseClient.leaseRevoke({ ID: lease }, options), lease);
    } catch (err) {
      if (err instanceof LeaseNotFoundError) return;
      throw err;
    }
  }

  /** Opens on the endpoint that answered last; a failure there is reported through onLost (never thrown). */
  watchPrefix(prefix: string, fromRevision: number, handlers: WatchHandlers): Watch {
    const watch = openPrefixWatch({
      endpoint: this.endpoints.current(),
      prefix,
      fromRevision,
      createTimeoutMs: this.endpoints.deadlineMs,
      handlers: {
        ...handlers,
        onLost: (reason, compacted) => {
          this.watches.delete(watch);
          handlers.onLost(reason, compacted);
        },
      },
      onTransportFailure: (ep) => this.endpoints.markFailed(ep),
      ...(this.logger ? { logger: this.logger } : {}),
    });
    this.watches.add(watch);
    return {
      requestProgress: () => watch.requestProgress(),
      close: () => {
        this.watches.delete(watch);
        watch.close();
      },
    };
  }

  /** Closes every watch (without onLost) and every connection; later calls fail with DcsUnavailableError. */
  async close(): Promise<void> {
    for (const w of this.watches) w.close();
    this.watches.clear();
    this.endpoints.close();
  }

  private call<T>(what: string, safety: CallSafety, attempt: (ep: Endpoint, options: AttemptOptions) => Promise<T>, lease?: LeaseId): Promise<T> {
    return this.endpoints.call(what, safety, attempt, lease);
  }

  private async txn(what: string, compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = [], lease?: LeaseId): Promise<boolean> {
    const res = await this.call(what, 'cas', (ep, options) => ep.client.kv.txn({ compare, success, failure }, options), lease);
    return res.succeeded;
  }
}

function leaseField(lease: LeaseId | undefined): { lease?: string } {
  return lease && lease !== '0' ? { lease } : {};
}

function putOp(key: string, value: string, lease?: LeaseId): IRequestOp {
  return { request_put: { key: bytes(key), value: bytes(value), ...leaseField(lease) } };
}

function deleteOp(key: string): IRequestOp {
  return { request_delete_range: { key: bytes(key) } };
}

/** The key does not exist (create_revision == 0). */
function absent(key: string): ICompare {
  return { key: bytes(key), target: 'Create', result: 'Equal', create_revision: '0' };
}

function modRevisionIs(key: string, modRevision: number): ICompare {
  return { key: bytes(key), target: 'Mod', result: 'Equal', mod_revision: String(modRevision) };
}

function valueIs(key: string, value: string): ICompare {
  return { key: bytes(key), target: 'Value', result: 'Equal', value: bytes(value) };
}

function endpointUrls(opts: EtcdStoreOptions): string[] {
  const scheme = opts.protocol ?? (opts.cacert || opts.cert ? 'https' : 'http');
  return opts.hosts.map((h) => {
    if (typeof h !== 'string') return `${scheme}://${h.host}:${h.port}`;
    return /^https?:\/\//.test(h) ? h : `${scheme}://${h}`;
  });
}

/** TLS material for gRPC; without `cacert` the server is checked against Node's bundled CAs. */
function tlsCredentials(opts: EtcdStoreOptions): { credentials?: IOptions['credentials'] } {
  if (!opts.cacert && !opts.cert) return {};
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`reading etcd ${what} ${path}: ${(err as Error).message}`);
    }
  };
  return {
    credentials: {
      rootCertificate: opts.cacert ? read('cacert', opts.cacert) : Buffer.from(rootCertificates.join('\n')),
      ...(opts.key ? { privateKey: read('key', opts.key) } : {}),
      ...(opts.cert ? { certChain: read('cert', opts.cert) } : {}),
    },
  };
}
