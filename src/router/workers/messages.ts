/**
 * What the control plane and the router workers say to each other over the cluster IPC channel (structured
 * clone: `serialization: 'advanced'`, so Infinity and undefined survive). Times in tables are on the host clock
 * (fence.ts shiftTable).
 */
import type { RouterConfig, RoutingTable } from '../types';
import type { PoolStats } from '../pool/pool-control';
import type { ClientStats } from '../pool/client-stats';

export interface WorkerStats {
  pid: number;
  ports: Record<string, number>;
  sessions: Record<string, { active: number; pending: number; held: number }>;
  byBackend: Record<string, Record<string, number>>;
  /** Per listener: open connections per client address (the largest 100). */
  byClient: Record<string, Record<string, number>>;
  held: Record<string, number>;
  generation: number;
  /** Pooled listeners: the worker's own pools (SHOW POOLS) and clients (SHOW CLIENTS). */
  pools: PoolStats[];
  clients: ClientStats[];
}

export interface PausedState {
  all: boolean;
  members: string[];
}

/** A CancelRequest for a pooled client of another worker: `keyWorker` is the key's top 8 bits (slot index + 1). */
export interface ForwardedCancel {
  keyWorker: number;
  listener: string;
  processId: number;
  secretKey: number;
}

export type ToWorker =
  /** `paused`: the pooled listeners' pauses in force (worker-pauses.ts), applied before the worker listens. */
  | { t: 'init'; index: number; config: RouterConfig; logLevel: string; table: RoutingTable; hostNowMs: number; paused: PausedState }
  | { t: 'table'; table: RoutingTable }
  | { t: 'reconfigure'; config: RouterConfig; id: number }
  | { t: 'metrics'; id: number }
  /** Pooled listeners' PAUSE/RESUME (the drain, the operator): member undefined = every member. */
  | { t: 'pause'; member?: string }
  | { t: 'resume'; member?: string }
  /** Answer `idle` once nothing runs on member (sent after its pause: the channel keeps the order). */
  | { t: 'idle'; id: number; member?: string }
  | ({ t: 'cancel' } & ForwardedCancel)
  | { t: 'stop' };

export type FromWorker =
  | { t: 'hello' }
  | { t: 'ready'; stats: WorkerStats }
  | { t: 'failed'; error: string }
  | { t: 'stats'; stats: WorkerStats }
  | { t: 'check'; member: string }
  | { t: 'reconfigured'; id: number; error?: string; stats: WorkerStats }
  | { t: 'metrics'; id: number; json: unknown[] }
  | { t: 'idle'; id: number }
  | ({ t: 'cancel' } & ForwardedCancel);

/** CLOCK_MONOTONIC in ms: shared by every process of the host (performance.now() is per process). */
export const hostMonotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
