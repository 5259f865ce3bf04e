/**
 * The last leader changes this router saw, for `/status` and the status page: a small ring buffer fed with every
 * new routing table. Pure (the wall-clock time is passed in). A leader key that goes away and is then taken by
 * another member is one change, with how long there was no leader key (a switchover or a failover); a key
 * released and retaken by the same member, or not yet retaken, is shown as it is.
 */
import type { RoutingTable } from './types';

export interface LeaderChange {
  /** Wall-clock ms (epoch) when the leader key changed (or, merged, when it was taken again). */
  atMs: number;
  from?: string;
  to?: string;
  /** `start`: the first leader seen; `switchover`: a planned switchover was pending; `change`: anything else. */
  cause: 'start' | 'switchover' | 'change';
  /** When the key was gone in between: how long (ms). */
  leaderlessMs?: number;
  /** The routing generation of the table that showed it. */
  generation: number;
}

export class LeaderChanges {
  private readonly entries: LeaderChange[] = [];
  private seen = false;
  /**
   * The leader of the last planned switchover seen pending, kept until its key moves or it is confirmed leader
   * with no request pending (rolled back): a table in between may show no request (leader briefly unconfirmed).
   */
  private switchoverFrom: string | undefined;

  constructor(private readonly capacity = 20) {}

  /** Records the change between two consecutive tables, if their leader keys differ. */
  record(
    table: Pick<RoutingTable, 'leaderKey' | 'generation' | 'switchover' | 'leader'>,
    previous: Pick<RoutingTable, 'leaderKey' | 'switchover'>,
    atMs: number,
  ): void {
    const from = previous.leaderKey;
    const to = table.leaderKey;
    if (previous.switchover) this.switchoverFrom = previous.switchover.leader;
    if (from === to) {
      if (table.switchover) this.switchoverFrom = table.switchover.leader;
      else if (this.switchoverFrom !== undefined && table.leader?.member === this.switchoverFrom) this.switchoverFrom = undefined;
      return;
    }
    const planned = from !== undefined && this.switchoverFrom === from;
    this.switchoverFrom = undefined;
    const last = this.entries[this.entries.length - 1];
    if (!from && to && last && last.from !== undefined && last.to === undefined && last.from !== to) {
      last.to = to;
      last.leaderlessMs = atMs - last.atMs;
      last.atMs = atMs;
      last.generation = table.generation;
      return;
    }
    const cause = !this.seen && !from ? 'start' : planned ? 'switchover' : 'change';
    this.seen = true;
    this.entries.push({ atMs, ...(from ? { from } : {}), ...(to ? { to } : {}), cause, generation: table.generation });
    if (this.entries.length > this.capacity) this.entries.shift();
  }

  /** Newest first. */
  list(): readonly LeaderChange[] {
    return [...this.entries].reverse();
  }
}
