/**
 * The member document Patroni keeps at `members/<name>` (reference §2). Field names are Patroni's on purpose:
 * this JSON is read by patronictl, HAProxy templates, vip-manager and real Patroni peers.
 */
export interface MemberDoc {
  conn_url?: string;
  api_url?: string;
  state?: string;
  role?: string;
  version?: string;
  xlog_location?: number;
  receive_lsn?: number;
  replay_lsn?: number;
  replication_state?: string;
  timeline?: number;
  tags?: Record<string, unknown>;
  pending_restart?: boolean;
  checkpoint_after_promote?: boolean;
  pause?: boolean;
  [extra: string]: unknown;
}

export interface Member {
  name: string;
  doc: MemberDoc;
  /** host and port parsed from conn_url; undefined when conn_url is missing or unparsable. */
  host?: string;
  port?: number;
  lease: string; // etcd lease id as a decimal string, '0' when none
  modRevision: number;
}

/** Reads a member value the way Patroni does: legacy `postgres://…?application_name=<api_url>`, else JSON, else `{}`. */
export function parseMemberValue(value: string): MemberDoc {
  if (value.startsWith('postgres')) {
    try {
      const url = new URL(value);
      const api = url.searchParams.get('application_name') ?? undefined;
      url.search = '';
      return { conn_url: url.toString(), api_url: api };
    } catch {
      return {};
    }
  }
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as MemberDoc) : {};
  } catch {
    return {};
  }
}

export function hostPortFromConnUrl(connUrl: string | undefined): { host?: string; port?: number } {
  if (!connUrl) return {};
  try {
    const url = new URL(connUrl);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { host, port: url.port ? Number(url.port) : 5432 };
  } catch {
    return {};
  }
}

/**
 * The one test for "this role names a primary", used by agent, router, api, ctl and metrics alike.
 * Patroni 3.0.2 writes `master` (member key, REST `role`); 4.x writes `primary`: both mean a primary.
 * `standby_leader` is not a primary (it replicates from outside the cluster): callers that also want it
 * (the REST `/leader` check) ask for it by name.
 */
export function isPrimaryRole(role: string | undefined): boolean {
  return role === 'master' || role === 'primary';
}

/** Python truthiness for values that came from YAML/JSON: false, 0, '', null, undefined, [] and {} are false. */
export function pythonTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/**
 * Whether a member carries a boolean tag (`nofailover`, `noloadbalance`, `clonefrom`, `nosync`, `nostream`):
 * the one rule for agent, router, api and ctl. Patroni 3.0.2 reads every such tag as
 * `bool(tags.get(tag, False))` (`Patroni.nofailover`, `Member.nofailover`, `_MemberStatus`, `sync.py`),
 * never through `parse_bool`: so YAML `true`/`yes`/`on` and `1` are set, YAML `false`/`no`/`off` and `0` are not,
 * and any non-empty string, even `'false'` (a quoted YAML string), counts as set.
 */
export function memberTag(doc: Pick<MemberDoc, 'tags'>, tag: string): boolean {
  return pythonTruthy(doc.tags?.[tag]);
}

/** max(receive, replay) on a replica, the flush position on a primary: what Patroni publishes as xlog_location. */
export function memberLsn(doc: MemberDoc): number | undefined {
  return typeof doc.xlog_location === 'number' ? doc.xlog_location : undefined;
}
