/**
 * The `failover` key protocol (reference §7.2), as pure helpers of decide(): the leader's side (wait for a
 * scheduled time, demote gracefully for a healthy candidate, or clean a stale or impossible request up) and the
 * replicas' side in the leader race (the named candidate races at once; the others wait for it while it is healthy).
 */
import type { ClusterView, FailoverRequest } from '../model/cluster';
import { memberTag } from '../model/member';
import type { Action } from './actions';
import type { Observation, PeerReport } from './observation';

export interface Step {
  reason: string;
  actions: Action[];
}

/** What the leader (lock valid, running primary) does about a set failover key; undefined: nothing to do. */
export function leaderManualStep(obs: Observation, view: ClusterView): Step | undefined {
  const f = view.failover;
  if (!f) return undefined;
  const clear: Action = { type: 'clear_failover', modRevision: f.modRevision };
  const loopWaitMs = obs.dynamic.loopWaitSeconds * 1000;
  if (f.scheduledAt) {
    const at = Date.parse(f.scheduledAt);
    if (Number.isNaN(at)) return { reason: `found an unparsable scheduled_at in the failover key, cleaning up: ${f.scheduledAt}`, actions: [clear] };
    if (at - obs.wallMs > loopWaitMs) return { reason: `Awaiting switchover at ${f.scheduledAt} (in ${Math.round((at - obs.wallMs) / 1000)} seconds)`, actions: [] };
    if (obs.wallMs - at > 1.5 * loopWaitMs) return { reason: `Found a stale failover value, cleaning up: ${f.scheduledAt}`, actions: [clear] };
  }
  const action = f.leader ? 'switchover' : 'failover';
  if ((f.leader && f.leader !== obs.name) || f.member === obs.name) {
    return { reason: `cleaning up the failover key: ${describeRequest(f)} does not apply to me as the leader`, actions: [clear] };
  }
  if (obs.dynamic.pause && !f.member) {
    return { reason: `PAUSE: ${action} without a candidate is not possible in maintenance mode, cleaning up`, actions: [clear] };
  }
  const candidate = healthyCandidate(obs, view, f);
  if (!candidate.name) {
    return { reason: `${action}: no healthy members found, ${action} is not possible (${candidate.why})`, actions: [clear] };
  }
  return {
    reason: `manual ${action}: demoting myself for ${candidate.name}`,
    actions: [{ type: 'demote', mode: 'graceful' }],
  };
}

function describeRequest(f: FailoverRequest): string {
  return `{leader: ${f.leader ?? '-'}, member: ${f.member ?? '-'}}`;
}

/** Patroni's is_failover_possible: the named candidate (or any member) answers its API, is eligible and not lagging. */
function healthyCandidate(obs: Observation, view: ClusterView, f: FailoverRequest): { name?: string; why: string } {
  if (f.member && !view.members.has(f.member)) return { why: `candidate ${f.member} is not a member` };
  if (!obs.peers) return { why: 'members have not been asked yet' };
  const myLsn = obs.postgres.probe.flushLsn ?? view.optime ?? 0;
  const maxLag = obs.dynamic.maximumLagOnFailoverBytes;
  const reasons: string[] = [];
  for (const peer of obs.peers) {
    if (peer.name === obs.name || (f.member && peer.name !== f.member)) continue;
    const why = whyNotEligible(peer, view, myLsn, maxLag, f.leader !== undefined);
    if (!why) return { name: peer.name, why: '' };
    reasons.push(`${peer.name}: ${why}`);
  }
  return { why: reasons.join('; ') || 'the cluster has no other members' };
}

function whyNotEligible(peer: PeerReport, view: ClusterView, myLsn: number, maxLag: number, checkLag: boolean): string | undefined {
  if (!peer.reachable) return 'its API does not answer';
  if (peer.nofailover || memberTag(view.members.get(peer.name)?.doc ?? {}, 'nofailover')) return 'tagged nofailover';
  if (peer.role !== 'replica') return `role is ${peer.role ?? 'unknown'}`;
  const lag = myLsn - (peer.replicaLocation ?? 0);
  if (checkLag && lag > maxLag) return `lagging ${lag} bytes (> ${maxLag})`;
  return undefined;
}

/**
 * The leader race with a failover key set. `race`: this node races at once without health checks (it is the
 * candidate); `wait`: it must not race (the named candidate is healthy, or this node is the leader being switched
 * away from); undefined: the race runs as usual.
 */
export function raceWithManualRequest(obs: Observation, view: ClusterView): { race: true; reason: string } | { race: false; reason: string } | undefined {
  const f = view.failover;
  if (!f?.member) return undefined;
  if (f.member === obs.name) return { race: true, reason: `manual failover: I am the candidate (${obs.name}), taking the leader lock` };
  const candidate = view.members.get(f.member);
  const candidateUp = candidate?.doc.state === 'running' && (obs.peers?.find((p) => p.name === f.member)?.reachable ?? true);
  if (candidateUp) return { race: false, reason: `waiting for manual failover to ${f.member}` };
  if (f.leader === obs.name) return { race: false, reason: `not racing: I was switched away from and ${f.member} is not healthy yet` };
  return undefined;
}
