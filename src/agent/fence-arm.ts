/** The facts arm-plan.ts decides on, read from one cycle's observation and actions (pure). */
import type { ArmFacts } from '../fence/arm-plan';
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
