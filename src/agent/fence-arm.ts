/** The facts arm-plan.ts decides on, read from one cycle's observation and actions (pure), and the arming they lead to. */
import { planArm, type ArmFacts } from '../fence/arm-plan';
import type { FencePort } from '../fence/keeper';
import type { Observation } from './observation';
import type { Action } from './actions';

const MAKES_PRIMARY: ReadonlySet<Action['type']> = new Set(['promote', 'start_primary', 'bootstrap']);

export function armFacts(obs: Observation, actions: readonly Action[]): ArmFacts {
  // Failsafe mode: with etcd unreadable the leader's validity is renewed by good failsafe rounds (failsafe.ts), and
  // the fence must follow them; the last view's key on our lease is what those rounds keep alive.
  const leader = obs.dcs.ok ? obs.dcs.view.leader : obs.dynamic.failsafeMode ? obs.dcs.lastView?.leader : undefined;
  return {
    enabled: true,
    paused: obs.dynamic.pause === true,
    holdsKeyOnOwnLease: leader?.name === obs.name && obs.lock.leaseId !== undefined && String(leader.lease) === obs.lock.leaseId,
    postgresMayBePrimary: obs.postgres.running && obs.postgres.probe.inRecovery !== true,
    becomesPrimary: actions.some((a) => MAKES_PRIMARY.has(a.type)),
  };
}

/**
 * One cycle's arming. In renew mode the grant is also renewed each cycle, not only at keepalives: a fence that fired and
 * exited (its postgres stopped) is then replaced before a primary restarted since (the lease renewed again) could run
 * unfenced through a freeze or kill of this agent that comes before its next keepalive (seeds 4235, 4266, 4268).
 */
export function armFence(fence: FencePort | undefined, facts: ArmFacts, validUntilMs: number, marginMs: number): void {
  const mode = planArm(facts).mode;
  fence?.want(mode, validUntilMs, marginMs);
  if (mode === 'renew') fence?.renewed(validUntilMs, marginMs);
}
