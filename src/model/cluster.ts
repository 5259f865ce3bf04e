import { parseMemberValue, hostPortFromConnUrl, type Member } from './member';
import type { ClusterKeys } from './keys';
import { parseDrainRequest, parseRouterRegistration, type DrainRequest, type RouterRegistration } from './drain';

/** One key as read from the DCS. */
export interface KeyValue {
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
  lease: string; // decimal lease id, '0' = none
}

export interface LeaderKey {
  name: string;
  modRevision: number;
  lease: string;
}

export interface FailoverRequest {
  leader?: string;
  member?: string;
  scheduledAt?: string;
  modRevision: number;
}

export interface SyncState {
  leader?: string;
  syncStandby: string[];
  modRevision: number;
}

export type HistoryLine = [number, number, string, string?, string?];

/**
 * The cluster as seen in one recursive read of `<namespace>/<scope>/` (reference §1.2), parsed with
 * Patroni's tolerance: garbage never throws, it reads as "absent" or `{}`.
 */
export interface ClusterView {
  revision: number;
  /** undefined: no key; '': bootstrap in progress; otherwise the system identifier. */
  initialize?: string;
  config?: { value: Record<string, unknown>; valid: boolean; modRevision: number };
  /** undefined when the key is absent or empty (the cluster is "unlocked"). */
  leader?: LeaderKey;
  members: ReadonlyMap<string, Member>;
  /** Leader's last published WAL position (`status.optime`, else legacy `optime/leader`). */
  optime?: number;
  slots?: Record<string, number>;
  failover?: FailoverRequest;
  sync?: SyncState;
  history?: HistoryLine[];
  /** false when the `history` key holds something other than a JSON list (then `history` is []). */
  historyValid?: boolean;
  /** pgha's switchover drain (drain.ts): the pending request, and the routers registered for it (by id). */
  drain?: DrainRequest;
  routers?: ReadonlyMap<string, RouterRegistration>;
  /** The `failsafe` key (name → api_url); undefined when absent or not a JSON object of strings. */
  failsafe?: Record<string, string>;
}

export function parseClusterView(keys: ClusterKeys, revision: number, kvs: readonly KeyValue[]): ClusterView {
  const members = new Map<string, Member>();
  const view: { -readonly [K in keyof ClusterView]: ClusterView[K] } = { revision, members };
  let legacyOptime: number | undefined;
  const routers = new Map<string, RouterRegistration>();
  for (const kv of kvs) {
    if (!kv.key.startsWith(keys.prefix)) continue;
    const rel = kv.key.slice(keys.prefix.length);
    if (rel.startsWith('members/')) {
      const name = rel.slice('members/'.length);
      if (!name || name.includes('/')) continue;
      const doc = parseMemberValue(kv.value);
      members.set(name, { name, doc, ...hostPortFromConnUrl(doc.conn_url), lease: kv.lease, modRevision: kv.modRevision });
      continue;
    }
    if (rel.startsWith('routers/')) {
      const id = rel.slice('routers/'.length);
      if (id && !id.includes('/')) routers.set(id, parseRouterRegistration(id, kv.value, kv.modRevision));
      continue;
    }
    switch (rel) {
      case 'initialize':
        view.initialize = kv.value;
        break;
      case 'config': {
        const parsed = parseObject(kv.value);
        view.config = { value: parsed ?? {}, valid: parsed !== undefined, modRevision: kv.modRevision };
        break;
      }
      case 'leader':
        if (kv.value) view.leader = { name: kv.value, modRevision: kv.modRevision, lease: kv.lease };
        break;
      case 'status':
        Object.assign(view, parseStatus(kv.value));
        break;
      case 'optime/leader':
        legacyOptime = toInt(kv.value);
        break;
      case 'failover':
        view.failover = parseFailover(kv.value, kv.modRevision);
        break;
      case 'drain':
        view.drain = parseDrainRequest(kv.value, kv.modRevision);
        break;
      case 'sync':
        view.sync = parseSync(kv.value, kv.modRevision);
        break;
      case 'failsafe': {
        const o = parseObject(kv.value);
        if (o && Object.values(o).every((v) => typeof v === 'string')) view.failsafe = o as Record<string, string>;
        break;
      }
      case 'history': {
        // Patroni's TimelineHistory.from_node: anything but a JSON list reads as no lines.
        const h = safeJson(kv.value);
        view.history = Array.isArray(h) ? (h as HistoryLine[]) : [];
        if (!Array.isArray(h)) view.historyValid = false;
        break;
      }
    }
  }
  if (view.optime === undefined && legacyOptime !== undefined) view.optime = legacyOptime;
  if (routers.size > 0) view.routers = routers;
  return view;
}

