/**
 * The switchover log: follows a planned switchover for logs and metrics, from the first table that holds writes
 * for it to the next table that routes writes to a confirmed leader. Observes only; the holding itself is the
 * routing table's (routing.ts) and the hold queue's.
 */
import type { Logger } from '../log/logger';
import type { RouterMetrics, SwitchoverOutcome } from '../metrics/router-metrics';
import type { RoutingTable } from './types';

/** A planned switchover whose new writes are being held. */
export interface HeldSwitchover {
  revision: number;
  from: string;
  to?: string;
  sinceMs: number;
}

/**
 * How a held switchover ended, given the first table that routes writes again: to a new leader (completed), to the
 * old one while the request (`requestRevision`: the table's switchover, if any) is still the same (hold_expired:
 * switchover_hold passed), or to the old one after the request was cleared (rolled_back).
 */
export function switchoverOutcome(held: HeldSwitchover, leader: string, requestRevision: number | undefined): SwitchoverOutcome {
  return leader !== held.from ? 'completed' : requestRevision === held.revision ? 'hold_expired' : 'rolled_back';
}

export class SwitchoverLog {
  private held: HeldSwitchover | undefined;

  constructor(
    private readonly log: Logger,
    private readonly metrics: Pick<RouterMetrics, 'switchoverEnded'>,
  ) {}

  /** True while a switchover is being followed (its end is still to be logged). */
  get following(): boolean {
    return this.held !== undefined;
  }

  /** A new table at `nowMs` (monotonic). */
  follow(table: RoutingTable, nowMs: number): void {
    const sw = table.switchover;
    if (sw?.holding) {
      if (this.held?.revision === sw.revision) return;
      this.held = { revision: sw.revision, from: sw.leader, ...(sw.candidate ? { to: sw.candidate } : {}), sinceMs: nowMs };
      this.log.info({ leader: sw.leader, candidate: sw.candidate ?? null, revision: sw.revision, generation: table.generation }, 'switchover pending: holding new write connections');
      return;
    }
    const ep = this.held;
    const leader = table.leader;
    if (!ep || !leader) return;
    const outcome = switchoverOutcome(ep, leader.member, sw?.revision);
    this.held = undefined;
    const heldMs = nowMs - ep.sinceMs;
    this.metrics.switchoverEnded(outcome, heldMs);
    const fields = { outcome, leader: leader.member, previous: ep.from, candidate: ep.to ?? null, durationMs: Math.round(heldMs), generation: table.generation };
    if (outcome === 'completed') this.log.info(fields, 'switchover done: releasing held write connections');
    else this.log.warn(fields, 'switchover not done: releasing held write connections to the old leader');
  }
}
