/**
 * What the control plane and the router workers say to each other over the cluster IPC channel (structured
 * clone: `serialization: 'advanced'`, so Infinity and undefined survive). Times in tables are on the host clock
 * (fence.ts shiftTable).
 */
import type { RouterConfig, RoutingTable } from '../types';

export interface WorkerStats {
  pid: number;
  ports: Record<string, number>;
  sessions: Record<string, { active: number; pending: number; held: number }>;
  byBackend: Record<string, Record<string, number>>;
  /** Per listener: open connections per client address (the largest 100). */
  byClient: Record<string, Record<string, number>>;
  held: Record<string, number>;
  generation: number;
}

export type ToWorker =
  | { t: 'init'; index: number; config: RouterConfig; logLevel: string; table: RoutingTable; hostNowMs: number }
  | { t: 'table'; table: RoutingTable }
  | { t: 'reconfigure'; config: RouterConfig; id: number }
  | { t: 'metrics'; id: number }
  | { t: 'stop' };

export type FromWorker =
  | { t: 'hello' }
  | { t: 'ready'; stats: WorkerStats }
  | { t: 'failed'; error: string }
  | { t: 'stats'; stats: WorkerStats }
  | { t: 'check'; member: string }
  | { t: 'reconfigured'; id: number; error?: string; stats: WorkerStats }
  | { t: 'metrics'; id: number; json: unknown[] };

/** CLOCK_MONOTONIC in ms: shared by every process of the host (performance.now() is per process). */
export const hostMonotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
