/**
 * How long an etcd outage is tolerated before the agent acts on it (pure). Patroni retries a DCS read for up to
 * retry_timeout before calling the DCS unavailable; within that window the last view stands in, so a brief blip does
 * not demote a leader or start an election. Safety does not depend on it: the leader's lock validity runs on the
 * monotonic clock and fences on its own (plan-fence.ts).
 */
import type { ClusterView } from '../model/cluster';
import type { Observation } from './observation';

export interface OutageInput {
  /** This tick's read of etcd. */
  dcs: Observation['dcs'];
  nowMs: number;
  retryTimeoutMs: number;
  /** Since when reads fail (monotonic ms); undefined while they succeed. */
  failingSinceMs: number | undefined;
  /** The last view read successfully. */
  lastView: ClusterView | undefined;
}

export interface OutagePlan {
  /** What decide sees: the read, or the last view while the outage is brief. */
  dcs: Observation['dcs'];
  failingSinceMs: number | undefined;
  reason: string;
}

export function planOutage(i: OutageInput): OutagePlan {
  if (i.dcs.ok) return { dcs: i.dcs, failingSinceMs: undefined, reason: 'etcd answered' };
  const since = i.failingSinceMs ?? i.nowMs;
  const failingMs = i.nowMs - since;
  if (failingMs >= i.retryTimeoutMs) {
    return { dcs: i.dcs, failingSinceMs: since, reason: `etcd unavailable for ${failingMs} ms, not less than retry_timeout (${i.retryTimeoutMs} ms)` };
  }
  if (!i.lastView) return { dcs: i.dcs, failingSinceMs: since, reason: 'etcd unavailable and no earlier view to stand in' };
  return { dcs: { ok: true, view: i.lastView, standIn: true }, failingSinceMs: since, reason: `etcd unavailable for ${failingMs} ms, within retry_timeout: the last view stands in` };
}