/**
 * The cluster timeline from `history`, as Patroni's Cluster.timeline: the last line's timeline + 1; `[]` means 1;
 * absent, not a list, or a last line without an integer timeline means unknown (0), never NaN.
 */
export function clusterTimeline(view: ClusterView): number {
  if (!view.history) return 0;
  if (view.history.length === 0) return view.historyValid === false ? 0 : 1;
  const last: unknown = view.history[view.history.length - 1];
  const first: unknown = Array.isArray(last) ? last[0] : undefined;
  // Python's int(): an integral number, or a string of digits (with an optional sign and spaces).
  const tl = typeof first === 'number' ? first : typeof first === 'string' && /^\s*[-+]?\d+\s*$/.test(first) ? Number(first) : Number.NaN;
  // A negative or astronomically large timeline is garbage too (PostgreSQL timelines are 32-bit, from 1).
  return Number.isFinite(tl) && tl >= 0 && tl < 2 ** 32 ? Math.trunc(tl) + 1 : 0;
}

export function leaderMember(view: ClusterView): Member | undefined {
  return view.leader ? view.members.get(view.leader.name) : undefined;
}

function parseStatus(value: string): { optime?: number; slots?: Record<string, number> } {
  const parsed = safeJson(value);
  if (typeof parsed === 'number') return { optime: parsed };
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  const obj = parsed as Record<string, unknown>;
  const optime = toInt(obj.optime);
  let slots = obj.slots;
  if (typeof slots === 'string') slots = safeJson(slots);
  return {
    ...(optime !== undefined ? { optime } : {}),
    ...(slots && typeof slots === 'object' && !Array.isArray(slots) ? { slots: slots as Record<string, number> } : {}),
  };
}

function parseFailover(value: string, modRevision: number): FailoverRequest | undefined {
  const parsed = safeJson(value);
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const o = parsed as Record<string, unknown>;
    const req: FailoverRequest = { modRevision };
    if (typeof o.leader === 'string' && o.leader) req.leader = o.leader;
    if (typeof o.member === 'string' && o.member) req.member = o.member;
    if (typeof o.scheduled_at === 'string' && o.scheduled_at) req.scheduledAt = o.scheduled_at;
    return req.leader || req.member ? req : undefined;
  }
  if (typeof value === 'string' && value.includes(':')) {
    const [leader, member] = value.split(':', 2);
    const req: FailoverRequest = { modRevision };
    if (leader) req.leader = leader;
    if (member) req.member = member;
    return req.leader || req.member ? req : undefined;
  }
  return undefined;
}

function parseSync(value: string, modRevision: number): SyncState | undefined {
  const o = parseObject(value);
  if (!o || typeof o.leader !== 'string' || !o.leader) return undefined;
  const standby = typeof o.sync_standby === 'string' ? o.sync_standby.split(',').filter(Boolean) : [];
  return { leader: o.leader, syncStandby: standby, modRevision };
}

function parseObject(value: string): Record<string, unknown> | undefined {
  const parsed = safeJson(value);
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function toInt(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? Math.trunc(n) : undefined;
}
