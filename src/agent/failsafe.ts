/**
 * Failsafe mode (Patroni 3.0's `failsafe_mode`), the pure half: facts in, a plan and one reason sentence out.
 *
 * Without it, a leader that cannot reach etcd demotes, so an etcd outage makes the whole cluster read-only. With it:
 * - the leader keeps the `/failsafe` key up to date: the members that may take part (name → api_url);
 * - when its keepalives stop succeeding, the leader POSTs `/failsafe` to every other member listed there; it keeps
 *   running as primary only while every one of them answers 200 `Accepted` within the deadline;
 * - a member that accepted such a POST does not race for the leader key for ttl after it (Patroni injects that
 *   leader into its view), and a member missing from a non-empty `/failsafe` key never races;
 * - a member that is not reached cannot be held back by anyone, so the leader must stop taking writes.
 * Safety: a good round renews the leader's validity (and its fence grant) from the round's *send* time, the way a
 * keepalive does; members count their ttl from the later *receipt*, so the leader's fencing point (send + ttl −
 * margin) always comes before any confirming member may race. Once etcd answers again, normal rules resume.
 */
import type { ClusterView } from '../model/cluster';
import type { Action } from './actions';
import type { Observation } from './observation';

/** What the HA loop knows of failsafe: the leader's last round, the last leader that POSTed to this member. */
export interface FailsafeState {
  /** The last round during the current loss of etcd; absent when keepalives renew the lease (no round is due). */
  round?: { ok: boolean; reason: string; atMs: number };
  /** The leader that last POSTed `/failsafe` here, on the monotonic clock. */
  leader?: { name: string; receivedMs: number };
}

/** The `/failsafe` key's value the leader wants: every member with an api_url (Patroni's `_failsafe_config`). */
export function failsafeTopology(view: ClusterView): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of [...view.members.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (typeof m.doc.api_url === 'string' && m.doc.api_url) out[m.name] = m.doc.api_url;
  }
  return out;
}

/** The leader's write of `/failsafe` when failsafe mode is on and the topology changed (its own member key listed). */
export function topologyWrite(obs: Observation, view: ClusterView): Action | undefined {
  if (!obs.dynamic.failsafeMode) return undefined;
  const want = failsafeTopology(view);
  if (!(obs.name in want)) return undefined;
  if (view.failsafe && sameTopology(view.failsafe, want)) return undefined;
  return { type: 'write_failsafe', members: want };
}

