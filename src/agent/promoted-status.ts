/**
 * The moment `pg_ctl promote` returns. Routers admit a new leader only once its agent reports role master (REST and
 * member key), and a tick that would say so first reads etcd and probes postgres: a few hundred ms on a quiet machine,
 * seconds under load, all of it part of a switchover's write gap. So the runner publishes the promotion at once
 * (statusAfterPromote) and keeps a tick that began observing before it from publishing the replica it saw
 * (publishPlan). Pure: no I/O, no clock.
 */
import type { AgentStatus } from './status';

/**
 * The published status once postgres left recovery: role master, state running. The position is the replica's last
 * received or replayed LSN, a lower bound of the new primary's flush position (routers use it as the lag reference,
 * which only moves forward); the timeline and the replica-only fields are left out until the next tick's probe,
 * since the new timeline's number is postgres' choice (it skips numbers the cluster used).
 */
export function statusAfterPromote(previous: AgentStatus): AgentStatus {
  const p = previous.probe;
  const position = Math.max(p.flushLsn ?? 0, p.receiveLsn ?? 0, p.replayLsn ?? 0);
  return {
    ...previous,
    role: 'master',
    state: 'running',
    probe: {
      reachable: true,
      inRecovery: false,
      ...(position > 0 ? { flushLsn: position } : {}),
      ...(p.serverVersion !== undefined ? { serverVersion: p.serverVersion } : {}),
      ...(p.postmasterStartTime !== undefined ? { postmasterStartTime: p.postmasterStartTime } : {}),
      ...(p.pendingRestart !== undefined ? { pendingRestart: p.pendingRestart } : {}),
      ...(p.slots !== undefined ? { slots: p.slots } : {}),
    },
  };
}

export interface PublishFacts {
  /** How many promotions had returned when the tick began observing postgres. */
  promotionsBefore: number;
  /** How many have returned now (a count, not a time: ticks and promotions may share a clock reading). */
  promotionsNow: number;
}

/**
 * Whether a tick publishes what it observed. One that began observing before a promotion returned saw a replica: its
 * status would take role master back until the next tick, and routers would stop confirming the leader they just
 * admitted. It publishes nothing; the promotion's wake-up starts a fresh tick right after it.
 */
export function publishPlan(f: PublishFacts): { publish: boolean; reason: string } {
  if (f.promotionsNow !== f.promotionsBefore) {
    return { publish: false, reason: 'postgres was promoted after this tick observed it: its status is stale' };
  }
  return { publish: true, reason: 'the observation is not older than the last promotion' };
}
