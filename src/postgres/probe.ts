/**
 * The status probe: everything the agent, the REST API (reference §3.5) and the leader race need from the
 * local postgres, in ONE statement on one short connection, like Patroni's cluster_info_query.
 */
import type { Client } from 'pg';
import { parseLsn, type Lsn } from '../model/lsn';
import type { PostgresProbe, ReplicationRow } from '../model/postgres-state';
import { withConnection, type PgConnection } from './connection';

export { withConnection, query, type PgConnection } from './connection';

/**
 * Written so that no function runs where it would raise: pg_current_wal_* and pg_walfile_name fail during
 * recovery and pg_is_wal_replay_paused fails outside it, hence the CASEs (the calls are volatile, so the
 * planner cannot fold them). LSNs come back as text (`X/Y`) and are converted exactly by parseLsn.
 * Timestamps are formatted in UTC with microseconds; toPythonTimestamp finishes Python's str(datetime) form.
 */
export const STATUS_QUERY = `
SELECT
  pg_catalog.pg_is_in_recovery() AS in_recovery,
  pg_catalog.current_setting('server_version_num')::int AS server_version,
  pg_catalog.to_char(pg_catalog.pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS start_time,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
       ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int
  END AS primary_timeline,
  (pg_catalog.pg_control_checkpoint()).timeline_id AS checkpoint_timeline,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_flush_lsn()::text END AS flush_lsn,
  pg_catalog.pg_last_wal_receive_lsn()::text AS receive_lsn,
  pg_catalog.pg_last_wal_replay_lsn()::text AS replay_lsn,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() ELSE false END AS replay_paused,
  pg_catalog.to_char(pg_catalog.pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS replay_timestamp,
  (SELECT pg_catalog.row_to_json(w) FROM (
     SELECT status, received_tli, latest_end_lsn::text AS latest_end_lsn FROM pg_catalog.pg_stat_wal_receiver
   ) w) AS wal_receiver,
  (SELECT pg_catalog.json_agg(r ORDER BY r.application_name) FROM (
     SELECT usename, application_name, pg_catalog.host(client_addr) AS client_addr, state, sync_state, sync_priority,
            flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn
     FROM pg_catalog.pg_stat_replication
   ) r) AS replication,
  (SELECT pg_catalog.bool_or(pending_restart) FROM pg_catalog.pg_settings) AS pending_restart,
  (SELECT pg_catalog.json_agg(slot_name ORDER BY slot_name) FROM pg_catalog.pg_replication_slots
   WHERE slot_type = 'physical') AS slots
`;

interface WalReceiverJson {
  status: string;
  received_tli: number | null;
  latest_end_lsn: string | null;
}

interface ReplicationJson {
  usename: string | null;
  application_name: string | null;
  client_addr: string | null;
  state: string | null;
  sync_state: string | null;
  sync_priority: number | null;
  flush_lsn: string | null;
  replay_lsn: string | null;
}

export interface StatusRow {
  in_recovery: boolean;
  server_version: number;
  start_time: string | null;
  primary_timeline: number | null;
  checkpoint_timeline: number | null;
  flush_lsn: string | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  replay_paused: boolean;
  replay_timestamp: string | null;
  wal_receiver: WalReceiverJson | null;
  replication: ReplicationJson[] | null;
  pending_restart: boolean | null;
  slots: string[] | null;
}

/** `2024-08-28 19:39:26.352526` (UTC) → `2024-08-28 19:39:26.352526+00:00`, as Python's str(datetime). */
export function toPythonTimestamp(utc: string | null): string | null {
  if (utc === null) return null;
  // Python leaves the fraction out when it is zero.
  return `${utc.replace(/\.0{6}$/, '')}+00:00`;
}

function lsnOrUndefined(text: string | null | undefined): Lsn | undefined {
  return text ? parseLsn(text) : undefined;
}

function replicationRow(r: ReplicationJson): ReplicationRow {
  return {
    usename: r.usename ?? '',
    application_name: r.application_name ?? '',
    client_addr: r.client_addr,
    state: r.state ?? '',
    sync_state: r.sync_state ?? '',
    sync_priority: r.sync_priority ?? 0,
    flushLsn: lsnOrUndefined(r.flush_lsn),
    replayLsn: lsnOrUndefined(r.replay_lsn),
  };
}

/** Turns the status row into a PostgresProbe. Exported for unit tests. */
export function probeFromRow(row: StatusRow): PostgresProbe {
  const probe: PostgresProbe = {
    reachable: true,
    inRecovery: row.in_recovery,
    serverVersion: row.server_version,
    postmasterStartTime: toPythonTimestamp(row.start_time) ?? undefined,
    replication: (row.replication ?? []).map(replicationRow),
    pendingRestart: row.pending_restart ?? false,
    slots: row.slots ?? [],
  };
  if (!row.in_recovery) {
    probe.timeline = row.primary_timeline ?? row.checkpoint_timeline ?? undefined;
    probe.flushLsn = lsnOrUndefined(row.flush_lsn);
    return probe;
  }
  const receiver = row.wal_receiver;
  // Patroni trusts received_tli only once the receiver has heard from the upstream (latest_end_lsn set).
  const receivedTli = receiver?.latest_end_lsn ? receiver.received_tli : null;
  probe.timeline = receivedTli ?? row.checkpoint_timeline ?? undefined;
  probe.receiveLsn = lsnOrUndefined(row.receive_lsn);
  probe.replayLsn = lsnOrUndefined(row.replay_lsn);
  probe.replayPaused = row.replay_paused;
  probe.replayedTimestamp = toPythonTimestamp(row.replay_timestamp);
  probe.replicationState = receiver?.status === 'streaming' ? 'streaming' : 'in archive recovery';
  probe.latestEndLsn = lsnOrUndefined(receiver?.latest_end_lsn);
  return probe;
}

const PROBE_STATEMENT_TIMEOUT_MS = 5_000;
const PROBE_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Probes postgres. Never throws for an unreachable or failing server: returns `{ reachable: false }` (with
 * the reason in `error`, for logs), because "postgres is down" is an observation, not a failure.
 */
export async function probePostgres(conn: PgConnection): Promise<PostgresProbe & { error?: string }> {
  try {
    const row = await withConnection(
      {
        ...conn,
        connectTimeoutMs: conn.connectTimeoutMs ?? PROBE_CONNECT_TIMEOUT_MS,
        statementTimeoutMs: conn.statementTimeoutMs ?? PROBE_STATEMENT_TIMEOUT_MS,
      },
      async (client: Client) => (await client.query<StatusRow>(STATUS_QUERY)).rows[0],
      'status probe',
    );
    if (!row) return { reachable: false, error: 'status query returned no row' };
    return probeFromRow(row);
  } catch (err) {
    return { reachable: false, error: err instanceof Error ? err.message : String(err) };
  }
}
