/**
 * Health-check status codes (reference §3.2–3.4), pure: one AgentStatus snapshot and the monotonic time in,
 * a status code out. HAProxy, Consul, Kubernetes probes and the pgha router all read these codes.
 *
 * `is_leader` is this agent's own lock validity (`leaderValidUntilMs > now`, monotonic), never a DCS read:
 * a primary cut off from etcd answers 503 on `/primary` as soon as its lock could have expired.
 * "DCS readable" is `status.view !== undefined` (Patroni's cached cluster, reset when a read fails).
 */
import type { AgentStatus } from '../agent/status';
import { parseByteSize } from '../model/lsn';
import { isPrimaryRole, memberTag } from '../model/member';
import { isStandbyCluster } from './cluster-doc';
import { effectiveTags, patroniDocument, type PatroniDocument } from '../model/patroni-format';
import { pythonStr } from '../lib/python-format';

export interface HealthResult {
  code: number;
}

const OK = 200;
const UNAVAILABLE = 503;

const code = (ok: boolean): number => (ok ? OK : UNAVAILABLE);

/** First path segment, as Patroni's router picks `do_GET_<segment>`. */
export function firstSegment(path: string): string {
  return path.replace(/^\/+/, '').split('/')[0] ?? '';
}

/**
 * A GET health check: `/liveness` and `/readiness` have their own handlers (first path segment), every
 * other path goes through the generic substring classification.
 */
export function evaluateHealth(path: string, query: URLSearchParams, status: AgentStatus, nowMs: number): HealthResult {
  const segment = firstSegment(path);
  if (segment === 'liveness') return { code: liveness(status, nowMs) };
  if (segment === 'readiness') return { code: readiness(status, nowMs) };
  return evaluateGenericHealth(path, query, status, nowMs);
}

/** `GET /liveness`: the HA loop is not stuck (next cycle + ttl on a running primary, + 2·ttl elsewhere), or paused. */
export function liveness(status: AgentStatus, nowMs: number): number {
  if (status.pause) return OK;
  const runningPrimary = isPrimaryRole(status.role) && status.state === 'running';
  const thresholdMs = status.dynamic.ttlSeconds * 1000 * (runningPrimary ? 1 : 2);
  return code(status.nextCycleDueMs + thresholdMs > nowMs);
}

/** `GET /readiness`, 3.x rule: the leader, or postgres running while the DCS is readable. */
export function readiness(status: AgentStatus, nowMs: number): number {
  if (isLeader(status, nowMs)) return OK;
  return code(status.state === 'running' && dcsReadable(status));
}

export function isLeader(status: AgentStatus, nowMs: number): boolean {
  return status.leaderValidUntilMs > nowMs;
}

export function dcsReadable(status: AgentStatus): boolean {
  return status.view !== undefined && status.dcsReadable !== false;
}

/** `?lag=` as bytes; absent, empty or unparsable means no limit (Patroni's sys.maxsize). */
export function maxLagBytes(query: URLSearchParams): number {
  const raw = query.get('lag');
  const parsed = raw ? parseByteSize(raw) : undefined;
  return parsed ?? Number.POSITIVE_INFINITY;
}

/** Lagging ⇔ the leader's published optime is known and ahead of our replay position by more than the limit. */
export function isLagging(status: AgentStatus, doc: PatroniDocument, query: URLSearchParams): boolean {
  const leaderOptime = status.view?.optime ?? 0;
  const xlog = doc.xlog;
  const replayed = xlog && 'replayed_location' in xlog ? xlog.replayed_location : 0;
  return leaderOptime > 0 && leaderOptime > replayed + maxLagBytes(query);
}

interface Codes {
  leader: number;
  primary: number;
  standbyLeader: number;
  replica: number;
}

