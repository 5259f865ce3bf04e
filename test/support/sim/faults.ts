/**
 * The fault plan of one seed: what breaks, where and for how long, drawn from its own PRNG stream. Faults end
 * before the quiet period, after which the cluster must heal on its own (liveness).
 */
import type { Rng } from './rng';

/**
 * crash: the whole node (agent, fence, postgres); agent-kill: kill -9 of the agent alone (postgres and its fence keep
 * running, the agent is started again later); freeze: SIGSTOP of the agent, SIGCONT later; stall: the agent's event
 * loop stuck for less than the fencing margin.
 */
export type FaultKind = 'crash' | 'agent-kill' | 'pgcrash' | 'stall' | 'freeze' | 'partition' | 'isolate' | 'dcsdown' | 'replcut' | 'fence-race';

export const ALL_FAULTS: readonly FaultKind[] = ['crash', 'agent-kill', 'pgcrash', 'stall', 'freeze', 'partition', 'isolate', 'dcsdown', 'replcut', 'fence-race'];

export interface Fault {
  at: number;
  kind: FaultKind;
  /** Node index, or -1: whoever is primary when it fires (else a random node). */
  node: number;
  durationMs: number;
  mode: 'blackhole' | 'refuse';
}

const WEIGHTS: Record<FaultKind, number> = {
  crash: 3, 'agent-kill': 2, pgcrash: 1, stall: 2, freeze: 2, partition: 3, isolate: 2, dcsdown: 1, replcut: 2, 'fence-race': 3,
};

export interface PlanOptions {
  kinds: readonly FaultKind[];
  nodes: number;
  ttlMs: number;
  marginMs: number;
  fromMs: number;
  untilMs: number;
}

export function planFaults(rng: Rng, o: PlanOptions): Fault[] {
  const faults: Fault[] = [];
  const total = o.kinds.reduce((s, k) => s + WEIGHTS[k], 0);
  if (total === 0) return faults;
  for (let at = o.fromMs + rng.range(0, 5000); at < o.untilMs; at += rng.range(3000, 20000)) {
    let r = rng.range(0, total);
    let kind = o.kinds[0]!;
    for (const k of o.kinds) {
      r -= WEIGHTS[k];
      if (r < 0) {
        kind = k;
        break;
      }
    }
    const node = rng.chance(0.5) ? -1 : rng.int(0, o.nodes - 1);
    const durationMs = durationOf(rng, kind, o);
    faults.push({ at, kind, node, durationMs: Math.min(durationMs, o.untilMs - at), mode: rng.chance(0.5) ? 'blackhole' : 'refuse' });
  }
  return faults;
}

function durationOf(rng: Rng, kind: FaultKind, o: PlanOptions): number {
  switch (kind) {
    case 'crash':
      return rng.range(500, 3 * o.ttlMs);
    case 'agent-kill':
      // From a quick restart (the old grant still running: a hand-over) to one kept down past the failover.
      return rng.range(200, 4 * o.ttlMs);
    case 'pgcrash':
      return 0;
    case 'stall':
      return rng.range(0.2, 0.95) * o.marginMs;
    case 'freeze':
      // Short ones thaw before the fencing point, long ones after the fence stopped postgres and the lease expired.
      return rng.range(0.2, 3) * o.ttlMs;
    case 'partition':
    case 'isolate':
      return rng.range(1000, 3 * o.ttlMs);
    case 'dcsdown':
      return rng.range(1000, 2 * o.ttlMs);
    case 'replcut':
      return rng.range(1000, 30000);
    case 'fence-race':
      return rng.range(o.ttlMs + 2000, 3 * o.ttlMs);
  }
}
