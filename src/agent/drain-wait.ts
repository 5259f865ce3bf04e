/**
 * The effects of the leader's switchover drain (plan-drain.ts decides): write the drain key on a short lease of its
 * own, poll the routers' keys until the plan says go, and hand back how to remove the key once the leader key is
 * released. Every failure here is logged and the demote goes on: the drain only spares clients an error, it never
 * holds a switchover up beyond its timeout.
 */
import type { ClusterStore } from '../dcs/store';
import type { ClusterView } from '../model/cluster';
import type { ClusterKeys } from '../model/keys';
import { encodeDrainRequest, parseRouterRegistration, type RouterRegistration } from '../model/drain';
import type { Logger } from '../log/logger';
import { sleep, type Scheduler } from '../lib/clock';
import { planDrainStart, planDrainWait } from './plan-drain';

/** Default `switchover_drain.timeout` of the agent (docs/configuration.md). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5000;
/**
 * Routers write their acknowledgement within one etcd round trip of going idle, and every millisecond between it and
 * the stop adds to the clients' write gap (issue 13's target: < 1 s); a read of the few router keys every 20 ms for
 * at most the drain timeout costs etcd little.
 */
const POLL_MS = 20;
/**
 * The drain key's lease outlives the wait by this much: long enough for the stop and the leader key's release that
 * follow (then the key is deleted), short enough that an agent killed mid-switchover leaves it only briefly.
 */
const LEASE_EXTRA_S = 30;

export interface DrainDeps {
  store: ClusterStore;
  keys: ClusterKeys;
  name: string;
  logger: Logger;
  scheduler: Scheduler;
}

/** Runs the drain before a graceful demote; resolves with the drain key's removal (undefined: nothing written). */
export async function drainRouters(d: DrainDeps, view: ClusterView | undefined, timeoutMs: number): Promise<(() => Promise<void>) | undefined> {
  const start = planDrainStart(view, d.name, timeoutMs);
  d.logger.info({ reason: start.reason }, start.drain ? 'switchover drain started' : 'switchover drain skipped');
  if (!start.drain) return undefined;
  const t0 = d.scheduler.now();
  const deadlineMs = t0 + timeoutMs;
  const value = encodeDrainRequest({ ...start.request, deadline: new Date(d.scheduler.wallNow() + timeoutMs).toISOString() });
  try {
    const lease = await d.store.grantLease(Math.ceil(timeoutMs / 1000) + LEASE_EXTRA_S);
    await d.store.put(d.keys.drain, value, lease);
  } catch (err) {
    d.logger.warn({ err, id: start.request.id }, 'writing the drain key failed; demoting without a drain');
    return undefined;
  }
  let last = '';
  for (;;) {
    const routers = await readRouters(d);
    const now = d.scheduler.now();
    const step = routers
      ? planDrainWait(start.request.id, routers, now, deadlineMs)
      : planDrainWait(start.request.id, [{ id: '(routers unreadable)', modRevision: 0 }], now, deadlineMs);
    if (step.done) {
      d.logger.info({ id: start.request.id, reason: step.reason, acked: step.acked, pending: step.pending, durationMs: Math.round(now - t0) }, 'switchover drain finished');
      break;
    }
    if (step.reason !== last) d.logger.info({ id: start.request.id, reason: step.reason }, 'switchover drain waiting');
    last = step.reason;
    await sleep(d.scheduler, Math.min(POLL_MS, Math.max(1, deadlineMs - now)));
  }
  return async () => {
    // Routers also resume on a new leader or after their own timeout: a key left behind only lingers until its lease ends.
    await d.store.deleteIfValue(d.keys.drain, value).catch((err: unknown) => d.logger.warn({ err }, 'deleting the drain key failed; its lease will remove it'));
  };
}

async function readRouters(d: DrainDeps): Promise<RouterRegistration[] | undefined> {
  try {
    const { kvs } = await d.store.readPrefix(d.keys.routersPrefix);
    return kvs
      .map((kv) => ({ id: kv.key.slice(d.keys.routersPrefix.length), kv }))
      .filter(({ id }) => id !== '' && !id.includes('/'))
      .map(({ id, kv }) => parseRouterRegistration(id, kv.value, kv.modRevision));
  } catch (err) {
    d.logger.warn({ err }, 'reading the routers\' drain acknowledgements failed; retrying until the drain timeout');
    return undefined;
  }
}
