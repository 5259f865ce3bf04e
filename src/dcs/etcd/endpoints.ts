/**
 * One etcd3 client per endpoint, and the failover loop over them, under one deadline per call.
 *
 * Why not etcd3's own host list: its pool picks a random host per attempt, its circuit breakers keep a host out
 * for seconds after one failure, its retry policy ignores our deadline, and it would retry a compare-and-swap
 * after an ambiguous failure. Here each client has etcd3's policies disabled (cockatiel `noop`) and this loop
 * decides: the endpoint that last worked goes first; on a failure the next one is tried with what is left of
 * the deadline; a CAS moves on only when the request surely was not sent (failures.ts).
 */
import { Etcd3, type IOptions } from 'etcd3';
import { noop } from 'cockatiel';
import { DcsUnavailableError } from '../../lib/errors';
import type { Logger } from '../../log/logger';
import { LeaseNotFoundError } from '../store';
import { AttemptTimeoutError, classifyFailure } from './failures';

export interface Endpoint {
  /** host:port as configured (for logs). */
  readonly address: string;
  readonly client: Etcd3;
}

export interface EndpointSetOptions {
  /** Full URLs (`http://h:p` or `https://h:p`). */
  urls: string[];
  credentials?: IOptions['credentials'];
  auth?: { username: string; password: string };
  deadlineMs: number;
  logger?: Logger;
}

/** The per-attempt gRPC call options: an absolute deadline (ms since the epoch, as gRPC wants it). */
export interface AttemptOptions {
  deadline: number;
}

/** `idempotent`: safe to repeat on another endpoint after any transport failure; `cas`: only if surely not sent. */
export type CallSafety = 'idempotent' | 'cas';

/**
 * With several endpoints, an attempt gets an equal share of the time left, but at least this much: below ~1 s a
 * healthy etcd on a loaded machine (fsync, elections) times out too often (Patroni applies the same floor).
 */
const MIN_ATTEMPT_MS = 1000;
/** Our own timer backs up gRPC's deadline (which does not cover the auth token exchange): a little later. */
const BACKSTOP_SLACK_MS = 250;
/**
 * gRPC reconnect backoff, kept short: after etcd comes back we want the next call, not a backoff timer of up to
 * 2 minutes (grpc's default), to decide whether it is reachable.
 */
const GRPC_CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };

export class EndpointSet {
  private readonly endpoints: Endpoint[];
  private preferred = 0;

  constructor(private readonly opts: EndpointSetOptions) {
    if (opts.urls.length === 0) throw new Error('etcd: no hosts configured');
    const deadlineMs = opts.deadlineMs;
    this.endpoints = opts.urls.map((url) => ({
      address: url.replace(/^https?:\/\//, ''),
      client: new Etcd3({
        hosts: [url],
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
        // The token exchange has no deadline unless given one; a hung exchange would block every later call.
        ...(opts.auth ? { auth: { ...opts.auth, callOptions: () => ({ deadline: Date.now() + deadlineMs }) } } : {}),
        faultHandling: { host: () => noop, global: noop },
        grpcOptions: GRPC_CHANNEL_OPTIONS,
      }),
    }));
  }

  get deadlineMs(): number {
    return this.opts.deadlineMs;
  }

  /** The endpoint to open a stream on: the one that answered last. */
  current(): Endpoint {
    return this.endpoints[this.preferred]!;
  }

  /** A transport failure on `ep`: calls start at the next endpoint from now on. */
  markFailed(ep: Endpoint): void {
    const i = this.endpoints.indexOf(ep);
    if (i === this.preferred && this.endpoints.length > 1) this.preferred = (i + 1) % this.endpoints.length;
  }

  /**
   * Runs `attempt` on the preferred endpoint, then the others, until one answers or `deadlineMs` is spent.
   * Throws DcsUnavailableError (transport, deadline, rejected) or LeaseNotFoundError, with `what` as context.
   */
  async call<T>(what: string, safety: CallSafety, attempt: (ep: Endpoint, options: AttemptOptions) => Promise<T>, lease?: string): Promise<T> {
    const end = performance.now() + this.opts.deadlineMs;
    const n = this.endpoints.length;
    const first = this.preferred;
    let lastErr: unknown = new Error(`no answer within ${this.opts.deadlineMs} ms`);
    const tried: string[] = [];
    for (let i = 0; i < n; i++) {
      const remaining = end - performance.now();
      if (remaining <= 0) break;
      const left = n - i;
      const budget = left === 1 ? remaining : Math.min(remaining, Math.max(MIN_ATTEMPT_MS, remaining / left));
      const ep = this.endpoints[(first + i) % n]!;
      tried.push(ep.address);
      try {
        const result = await withBackstop(attempt(ep, { deadline: Date.now() + budget }), budget + BACKSTOP_SLACK_MS);
        this.preferred = (first + i) % n;
        return result;
      } catch (err) {
        const kind = classifyFailure(err);
        if (kind === 'lease-not-found') throw new LeaseNotFoundError(what, lease ?? '?', err);
        if (kind === 'rejected') throw new DcsUnavailableError(`${what} (${ep.address})`, err);
        lastErr = err;
        this.markFailed(ep);
        if (safety === 'cas' && kind === 'ambiguous') throw new DcsUnavailableError(`${what} (${ep.address}, outcome unknown)`, err);
        if (i < n - 1) this.opts.logger?.warn({ endpoint: ep.address, err, what }, 'etcd endpoint failed; trying the next');
      }
    }
    throw new DcsUnavailableError(`${what} (tried ${tried.join(', ') || 'no endpoint: deadline spent'})`, lastErr);
  }

  close(): void {
    for (const ep of this.endpoints) ep.client.close();
  }
}

/** Rejects with AttemptTimeoutError when `p` has not settled after `ms` (the late outcome is ignored). */
async function withBackstop<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AttemptTimeoutError(ms)), ms);
  });
  p.catch(() => undefined);
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
