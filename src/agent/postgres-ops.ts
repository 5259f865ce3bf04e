import type { PostgresProbe } from '../model/postgres-state';
import type { DataDirState } from './observation';
import type { DynamicConfig } from '../config/types';
import type { ProgressReport } from '../lib/progress';
import type { Lsn } from '../model/lsn';
import type { CallbackIntent } from './callback-map';

/** Called with each progress report of a copy (pg_basebackup, pg_rewind) while it runs. */
export type OnCopyProgress = (report: ProgressReport) => void;

/** The steps of a long task that copy data and report progress. */
export type CopyStep = 'basebackup' | 'rewind';

export interface Upstream {
  name: string;
  host: string;
  port: number;
}

export interface ControlData {
  systemId: string;
  clusterState: string;
  timeline: number;
  /** For the rejoin check (decide-rejoin.ts); absent where an implementation does not read them. */
  checkpointLsn?: Lsn;
  minRecoveryEndLsn?: Lsn;
  minRecoveryEndTimeline?: number;
}

/** Everything the agent does to its local postgres; implemented over src/postgres by LocalPostgresOps. */
export interface PostgresOps {
  /** The dynamic configuration in force (GUCs, slots, pg_hba) for the files written from now on. */
  useDynamic(dynamic: DynamicConfig): void;
  dataDirState(): Promise<DataDirState>;
  controlData(): Promise<ControlData | undefined>;
  /** Where the checkpoint record at `lsn` on `timeline` ends in the local WAL (pg_waldump); undefined when unknown. */
  checkpointEnd?(timeline: number, lsn: Lsn): Promise<Lsn | undefined>;
  isRunning(): Promise<boolean>;
  probe(): Promise<PostgresProbe>;
  hasStandbySignal(): Promise<boolean>;
  /** host:port of the upstream in the primary_conninfo we last wrote (undefined: none). */
  followingHostPort(): string | undefined;

  initdb(): Promise<void>;
  /** Writes postgresql.conf (+ recovery settings and standby.signal for a replica), pg_hba and pgpass. */
  configure(target: { role: 'primary' } | { role: 'replica'; upstream?: Upstream }): Promise<void>;
  start(): Promise<void>;
  /** `fencing`: the self-fencing stop, which waits for no script (before_stop). */
  stop(mode: 'smart' | 'fast' | 'immediate', timeoutMs: number, opts?: { fencing?: boolean }): Promise<void>;
  /** Callbacks (HookedPostgresOps): what the next stop/start/reload is part of, so it fires what Patroni fires. */
  intend?(intent: CallbackIntent): void;
  /** The pre_promote script (HookedPostgresOps): false when it did not exit 0 and the promotion must not happen. */
  prePromote?(): Promise<boolean>;
  reload(): Promise<void>;
  /** Sync mode: the leader's synchronous_standby_names (undefined: the configured value); rewrites the conf and reloads. */
  setSyncStandbyNames(value: string | undefined): Promise<void>;
  promote(): Promise<void>;
  checkpoint(): Promise<void>;
  /** The timeline history file of `timeline` on this (primary) server: [parent timeline, switch LSN, reason] lines. */
  timelineHistory(timeline: number): Promise<Array<[number, number, string]>>;
  /** The newest timeline history file in pg_wal that WAL segments exist for (a replica: the timeline it replays), if any. */
  newestTimelineHistory(): Promise<Array<[number, number, string]> | undefined>;
  /** Writes pg_wal/<timeline>.history unless it exists; true when written. */
  writeTimelineHistory(timeline: number, content: string): Promise<boolean>;
  /** Whether `upstream` answers SQL as a primary (checked before a rewind stops anything). */
  upstreamIsPrimary(upstream: Upstream): Promise<boolean>;
  basebackup(from: Upstream, onProgress?: OnCopyProgress): Promise<void>;
  /** pg_rewind from `from`; true when it succeeded (or nothing was needed). */
  rewind(from: Upstream, onProgress?: OnCopyProgress): Promise<boolean>;
  wipeDataDir(): Promise<void>;
  /** Renames the data directory to `<data_dir>.diverged-<time>` (kept, never deleted) and leaves an empty one. */
  moveDataDirAside(): Promise<string>;
  /** Superuser, replication role and bootstrap.users, created on a fresh primary. */
  createRoles(): Promise<void>;
  ensureSlots(names: string[]): Promise<void>;
  dropSlots(names: string[]): Promise<void>;
}
