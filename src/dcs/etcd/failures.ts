/**
 * What a failed etcd call means for the next step: try another endpoint, give up, or renew the lease.
 *
 * - `not-sent`: the request surely never reached an etcd that could apply it (connection refused, no channel
 *   ready before the deadline, the member has no raft leader, too many requests): safe to send anywhere else,
 *   even a compare-and-swap.
 * - `ambiguous`: it may have been applied (a deadline passed after sending, the connection dropped): idempotent
 *   calls try the next endpoint, a CAS gives up (retrying could report a lost race it actually won).
 * - `rejected`: etcd answered with a definite error (permission denied, bad request, client closed): another
 *   endpoint would say the same.
 * - `lease-not-found`: the write named an expired or revoked lease.
 */
import { EtcdLeaseInvalidError, isRecoverableError } from 'etcd3';

export type FailureKind = 'not-sent' | 'ambiguous' | 'rejected' | 'lease-not-found';

/** Our own backstop timer fired (see EndpointSet): the call may have been sent. */
export class AttemptTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

/**
 * grpc-js wording (1.14): refused connections read "No connection established"; a deadline that passed while no
 * connection was ready reads "... Waiting for LB pick" (sent calls name a remote_addr instead).
 * etcd's "no leader" / "too many requests" / "not capable" are refused before anything is proposed.
 */
const NOT_SENT = /No connection established|ECONNREFUSED|LB pick|etcdserver: no leader|etcdserver: too many requests|etcdserver: not capable/i;

export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof EtcdLeaseInvalidError || /requested lease not found/i.test(String(err))) return 'lease-not-found';
  if (err instanceof AttemptTimeoutError) return 'ambiguous';
  if (err instanceof Error && isRecoverableError(err)) return NOT_SENT.test(err.message) ? 'not-sent' : 'ambiguous';
  return 'rejected';
}
