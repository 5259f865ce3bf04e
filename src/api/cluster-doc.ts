/**
 * `GET /cluster` (reference §3.6, the ≤ 4.0 form with one `lag` field), built purely from a cluster view.
 * `patronictl list` is rendered from this same document, as Patroni does.
 */
import type { ClusterView } from '../model/cluster';
import type { Member } from '../model/member';
import { parseBool } from '../config/values';

export type ClusterRole = 'leader' | 'standby_leader' | 'sync_standby' | 'replica';

export interface ClusterMemberEntry {
  name: string;
  role: ClusterRole;
  state: string;
  api_url: string | null;
  host?: string;
  port?: number;
  timeline?: unknown;
  pending_restart?: unknown;
  scheduled_restart?: unknown;
  tags?: unknown;
  /** Non-leaders only: bytes behind the leader's published optime, or `unknown` without `xlog_location`. */
  lag?: number | 'unknown';
}

export interface ScheduledSwitchover {
  at: string;
  from?: string;
  to?: string;
}

export interface ClusterDocument {
  members: ClusterMemberEntry[];
  scope: string;
  pause?: true;
  scheduled_switchover?: ScheduledSwitchover;
}

function configValue(view: ClusterView): Record<string, unknown> | undefined {
  return view.config?.valid ? view.config.value : undefined;
}

/** `pause` in the `config` key (Patroni's Cluster.is_paused). */
export function isClusterPaused(view: ClusterView): boolean {
  return parseBool(configValue(view)?.pause) === true;
}

/** The `config` key describes a standby cluster (`standby_cluster` with host, port or restore_command). */
export function isStandbyCluster(view: ClusterView): boolean {
  const standby = configValue(view)?.standby_cluster;
  if (!standby || typeof standby !== 'object' || Array.isArray(standby)) return false;
  const s = standby as Record<string, unknown>;
  return Boolean(s.host || s.port || s.restore_command);
}

export function clusterMemberRole(view: ClusterView, name: string): ClusterRole {
  if (view.leader?.name === name) return isStandbyCluster(view) ? 'standby_leader' : 'leader';
  if (view.sync?.syncStandby.includes(name)) return 'sync_standby';
  return 'replica';
}

const OPTIONAL_FIELDS = ['timeline', 'pending_restart', 'scheduled_restart', 'tags'] as const;

function memberEntry(view: ClusterView, member: Member): ClusterMemberEntry {
  const doc = member.doc;
  const replicationState = typeof doc.replication_state === 'string' ? doc.replication_state : undefined;
  const entry: ClusterMemberEntry = {
    name: member.name,
    role: clusterMemberRole(view, member.name),
    state: replicationState ?? (typeof doc.state === 'string' ? doc.state : ''),
    api_url: typeof doc.api_url === 'string' ? doc.api_url : null,
  };
  if (member.host) {
    entry.host = member.host;
    if (member.port) entry.port = member.port;
  }
  for (const field of OPTIONAL_FIELDS) {
    if (field in doc && doc[field] !== undefined) entry[field] = doc[field];
  }
  if (view.leader?.name !== member.name) entry.lag = memberLag(view, member);
  return entry;
}

/** Bytes behind `status.optime` (0 when ahead), or `unknown` when the member publishes no position. */
export function memberLag(view: ClusterView, member: Member): number | 'unknown' {
  const lsn = member.doc.xlog_location;
  if (typeof lsn !== 'number' || !Number.isFinite(lsn)) return 'unknown';
  const optime = view.optime ?? 0;
  return optime >= lsn ? optime - lsn : 0;
}

export function clusterDocument(view: ClusterView, scope: string): ClusterDocument {
  const members = [...view.members.values()]
    .map((m) => memberEntry(view, m))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const doc: ClusterDocument = { members, scope };
  if (isClusterPaused(view)) doc.pause = true;
  const failover = view.failover;
  if (failover?.scheduledAt) {
    const switchover: ScheduledSwitchover = { at: failover.scheduledAt };
    if (failover.leader) switchover.from = failover.leader;
    if (failover.member) switchover.to = failover.member;
    doc.scheduled_switchover = switchover;
  }
  return doc;
}
