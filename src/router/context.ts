/**
 * What the router's rooms (listeners, admission, refusals, negotiation, backend connect, close, cancel,
 * switchover log) share: the injected dependencies and the current configuration, read through a call so a
 * reload reaches every room at once.
 */
import type { Scheduler } from '../lib/clock';
import type { Logger } from '../log/logger';
import type { RouterMetrics } from '../metrics/router-metrics';
import type { AddressCounts } from './limits';
import type { RouterConfig, RoutingTable } from './types';

/**
 * Where the router reads its routing table: the Topology itself (one process), or a worker's copy of the control
 * plane's tables (workers/remote-topology.ts). `recompute()` is asked for when a table's write bound has passed.
 */
export interface TableSource {
  table(): RoutingTable;
  recompute(): void;
  health: { checkNow(member: string): void };
}

export interface RouterDeps {
  topology: TableSource;
  metrics: RouterMetrics;
  logger: Logger;
  scheduler: Scheduler;
}

export interface RoomContext {
  readonly deps: RouterDeps;
  readonly log: Logger;
  config(): RouterConfig;
  /** stop() was called: nothing new is routed. */
  stopping(): boolean;
  /** Sessions per backend member with that backend chosen (least-connections balance), this process only. */
  readonly load: AddressCounts;
}

/**
 * Destroys `socket` if it has not closed `ms` after a graceful end (a peer that never closes its side), on the
 * router's scheduler; the timer goes once the socket closes.
 */
export function destroyAfter(scheduler: Scheduler, socket: { destroy(): void; once(event: 'close', fn: () => void): unknown }, ms: number): void {
  const t = scheduler.setTimer(() => socket.destroy(), ms);
  socket.once('close', () => scheduler.clearTimer(t));
}

/** How long a gracefully ended socket may take to close before it is destroyed. */
export const END_BACKSTOP_MS = 5000;
