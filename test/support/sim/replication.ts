/**
 * Streaming replication and synchronous commit between simulated postgres servers: who streams from whom, what
 * pg_stat_replication shows, and when a commit waiting for a synchronous standby is acknowledged.
 */
import type { ReplicationRow } from '../../../src/model/postgres-state';
import { isPrefix, WAL_PER_WRITE, type SimPostgres } from './postgres-model';

export interface ReplNode {
  readonly name: string;
  readonly pg: SimPostgres;
  /** Replication to/from this node is cut. */
  replBlocked(): boolean;
}

/** The upstream `x` streams from now, if any: running replica, upstream running, no cut, histories compatible. */
export function streamingFrom(x: ReplNode, nodes: ReadonlyMap<string, ReplNode>): ReplNode | undefined {
  const pg = x.pg;
  if (!pg.running || pg.stopping || pg.role !== 'replica' || !pg.upstream || x.replBlocked()) return undefined;
  const u = nodes.get(pg.upstream);
  if (!u || u === x || !u.pg.running || u.pg.stopping || u.replBlocked()) return undefined;
  return isPrefix(pg.log, u.pg.log) && timelineCompatible(pg, u.pg) ? u : undefined;
}

/**
 * What PostgreSQL 15 checks before a standby streams (the WAL itself is compared by isPrefix): on the same timeline,
 * nothing (the walsender streams from any start point up to its flush position; the histories are not compared); on
 * an older timeline, that the upstream's history holds our timeline with a switch point at or after our position
 * (walsender's "requested starting point … is not in this server's history", startup's rescanLatestTimeLine "forked
 * off current database system timeline … before current recovery point"). Neither compares the ancestors before our
 * timeline: a history with an extra empty timeline in between (a promotion that skipped a number) is followed.
 */
export function timelineCompatible(x: SimPostgres, u: SimPostgres): boolean {
  if (x.timeline === u.timeline) return true;
  const line = u.history.find(([tl]) => tl === x.timeline);
  return line !== undefined && x.lsn <= line[1];
}

export interface SyncSpec {
  num: number;
  names: string[] | '*';
}

/** synchronous_standby_names as postgres reads it ('' = asynchronous; '*' matches every standby). */
export function parseSyncGuc(guc: string): SyncSpec | undefined {
  const g = guc.trim();
  if (!g) return undefined;
  const unquote = (s: string) => s.trim().replace(/^"(.*)"$/, '$1');
  const m = /^(?:FIRST\s+)?(\d+)\s*\((.*)\)$/i.exec(g);
  if (m) {
    const names = m[2]!.split(',').map(unquote);
    return { num: Number(m[1]), names: names.includes('*') ? '*' : names };
  }
  const names = g.split(',').map(unquote);
  return { num: 1, names: names.includes('*') ? '*' : names };
}

export function standbysOf(p: ReplNode, nodes: ReadonlyMap<string, ReplNode>): ReplNode[] {
  const out: ReplNode[] = [];
  for (const x of nodes.values()) if (streamingFrom(x, nodes) === p) out.push(x);
  return out;
}

/** The standbys whose flush a commit on `p` waits for (FIRST n by priority), and those that could be. */
export function syncSet(p: ReplNode, nodes: ReadonlyMap<string, ReplNode>): { spec: SyncSpec | undefined; sync: ReplNode[]; candidates: ReplNode[] } {
  const spec = parseSyncGuc(p.pg.syncGuc);
  if (!spec) return { spec, sync: [], candidates: [] };
  const names = spec.names;
  const rank = (x: ReplNode) => (names === '*' ? 0 : names.findIndex((n) => n.toLowerCase() === x.name.toLowerCase()));
  const candidates = standbysOf(p, nodes).filter((x) => rank(x) >= 0).sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  return { spec, sync: candidates.slice(0, spec.num), candidates };
}

export function replicationRows(p: ReplNode, nodes: ReadonlyMap<string, ReplNode>): ReplicationRow[] {
  const { sync, candidates } = syncSet(p, nodes);
  return standbysOf(p, nodes).map((x) => ({
    usename: 'replicator',
    application_name: x.name,
    client_addr: null,
    state: 'streaming',
    sync_state: sync.includes(x) ? 'sync' : candidates.includes(x) ? 'potential' : 'async',
    sync_priority: sync.includes(x) || candidates.includes(x) ? 1 : 0,
    flushLsn: x.pg.lsn,
    replayLsn: x.pg.lsn,
  }));
}

/** Acknowledges the waiting commits of `p` that its synchronous standbys have flushed; returns their ids. */
export function releaseCommits(p: ReplNode, nodes: ReadonlyMap<string, ReplNode>): number[] {
  if (p.pg.pending.length === 0) return [];
  const { spec, sync } = syncSet(p, nodes);
  let upTo = Infinity;
  if (spec) {
    if (sync.length < spec.num) return [];
    upTo = Math.min(...sync.map((x) => x.pg.log.length));
  }
  const acked: number[] = [];
  p.pg.pending = p.pg.pending.filter(([id, idx]) => {
    if (idx < upTo) {
      acked.push(id);
      return false;
    }
    return true;
  });
  return acked;
}

export { WAL_PER_WRITE };