function roleCodes(status: AgentStatus, doc: PatroniDocument, query: URLSearchParams, nowMs: number): Codes {
  const replicationState = query.get('replication_state');
  const replicaOk =
    !memberTag(status, 'noloadbalance') &&
    !isLagging(status, doc, query) &&
    doc.role === 'replica' &&
    doc.state === 'running' &&
    (!replicationState || doc.replication_state === replicationState);
  const replica = code(replicaOk);

  if (!dcsReadable(status) && status.pause) {
    return {
      leader: code(isPrimaryRole(doc.role) || doc.role === 'standby_leader'),
      primary: code(isPrimaryRole(doc.role)),
      standbyLeader: code(doc.role === 'standby_leader'),
      replica,
    };
  }
  if (!isLeader(status, nowMs)) return { leader: UNAVAILABLE, primary: UNAVAILABLE, standbyLeader: UNAVAILABLE, replica };
  if (status.view && isStandbyCluster(status.view)) {
    const standbyLeader = code(doc.role === 'replica' || doc.role === 'standby_leader');
    return { leader: OK, primary: UNAVAILABLE, standbyLeader, replica: UNAVAILABLE };
  }
  return { leader: OK, primary: OK, standbyLeader: UNAVAILABLE, replica };
}

/**
 * The generic handler (also what `HEAD`/`OPTIONS` run for every path). The path is classified by substring
 * in Patroni's order; `/` means `/primary`; tag filters apply only where the code would be 200 and the
 * path is not a leader/primary one.
 */
export function evaluateGenericHealth(
  rawPath: string,
  query: URLSearchParams,
  status: AgentStatus,
  nowMs: number,
): HealthResult {
  const path = rawPath === '/' ? '/primary' : rawPath;
  const doc = patroniDocument(status, nowMs);
  const codes = roleCodes(status, doc, query, nowMs);
  const leaderish = (): boolean => codes.primary === OK || codes.standbyLeader === OK;

  if (path.includes('standby_leader') || path.includes('standby-leader')) return { code: codes.standbyLeader };
  if (path.includes('leader')) return { code: codes.leader };
  if (path.includes('master') || path.includes('primary') || path.includes('read-write')) return { code: codes.primary };

  let result = UNAVAILABLE;
  if (path.includes('replica')) {
    result = codes.replica;
  } else if (path.includes('read-only') && !path.includes('sync') && !path.includes('quorum')) {
    result = leaderish() ? OK : codes.replica;
  } else if (path.includes('health')) {
    result = code(doc.state === 'running');
  } else if (dcsReadable(status)) {
    result = syncFamily(path, doc, codes, leaderish());
  }
  if (result === OK && !tagFiltersMatch(status, query)) result = UNAVAILABLE;
  return { code: result };
}

function syncFamily(path: string, doc: PatroniDocument, codes: Codes, leaderish: boolean): number {
  const synchronous = doc.sync_standby === true;
  switch (path) {
    case '/sync':
    case '/synchronous':
      return synchronous ? codes.replica : UNAVAILABLE;
    case '/async':
    case '/asynchronous':
      return synchronous ? UNAVAILABLE : codes.replica;
    case '/read-only-sync':
    case '/read-only-synchronous':
      return leaderish ? OK : synchronous ? codes.replica : UNAVAILABLE;
    case '/read-only-quorum':
      // pgha has no quorum commit: only the leader qualifies.
      return leaderish ? OK : UNAVAILABLE;
    default:
      return UNAVAILABLE;
  }
}

/**
 * `tag_<key>=<value>`: the node's published tag must exist and, stringified the Python way, equal the value.
 * Empty values are ignored, as Python's parse_qs drops them.
 */
export function tagFiltersMatch(status: AgentStatus, query: URLSearchParams): boolean {
  const tags = effectiveTags(status.tags);
  for (const param of new Set(query.keys())) {
    if (!param.startsWith('tag_')) continue;
    const expected = query.getAll(param).find((v) => v !== '');
    if (expected === undefined) continue;
    const actual = tags[param.slice('tag_'.length)];
    if (actual === undefined || actual === null) return false;
    if (pythonTagString(actual) !== expected) return false;
  }
  return true;
}

/** `str(v).lower()` for non-strings (YAML `true` → `true`, `1.4` → `1.4`); strings as they are. */
export function pythonTagString(value: unknown): string {
  return typeof value === 'string' ? value : pythonStr(value).toLowerCase();
}
