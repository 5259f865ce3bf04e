/**
 * A worker's routing table: the control plane's tables as they arrive, on this process's clock, and the worker's
 * own fence. When a table's write bound passes before a fresher one arrives (the control plane stalled, died, or
 * lost etcd and could not say so), the worker drops the leader itself at the bound: one timer, on the injected
 * scheduler. No worker routes a write on a table older than the bound, whatever the control plane does.
 */
import type { Scheduler } from '../../lib/clock';
import type { TableSource } from '../router';
import type { RoutingTable } from '../types';
import { expireWrites, shiftTable } from './fence';

export interface RemoteTopologyOptions {
  scheduler: Scheduler;
  /** The host's shared monotonic clock (messages.ts hostMonotonicMs). */
  hostNow: () => number;
  /** The first table (host-clock times). */
  initial: RoutingTable;
  onTable: (table: RoutingTable, previous: RoutingTable) => void;
  /** Asks the control plane for an immediate health check of a member (a backend refused a connection). */
  checkNow: (member: string) => void;
}

export class RemoteTopology implements TableSource {
  readonly health: { checkNow(member: string): void };
  private current: RoutingTable;
  private timer: unknown;

  constructor(private readonly opts: RemoteTopologyOptions) {
    this.health = { checkNow: opts.checkNow };
    this.current = this.localize(opts.initial);
    this.arm();
  }

  table(): RoutingTable {
    return this.current;
  }

  /** A table from the control plane (host-clock times). */
  receive(shared: RoutingTable): void {
    this.apply(this.localize(shared));
  }

  /** Asked for when the router finds the bound passed: fail closed now (the control plane's next table may lag). */
  recompute(): void {
    const next = expireWrites(this.current, this.opts.scheduler.now());
    if (next === this.current) this.arm(); // a timer that fired a moment early: wait for the bound again
    else this.apply(next);
  }

  stop(): void {
    if (this.timer !== undefined) this.opts.scheduler.clearTimer(this.timer);
    this.timer = undefined;
  }

  private localize(shared: RoutingTable): RoutingTable {
    const local = shiftTable(shared, this.opts.scheduler.now() - this.opts.hostNow());
    return expireWrites(local, this.opts.scheduler.now());
  }

  private apply(next: RoutingTable): void {
    const prev = this.current;
    if (next === prev) return;
    this.current = next;
    this.arm();
    this.opts.onTable(next, prev);
  }

  private arm(): void {
    if (this.timer !== undefined) this.opts.scheduler.clearTimer(this.timer);
    this.timer = undefined;
    const t = this.current;
    if (!t.leader || !Number.isFinite(t.writeValidUntilMs)) return;
    this.timer = this.opts.scheduler.setTimer(() => {
      this.timer = undefined;
      this.recompute();
    }, Math.max(1, t.writeValidUntilMs - this.opts.scheduler.now()));
  }
}
