/**
 * decide()'s part of pre_promote (Patroni 3.0.2 ha.py enforce_primary_role and is_healthiest_node): a promotion whose
 * pre_promote script did not exit 0 did not happen; the next cycle gives the leader key back ("Promotion cancelled
 * because the pre-promote script failed") and this member stays out of the leader race for `ttl` seconds, so another
 * member can take over instead of this one winning and failing again. Pure.
 */
import type { Observation } from './observation';

export const PRE_PROMOTE_FAILED = 'pre_promote_failed';

export function prePromoteFailed(obs: Observation): boolean {
  const t = obs.finishedTask;
  return t?.kind === 'promote' && !t.ok && t.code === PRE_PROMOTE_FAILED;
}

/** Until when (monotonic ms) to stay out of the leader race after a failed pre_promote: now + ttl. */
export function raceBackoffUntil(obs: Observation): number {
  return obs.nowMs + obs.dynamic.ttlSeconds * 1000;
}
