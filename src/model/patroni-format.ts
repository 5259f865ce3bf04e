/**
 * The two documents an agent publishes about itself, in Patroni 3.x form (reference §2.1, §3.5):
 * - `patroniDocument`: the `GET /patroni` body (also the body of every health GET);
 * - `memberDocument`: the `members/<name>` value the agent writes to etcd.
 * Pure: built from one published status snapshot. Key order follows Patroni's code, because humans diff these
 * documents and some tools print them verbatim.
 * It lives in model/ because it is vocabulary shared by every program: the agent writes the member key, the REST
 * API (api/) and the metrics (metrics/) read the same documents, and none of them needs to import another for it.
 * Its input, `PublishedStatus`, is the part of the agent's AgentStatus these documents read, declared here
 * structurally so model/ imports nothing outside itself.
 */
import type { ClusterView } from './cluster';
import { pythonTruthy } from './member';
import type { PostgresProbe, PostgresStateName, ReplicationRow } from './postgres-state';

/** The long task in flight as published (agent/status.ts TaskProgress satisfies it). */
export interface PublishedProgress {
  task: string;
  elapsedMs: number;
  step?: string;
  /** The copy tool's last figures (lib/progress.ts ProgressReport satisfies it). */
  copy?: { percent: number; doneKb: number; totalKb: number; rateKbPerSec: number; etaSec?: number };
}

/**
 * What the published documents are built from: the agent's status snapshot (agent/status.ts AgentStatus extends
 * this), as much of it as the documents read.
 */
export interface PublishedStatus {
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
  clusterUnlocked: boolean;
  /** Epoch seconds of the last successful DCS read. */
  dcsLastSeen?: number;
  pause: boolean;
  tags: Record<string, unknown>;
  /** The one reason sentence of the last tick. */
  reason: string;
  /** The last cluster view read from the DCS (may be stale when etcd is down). */
  view?: ClusterView;
  dynamic: { synchronousMode: boolean };
  /** Connection address advertised for postgres (host:port). */
  connUrl: string;
  apiUrl: string;
  /** True from promote until its CHECKPOINT is done: published as `checkpoint_after_promote: false`. */
  checkpointPending?: boolean;
  /** The long task in flight, read live (not at the tick). */
  progress?: PublishedProgress;
  /** Failsafe mode is active here (agent/failsafe.ts), read live. */
  failsafeActive?: boolean;
}

export interface PrimaryXlog {
  location: number;
}

export interface ReplicaXlog {
  received_location: number;
  replayed_location: number;
  replayed_timestamp: string | null;
  paused: boolean;
}

/** The Patroni fields of one pg_stat_replication row (nothing else leaks out). */
export type PatroniReplicationRow = Pick<ReplicationRow, 'usename' | 'application_name' | 'client_addr' | 'state' | 'sync_state' | 'sync_priority'>;

export interface PatroniDocument {
  state: string;
  postmaster_start_time?: string | null;
  role: string;
  server_version?: number;
  xlog?: PrimaryXlog | ReplicaXlog;
  sync_standby?: true;
  timeline?: number;
  replication_state?: string;
  replication?: PatroniReplicationRow[];
  cluster_unlocked?: true;
  dcs_last_seen: number;
  tags?: Record<string, unknown>;
  database_system_identifier?: string;
  pending_restart?: true;
  patroni: { version: string; scope: string; name: string };
  pause?: true;
  failsafe_mode_is_active?: true;
  /** pgha extras, after every Patroni key: readers that do not know them ignore them. */
  pgha_version: string;
  pgha_reason?: string;
  pgha_progress?: PghaProgress;
}

/**
 * The long task in flight (pgha only): its kind, seconds since it started, and while a copy step runs (basebackup,
 * rewind) the copy tool's figures once it has reported: percent, kB copied and to copy, rate, seconds left.
 */
export interface PghaProgress {
  task: string;
  elapsed_s: number;
  step?: string;
  percent?: number;
  done_kb?: number;
  total_kb?: number;
  rate_kb_s?: number;
  eta_s?: number;
}

/** The member key document (reference §2.1), 3.1+ key order. */
export interface MemberDocument {
  conn_url: string;
  api_url: string;
  state: string;
  role: string;
  version: string;
  checkpoint_after_promote?: false;
  tags?: Record<string, unknown>;
  pending_restart?: true;
  xlog_location?: number;
  replication_state?: string;
  timeline?: number;
  pause?: true;
  pgha_version: string;
}

/** Tags whose false value Patroni never publishes. */
const BOOLEAN_TAGS: ReadonlySet<string> = new Set(['clonefrom', 'nofailover', 'noloadbalance', 'nosync', 'nostream']);

/**
 * The tags Patroni publishes: the known boolean tags only when true (`nofailover`/`nosync` are kept when
 * `failover_priority`/`sync_priority` are set, as in 3.2+), every other tag as configured.
 */
export function effectiveTags(tags: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tags)) {
    const keptAnyway =
      (key === 'nofailover' && 'failover_priority' in tags) || (key === 'nosync' && 'sync_priority' in tags);
    if (BOOLEAN_TAGS.has(key) && !pythonTruthy(value) && !keptAnyway) continue;
    if (value === undefined) continue;
    out[key] = value;
  }
  return out;
}

/** Patroni runs its status query only in these states; otherwise (or when it fails) the document is minimal. */
export function postgresAnswers(status: PublishedStatus): boolean {
  return status.probe.reachable && ['running', 'restarting', 'starting'].includes(status.state);
}

/** The REST `role`: 3.x computes it from pg_is_in_recovery(); a standby cluster's replica shows its internal role. */
export function restRole(status: PublishedStatus): string {
  if (!postgresAnswers(status)) return status.role;
  if (!status.probe.inRecovery) return 'master';
  return status.role === 'standby_leader' ? 'standby_leader' : 'replica';
}

