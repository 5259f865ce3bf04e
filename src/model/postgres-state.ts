import type { Lsn } from './lsn';

/** Patroni's state strings (reference §2.3), in its numbering order for the metric value. */
export const POSTGRES_STATES = [
  'initializing new cluster', 'initdb failed', 'running custom bootstrap script', 'custom bootstrap failed',
  'creating replica', 'running', 'starting', 'starting after custom bootstrap', 'start failed', 'restarting',
  'restart failed', 'stopping', 'stopped', 'stop failed', 'crashed',
] as const;
export type PostgresStateName = (typeof POSTGRES_STATES)[number] | 'unknown';

export interface ReplicationRow {
  usename: string;
  application_name: string;
  client_addr: string | null;
  state: string;
  sync_state: string;
  sync_priority: number;
  /** flush/replay positions as reported by the primary (bytes). */
  flushLsn?: Lsn;
  replayLsn?: Lsn;
}

/** What one probe of the local postgres tells (all optional: a stopped server tells little). */
export interface PostgresProbe {
  /** A connection succeeded and the status query ran. */
  reachable: boolean;
  inRecovery?: boolean;
  serverVersion?: number; // PG_VERSION_NUM, e.g. 150010
  postmasterStartTime?: string; // Patroni's `str(datetime)` form
  timeline?: number;
  /** primary: pg_current_wal_flush_lsn() */
  flushLsn?: Lsn;
  /** replica: pg_last_wal_receive_lsn() / pg_last_wal_replay_lsn() */
  receiveLsn?: Lsn;
  replayLsn?: Lsn;
  replayPaused?: boolean;
  replayedTimestamp?: string | null;
  /** replica: 'streaming' when the WAL receiver streams, else 'in archive recovery'. */
  replicationState?: 'streaming' | 'in archive recovery';
  /** replica: the upstream's last reported end position (pg_stat_wal_receiver.latest_end_lsn). */
  latestEndLsn?: Lsn;
  replication?: ReplicationRow[];
  pendingRestart?: boolean;
  /** Physical replication slots present on this server. */
  slots?: string[];
}
