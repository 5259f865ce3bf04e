import type { PublishedStatus } from '../model/patroni-format';
import type { DynamicConfig } from '../config/types';
import type { ProgressReport } from '../lib/progress';
import type { CopyStep } from './postgres-ops';
import type { TaskState } from './observation';

/** The long task in flight: published as `pgha_progress` while it runs. */
export interface TaskProgress {
  task: TaskState['kind'];
  /** Since the task started (a reinit: stop, wipe, basebackup, start). */
  elapsedMs: number;
  /** The copy step under way, if any, and the copy tool's last report (none before its first). */
  step?: CopyStep;
  copy?: ProgressReport;
}

/**
 * The agent's published state after each tick: what the REST API, /metrics and the member key are built from
 * (the fields the Patroni documents read are declared in model/patroni-format.ts PublishedStatus).
 * Immutable snapshot; the runner replaces it every tick.
 */
export interface AgentStatus extends PublishedStatus {
  /** Monotonic time (ms, performance.now() clock) until which this agent's own leader lock is valid; 0 = not leader. */
  leaderValidUntilMs: number;
  /** The last tick read the cluster from etcd (false: `view` is the last good one, now stale). */
  dcsReadable?: boolean;
  dynamic: DynamicConfig;
  /** Monotonic ms when the next HA cycle is due (for /liveness). */
  nextCycleDueMs: number;
  /** The long task in flight, read live (not at the tick) by AgentRunner.status(). */
  progress?: TaskProgress;
}
