/**
 * Whether the agent wants its node's fence armed (pure), decided once per HA cycle before its actions run:
 *   renew   — this node holds the leader key on our own lease, or is about to become primary: every successful
 *             keepalive moves the fence's deadline on;
 *   hold    — postgres may still be a primary but the key is not (or not yet) ours on our lease: a restarted agent
 *             whose key still sits on its predecessor's lease, or a leader that lost its key and is demoting. The
 *             deadline is left where it is, so the fence stops postgres at it unless the agent gets there first;
 *   disarm  — postgres is a replica or stopped, or the cluster is paused (Patroni's maintenance mode: the agent does
 *             not touch postgres, and neither does its fence; Patroni disables its watchdog in pause too);
 *   off     — the fence is not configured (watchdog.mode: off).
 */
export type ArmMode = 'renew' | 'hold' | 'disarm' | 'off';

export interface ArmFacts {
  enabled: boolean;
  paused: boolean;
  /** The leader key names this member and is bound to the lease this agent renews. */
  holdsKeyOnOwnLease: boolean;
  /** Postgres runs and does not answer that it is in recovery (unknown counts as primary). */
  postgresMayBePrimary: boolean;
  /** This cycle's actions make postgres a primary (promote, start as primary, bootstrap). */
  becomesPrimary: boolean;
}

export function planArm(f: ArmFacts): { mode: ArmMode; reason: string } {
  if (!f.enabled) return { mode: 'off', reason: 'fence off (watchdog.mode: off)' };
  if (f.paused) return { mode: 'disarm', reason: 'paused: postgres is left to the operator' };
  if (f.holdsKeyOnOwnLease) return { mode: 'renew', reason: 'leader key held on our lease' };
  if (f.becomesPrimary) return { mode: 'renew', reason: 'becoming primary' };
  if (f.postgresMayBePrimary) return { mode: 'hold', reason: 'postgres may be primary without our leader key: no renewal' };
  return { mode: 'disarm', reason: 'postgres is not a primary' };
}
