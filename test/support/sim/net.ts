/**
 * The network between a node and the DCS: each request reaches the store after a delay and its answer comes back
 * after another. A node cut off the DCS either has its packets dropped (the call fails at the client's deadline,
 * `retry_timeout`) or refused (fails at once); a cut that starts while a request is in flight can lose the answer
 * of a request the store applied (an ambiguous outcome, as with real etcd).
 */
import { DcsUnavailableError } from '../../../src/lib/errors';
import type { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { deliver, type Res, type SimContext } from './context';
import type { Proc } from './scheduler';

export type Cut = false | 'blackhole' | 'refuse';

export interface Link {
  /** This node's connection to the DCS. */
  dcsCut: Cut;
}

export interface DcsNet {
  readonly store: MemoryStore;
  /** The whole DCS down (every node cut), and how its failure looks. */
  outage: Cut;
  deadlineMs: number;
  delay(): number;
}

export function dcsCall<T>(ctx: SimContext, net: DcsNet, link: Link, caller: Proc, what: string, fn: (s: MemoryStore) => Promise<T>, done: (r: Res<T>) => void): void {
  const sentAt = ctx.sched.now;
  // An answer scheduled after the caller died must not reach its next incarnation (a zombie agent): events capture
  // the incarnation when they are scheduled, and the answer is scheduled when the request reaches the store.
  const incarnation = caller.incarnation;
  const cb = (r: Res<T>) => {
    if (caller.incarnation === incarnation) done(r);
  };
  const timeout = (r: Res<T>) => deliver(ctx, caller, sentAt + net.deadlineMs, cb, r);
  const cutNow = (): Cut => link.dcsCut || net.outage;
  const unavailable = (): Res<T> => ({ ok: false, error: new DcsUnavailableError(what, new Error('connection to etcd cut')) });
  const dropped = (cut: Cut) => (cut === 'blackhole' ? timeout(unavailable()) : deliver(ctx, caller, ctx.sched.now + 2, cb, unavailable()));
  const c0 = cutNow();
  if (c0) return dropped(c0);
  ctx.sched.after(net.delay(), async () => {
    const c1 = cutNow();
    if (c1) return dropped(c1);
    let r: Res<T>;
    try {
      r = { ok: true, value: await fn(net.store) };
    } catch (err) {
      r = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
    ctx.sched.after(net.delay(), () => {
      const c2 = cutNow();
      if (c2 || ctx.sched.now - sentAt > net.deadlineMs) return timeout(unavailable());
      cb(r);
    }, caller);
  });
}
