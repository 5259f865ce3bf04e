import type { ClusterView } from '../model/cluster';
import type { PostgresProbe, PostgresStateName } from '../model/postgres-state';
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
 * The agent's published state after each tick: what the REST API, /metrics and the member key are built from.
 * Immutable snapshot; the runner replaces it every tick.
 */
export interface AgentStatus {
  scope: string;
  name: string;
  /** Patroni-compatible version we publish (peers gate behaviour on it). */
  patroniVersion: string;
  pghaVersion: string;
  /** Patroni state string of the local postgres. */
  state: PostgresStateName;
  /** Patroni role string: 'master' for a running primary (3.x style), 'replica', 'uninitialized', 'demoted', 'promoted'. */
  role: string;
  probe: PostgresProbe;
  systemId?: string;
  /** Monotonic time (ms, performance.now() clock) until which this agent's own leader lock is valid; 0 = not leader. */
  leaderValidUntilMs: number;
  clusterUnlocked: boolean;
  /** The last tick read the cluster from etcd (false: `view` is the last good one, now stale). */
  dcsReadable?: boolean;
  /** Epoch seconds of the last successful DCS read. */
  dcsLastSeen?: number;
  pause: boolean;
  tags: Record<string, unknown>;
  /** The one reason sentence of the last tick. */
  reason: string;
  /** The last cluster view read from the DCS (may be stale when etcd is down). */
  view?: ClusterView;
  dynamic: DynamicConfig;
  /** Monotonic ms when the next HA cycle is due (for /liveness). */
  nextCycleDueMs: number;
  /** Connection address advertised for postgres (host:port). */
  connUrl: string;
  apiUrl: string;
  /** True from promote until its CHECKPOINT is done: published as `checkpoint_after_promote: false`. */
  checkpointPending?: boolean;
  /** The long task in flight, read live (not at the tick) by AgentRunner.status(). */
  progress?: TaskProgress;
}
