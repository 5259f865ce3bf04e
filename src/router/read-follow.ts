/**
 * Read sessions follow the role (docs/router.md "Read sessions follow the role"): which open read sessions to end
 * when a member leaves a read pool, decided purely from the previous and the new routing table and the listener
 * configs. No I/O, no clock, no logger: the timers and the kill are read-follow-timers.ts's.
 *
 * A member's verdict for a pool says why it is out (routing.ts sets `cause`): `promoted` (it holds the leader key
 * and the pool keeps the leader out, or its agent reports primary), `lag` (a measured lag over the limit; unknown
 * lag has no cause), `tags` (noloadbalance, a tag filter, weight 0). Other reasons (agent down, not running, not
 * streaming) end nothing: a dead backend ends its sessions by itself, and a restarting one is brief.
 *
 * An end is planned when a member takes such a cause in a pool: it was in the pool, or out for another reason, in
 * the previous table. So a replica first seen unreachable during a switchover and then holding the leader key is
 * still ended, and a member that stays out for the same cause is planned once. A member that already held the
 * leader key is not "promoted" again (a read-only pool's fallback leader when replicas come back). A member back in
 * the pool is listed in `back`: its pending end is cancelled and its sessions stay.
 */
import type { EndSessionsConfig, ListenerConfig, MemberVerdict, ReadExitCause, RoutingTable } from './types';

/**
 * Defaults, per cause. Promotion: at once (0), as HAProxy's Patroni template does (`on-marked-down
 * shutdown-sessions`): a session left on a new primary reads from, and may write to, the primary through a read
 * port. Lag: never, since lag comes and goes (a bulk load, a vacuum) and the limit is there to keep new sessions
 * off a stale replica; an open session already saw what it saw, and ending it costs the application a failed
 * transaction and a reconnect for a passing condition. Tags: never, since `noloadbalance` is how an operator drains
 * a member: new sessions go elsewhere and open ones finish (give a grace to set a deadline on the drain).
 */
export const DEFAULT_END_SESSIONS: EndSessionsConfig = { promoted: 0, lag: 'never', tags: 'never' };

/** One (listener, member) whose open sessions end after `graceMs`; `sentence` says why, for the log. */
export interface ReadEnd {
  listener: string;
  member: string;
  reason: ReadExitCause;
  graceMs: number;
  sentence: string;
}

export interface ReadFollowPlan {
  end: ReadEnd[];
  /** Members back in a pool: a pending end of theirs there is cancelled. */
  back: { listener: string; member: string }[];
}

const CAUSE_WORDS: Record<ReadExitCause, string> = { promoted: 'was promoted', lag: 'lags', tags: 'is excluded by its tags' };

function graceText(ms: number): string {
  return ms === 0 ? 'at once' : `after ${(ms / 1000).toFixed(1)} s`;
}

export function planReadFollow(previous: RoutingTable, table: RoutingTable, listeners: readonly ListenerConfig[]): ReadFollowPlan {
  const plan: ReadFollowPlan = { end: [], back: [] };
  const before = new Map<string, MemberVerdict>(previous.members.map((m) => [m.member, m]));
  for (const listener of listeners) {
    if (listener.role === 'primary') continue; // write sessions follow the leader (Router.onTable)
    const ends = listener.endSessions ?? DEFAULT_END_SESSIONS;
    for (const now of table.members) {
      const was = before.get(now.member);
      const prev = was?.pools[listener.name];
      const next = now.pools[listener.name];
      if (!prev || !next) continue; // a new member or listener has no sessions yet
      if (next.in) {
        if (!prev.in) plan.back.push({ listener: listener.name, member: now.member });
        continue;
      }
      const cause = next.cause;
      if (!cause || (!prev.in && prev.cause === cause)) continue;
      // An `any` pool serves the leader too; and a member that already held the leader key was not promoted now
      // (a leader in a read-only pool as the fallback, or briefly unconfirmed, when replicas qualify again).
      if (cause === 'promoted' && (listener.role === 'any' || was!.isLeaderKey)) continue;
      const grace = ends[cause];
      if (grace === 'never') continue;
      plan.end.push({
        listener: listener.name,
        member: now.member,
        reason: cause,
        graceMs: grace,
        sentence: `${now.member} left the pool of ${listener.name} because it ${CAUSE_WORDS[cause]} (${next.reason}): its open sessions there end ${graceText(grace)}`,
      });
    }
  }
  return plan;
}
