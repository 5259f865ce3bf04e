import type { ClusterView } from '../model/cluster';
import type { PostgresProbe } from '../model/postgres-state';
import type { DynamicConfig } from '../config/types';
import type { OperatorRequest } from './requests';
import type { FailsafeState } from './failsafe';

/** What the local data directory holds. */
export type DataDirState = 'missing' | 'empty' | 'initialized';

export interface LocalPostgres {
  dataDir: DataDirState;
  /** From pg_controldata, when the data directory is initialized. */
  systemId?: string;
  /** pg_controldata's "Database cluster state". */
  controlState?: string;
  /** The postmaster is alive (postmaster.pid + signal 0). */
  running: boolean;
  /** standby.signal present: postgres (re)starts as a replica. */
  standbySignal: boolean;
  probe: PostgresProbe;
  /** The upstream postgres currently configured in primary_conninfo (member name via application host:port), if any. */
  followingHostPort?: string;
  /**
   * [parent timeline, switch LSN] lines of the newest timeline history file in pg_wal (the timeline a replica replays
   * is the last line's + 1, which its checkpoint timeline may lag); read only for a running replica that does not
   * stream (the rewind check compares it with the leader's history).
   */
  timelineHistory?: Array<[number, number]>;
}

/** A long action in flight (bootstrap, basebackup, promote…), run single-flight while the loop keeps ticking. */
export interface TaskState {
  kind: 'bootstrap' | 'create_replica' | 'start' | 'stop' | 'promote' | 'demote' | 'rewind' | 'restart' | 'reinit';
  startedMs: number;
}

export interface TaskOutcome {
  kind: TaskState['kind'];
  ok: boolean;
  error?: string;
  /** The failure's stable code (PghaError.code), e.g. `pre_promote_failed`. */
  code?: string;
  finishedMs: number;
}

/** A peer's /patroni document as fetched just now (only when the cluster is unlocked). */
export interface PeerReport {
  name: string;
  reachable: boolean;
  role?: string;
  /** xlog.location on a primary */
  primaryLocation?: number;
  /** max(received, replayed) on a replica */
  replicaLocation?: number;
  timeline?: number;
  nofailover: boolean;
  failoverPriority?: number;
}

export interface LockState {
  /** Monotonic ms until which our leader lock is surely still ours (last good keepalive send + ttl − margin); 0 = none. */
  validUntilMs: number;
  /** Whether we currently hold a lease at all. */
  haveLease: boolean;
  /**
   * Our current lease (decimal id). `validUntilMs` describes this lease only: a leader key that names us but sits on
   * another lease (a predecessor process's, after a restart) is not held until it is re-attached to this one.
   */
  leaseId?: string;
}

/** One immutable snapshot per tick: everything decide() may look at. */
export interface Observation {
  nowMs: number;
  /** Wall clock (ms since the epoch), only for comparing with scheduled times written by people. */
  wallMs: number;
  /** The operator request waiting for this loop (REST restart, reinitialize, reload), if any. */
  request?: OperatorRequest;
  name: string;
  /** The dynamic config in force (from the `config` key, else bootstrap.dcs). */
  dynamic: DynamicConfig;
  /**
   * The cluster as the DCS shows it, or why it cannot be read. `standIn`: etcd did not answer and this is the last view
   * read (plan-outage.ts); it may predate this agent's own writes (a leader key it has since deleted).
   */
  dcs: { ok: true; view: ClusterView; standIn?: true } | { ok: false; error: string; lastView?: ClusterView };
  postgres: LocalPostgres;
  lock: LockState;
  task?: TaskState;
  /** The last long task that finished since the previous tick. */
  finishedTask?: TaskOutcome;
  /** Peers' reports, fetched only when the cluster has no leader. */
  peers?: PeerReport[];
  tags: Record<string, unknown>;
  /** Failsafe mode: the leader's last round, the last leader that POSTed /failsafe here (failsafe.ts). */
  failsafe?: FailsafeState;
  /** A configured replica method can build a replica without a leader (`no_leader`, Patroni's rule). */
  replicaWithoutLeader?: boolean;
}