/** This replica is listed in the `sync` key while synchronous mode is on. */
export function isSyncStandby(status: PublishedStatus): boolean {
  const sync = status.view?.sync;
  return status.dynamic.synchronousMode && sync !== undefined && sync.syncStandby.includes(status.name);
}

export function patroniDocument(status: PublishedStatus, nowMs: number): PatroniDocument {
  void nowMs; // part of the signature so time-dependent fields (scheduled restart, failsafe) need no API change
  const doc = postgresAnswers(status) ? runningPart(status) : minimalPart(status);
  if (status.clusterUnlocked || status.view === undefined || status.view.leader === undefined) {
    doc.cluster_unlocked = true;
  }
  doc.dcs_last_seen = status.dcsLastSeen ?? 0;
  const tags = effectiveTags(status.tags);
  if (Object.keys(tags).length > 0) doc.tags = tags;
  if (status.systemId) doc.database_system_identifier = status.systemId;
  if (status.probe.pendingRestart) doc.pending_restart = true;
  doc.patroni = { version: status.patroniVersion, scope: status.scope, name: status.name };
  if (status.pause) doc.pause = true;
  if (status.failsafeActive) doc.failsafe_mode_is_active = true;
  doc.pgha_version = status.pghaVersion;
  if (status.reason) doc.pgha_reason = status.reason;
  if (status.progress) doc.pgha_progress = pghaProgress(status.progress);
  return doc as PatroniDocument;
}

export function pghaProgress(p: PublishedProgress): PghaProgress {
  const c = p.copy;
  return {
    task: p.task,
    elapsed_s: Math.floor(p.elapsedMs / 1000),
    ...(p.step ? { step: p.step } : {}),
    ...(c ? { percent: c.percent, done_kb: c.doneKb, total_kb: c.totalKb, rate_kb_s: c.rateKbPerSec } : {}),
    ...(c?.etaSec !== undefined ? { eta_s: c.etaSec } : {}),
  };
}

type DocDraft = Partial<PatroniDocument> & Pick<PatroniDocument, 'state' | 'role'>;

function minimalPart(status: PublishedStatus): DocDraft {
  // Patroni reports a "running" server whose status query failed as `unknown`.
  return { state: status.state === 'running' ? 'unknown' : status.state, role: status.role };
}

function runningPart(status: PublishedStatus): DocDraft {
  const probe = status.probe;
  const role = restRole(status);
  const doc: DocDraft = {
    state: status.state,
    postmaster_start_time: probe.postmasterStartTime ?? null,
    role,
    server_version: probe.serverVersion ?? 0,
    xlog: probe.inRecovery
      ? {
          received_location: probe.receiveLsn || probe.replayLsn || 0,
          replayed_location: probe.replayLsn ?? 0,
          replayed_timestamp: probe.replayedTimestamp ?? null,
          paused: probe.replayPaused ?? false,
        }
      : { location: probe.flushLsn ?? 0 },
  };
  if (role === 'replica' && isSyncStandby(status)) doc.sync_standby = true;
  if (probe.timeline) doc.timeline = probe.timeline;
  if (probe.inRecovery && probe.replicationState) doc.replication_state = probe.replicationState;
  if (probe.replication && probe.replication.length > 0) doc.replication = probe.replication.map(patroniRow);
  return doc;
}

function patroniRow(row: ReplicationRow): PatroniReplicationRow {
  return {
    usename: row.usename,
    application_name: row.application_name,
    client_addr: row.client_addr,
    state: row.state,
    sync_state: row.sync_state,
    sync_priority: row.sync_priority,
  };
}

/**
 * The `members/<name>` value. Serialize it with `JSON.stringify` (compact, like Patroni's separators).
 * `xlog_location`: a primary's flush position; a replica's max(receive, replay).
 */
export function memberDocument(status: PublishedStatus): MemberDocument {
  const doc: Omit<MemberDocument, 'pgha_version'> = {
    conn_url: postgresUrl(status.connUrl),
    api_url: restApiUrl(status.apiUrl),
    state: status.state,
    role: status.role,
    version: status.patroniVersion,
  };
  // From promote until its CHECKPOINT is done: peers hold off pg_rewind while they see this.
  if (status.checkpointPending) doc.checkpoint_after_promote = false;
  const tags = effectiveTags(status.tags);
  if (Object.keys(tags).length > 0) doc.tags = tags;
  if (status.probe.pendingRestart) doc.pending_restart = true;
  if (postgresAnswers(status)) {
    const position = walPosition(status);
    if (position !== undefined) doc.xlog_location = position;
    if (status.probe.inRecovery && status.probe.replicationState) doc.replication_state = status.probe.replicationState;
    if (status.probe.timeline) doc.timeline = status.probe.timeline;
  }
  if (status.pause) doc.pause = true;
  return { ...doc, pgha_version: status.pghaVersion };
}

function walPosition(status: PublishedStatus): number | undefined {
  const probe = status.probe;
  if (!probe.inRecovery) return probe.flushLsn;
  if (probe.receiveLsn === undefined && probe.replayLsn === undefined) return undefined;
  return Math.max(probe.receiveLsn ?? 0, probe.replayLsn ?? 0);
}

/** `postgres://host:port/postgres` from either a full URL or a bare `host:port`. */
export function postgresUrl(connUrl: string): string {
  return /^postgres(ql)?:\/\//.test(connUrl) ? connUrl : `postgres://${connUrl}/postgres`;
}

/** `http://host:port/patroni` from either a full URL or a bare `host:port`. */
export function restApiUrl(apiUrl: string): string {
  return /^https?:\/\//.test(apiUrl) ? apiUrl : `http://${apiUrl}/patroni`;
}