function sameTopology(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

export interface RoundFacts {
  failsafeMode: boolean;
  paused: boolean;
  me: string;
  /** The last view named me leader and my lease is still held. */
  leader: boolean;
  /** Postgres runs as a primary (published role). */
  primary: boolean;
  /** The `/failsafe` key of the last view (undefined: absent or not an object). */
  topology: Record<string, string> | undefined;
  nowMs: number;
  /** Send time of the last keepalive etcd answered, monotonic ms (good rounds do not count: they run while it fails). */
  lastKeepaliveMs: number;
  keepaliveIntervalMs: number;
}

export type RoundPlan =
  | { step: 'idle'; reason: string }
  | { step: 'round'; members: Array<{ name: string; apiUrl: string }>; reason: string };

/**
 * Whether the leader runs a failsafe round now. A round is due once a keepalive is overdue by half an interval
 * (one failed or hung keepalive): etcd answering renews the lease, and then no member is bothered.
 */
export function planRound(f: RoundFacts): RoundPlan {
  if (!f.failsafeMode) return { step: 'idle', reason: 'failsafe_mode is off' };
  if (f.paused) return { step: 'idle', reason: 'maintenance mode: no failsafe rounds' };
  if (!f.leader || !f.primary) return { step: 'idle', reason: 'not the leader running a primary' };
  const sinceMs = Math.round(f.nowMs - f.lastKeepaliveMs);
  if (sinceMs < f.keepaliveIntervalMs * 1.5) return { step: 'idle', reason: `last keepalive ${sinceMs} ms ago: keepalives renew the lease` };
  if (!f.topology || !(f.me in f.topology)) {
    return { step: 'idle', reason: 'the /failsafe key does not list me: no failsafe, normal rules apply' };
  }
  const members = Object.entries(f.topology).filter(([name]) => name !== f.me).map(([name, apiUrl]) => ({ name, apiUrl }));
  return { step: 'round', members, reason: `no keepalive for ${sinceMs} ms: asking ${members.length} member(s) to confirm me as leader` };
}

export interface RoundAnswer {
  name: string;
  /** HTTP status, undefined when no answer came (refused, timed out). */
  status?: number;
  body?: string;
  error?: string;
}

/** A round is good only when every member answered 200 `Accepted` (Patroni's check_failsafe_topology). */
export function judgeRound(answers: readonly RoundAnswer[]): { ok: boolean; reason: string } {
  if (answers.length === 0) return { ok: true, reason: 'failsafe round: a single-member cluster, nobody to confirm' };
  const bad = answers.filter((a) => a.status !== 200 || a.body !== 'Accepted');
  if (bad.length === 0) {
    return { ok: true, reason: `continue to run as a leader because failsafe mode is enabled and all members are accessible (${answers.length})` };
  }
  const why = bad.map((a) => `${a.name}: ${a.error ?? `HTTP ${a.status} ${a.body ?? ''}`.trim()}`).join('; ');
  return { ok: false, reason: `failsafe round failed, not every member confirmed me (${why})` };
}

/**
 * The leader's answer when etcd cannot be read: keep running as primary, or undefined (demote, today's rule).
 * It holds while the lock validity (keepalives, then good rounds) lasts and no round has failed; a failed round
 * demotes at once, as Patroni does, rather than waiting for the fencing point.
 */
export function holdWithoutDcs(obs: Observation): string | undefined {
  if (!obs.dynamic.failsafeMode || obs.lock.validUntilMs <= obs.nowMs) return undefined;
  const round = obs.failsafe?.round;
  if (round && !round.ok) return undefined;
  if (round) return round.reason;
  // No figure in the sentence: it is logged when it changes, and a countdown would change every tick.
  return 'failsafe mode: DCS is not accessible, my lock is still valid and the first failsafe round is pending';
}

/** Whether a failsafe POST was received within ttl (Patroni's Failsafe.leader / is_active on a replica). */
export function failsafeLeader(state: FailsafeState | undefined, nowMs: number, ttlMs: number): string | undefined {
  const l = state?.leader;
  return l && nowMs - l.receivedMs < ttlMs ? l.name : undefined;
}

/** Why this member stays out of a leader race because of failsafe mode; undefined: race as usual. */
export function raceBlockedByFailsafe(obs: Observation, view: ClusterView): string | undefined {
  if (!obs.dynamic.failsafeMode) return undefined;
  const topology = view.failsafe;
  if (topology && Object.keys(topology).length > 0 && !(obs.name in topology)) {
    return 'failsafe mode: I am not listed in the /failsafe key, not racing';
  }
  const leader = failsafeLeader(obs.failsafe, obs.nowMs, obs.dynamic.ttlSeconds * 1000);
  if (leader && leader !== obs.name) {
    return `failsafe mode: ${leader} confirmed itself leader through POST /failsafe within ttl, not racing`;
  }
  return undefined;
}

export interface PostFacts {
  failsafeMode: boolean;
  /** Postgres runs here as a primary. */
  runningPrimary: boolean;
  body: Record<string, unknown>;
}

/** The answer to `POST /failsafe` (Patroni's do_POST_failsafe): 200 `Accepted` records the sender as leader. */
export function answerFailsafePost(f: PostFacts): { code: number; message: string; leader?: string } {
  if (!f.failsafeMode) return { code: 502, message: 'failsafe mode is off' };
  const name = f.body.name;
  if (typeof name !== 'string' || !name) return { code: 400, message: 'the body names no leader' };
  if (f.runningPrimary) return { code: 500, message: 'Running as a leader' };
  return { code: 200, message: 'Accepted', leader: name };
}

/** `failsafe_mode_is_active`: a leader after a good round, a replica within ttl of a POST. */
export function failsafeActive(state: FailsafeState | undefined, nowMs: number, ttlMs: number): boolean {
  if (state?.round?.ok && nowMs - state.round.atMs < ttlMs) return true;
  return failsafeLeader(state, nowMs, ttlMs) !== undefined;
}

/**
 * The validity published as this member's leadership (REST `/primary`, /metrics): the leader key on my lease in
 * this tick's view; with etcd unreadable, in failsafe mode, the last view's key while holdWithoutDcs holds
 * (Patroni keeps answering 200 on /primary then, so HAProxy-style checks keep routing writes).
 */
export function publishedLeaderValidity(obs: Observation, validUntilMs: number): number {
  const mine = (leader: ClusterView['leader']) => leader?.name === obs.name && leader.lease === obs.lock.leaseId;
  if (obs.dcs.ok) return mine(obs.dcs.view.leader) ? validUntilMs : 0;
  return mine(obs.dcs.lastView?.leader) && holdWithoutDcs(obs) ? validUntilMs : 0;
}
