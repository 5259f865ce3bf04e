/**
 * Self-fencing (pure): whether the local postgres must be stopped because the leader lock's validity ran out without
 * a renewal (design §3). The check runs at the fencing point, outside the HA loop, so it asks for as little as it
 * can: each call names the one fact it needs next (the runner reads it and asks again), and the cheapest facts
 * come first: no SQL unless a standby.signal leaves it open.
 */
import { isPrimaryRole } from '../model/member';
import type { Observation } from './observation';
import type { Action } from './actions';

export interface FenceFacts {
  /** The role published at the end of the last tick. */
  publishedRole: string;
  /** Read in this order, each only when the plan asks for it. */
  running?: boolean;
  standbySignal?: boolean;
  /** A probe's answer; null when the probe failed. */
  probe?: { reachable: boolean; inRecovery?: boolean | undefined } | null;
}

export type FencePlan =
  | { step: 'fence'; reason: string }
  | { step: 'spare'; reason: string }
  | { step: 'ask'; fact: 'running' | 'standby_signal' | 'probe' };

/**
 * Decided on postgres' live state, not only on the last published role: that is written at the end of a tick, and a
 * tick cut off from the DCS can take several retry_timeouts, so a node that promoted meanwhile still shows `replica`.
 * When a fact cannot be read, the answer leans to fencing (running unknown: running; standby.signal unknown: none).
 */
export function planFence(f: FenceFacts): FencePlan {
  if (isPrimaryRole(f.publishedRole)) return { step: 'fence', reason: `published role ${f.publishedRole}` };
  if (f.running === undefined) return { step: 'ask', fact: 'running' };
  if (!f.running) return { step: 'spare', reason: 'postgres is not running' };
  if (f.standbySignal === undefined) return { step: 'ask', fact: 'standby_signal' };
  if (!f.standbySignal) return { step: 'fence', reason: 'postgres runs without standby.signal: a primary' };
  if (f.probe === undefined) return { step: 'ask', fact: 'probe' };
  if (f.probe?.reachable && f.probe.inRecovery === true) return { step: 'spare', reason: 'postgres answers that it is in recovery' };
  return { step: 'fence', reason: 'standby.signal exists but postgres does not answer that it is in recovery' };
}

/** After a long task: the fence timer may have fired while postgres was down or starting, so look again. */
export function lockExpired(lock: { haveLease: boolean; validUntilMs: number }, nowMs: number): boolean {
  return lock.haveLease && lock.validUntilMs <= nowMs;
}

/**
 * The answer when decide itself throws: do nothing, except that a running primary whose lock validity ran out is
 * demoted (stopped), since nothing else would stop it taking writes.
 */
export function actionsWhenDecideFails(obs: Pick<Observation, 'postgres' | 'lock' | 'nowMs'>): Action[] {
  const primary = obs.postgres.running && obs.postgres.probe.inRecovery === false;
  return primary && obs.lock.validUntilMs <= obs.nowMs ? [{ type: 'demote', mode: 'offline' }] : [];
}
