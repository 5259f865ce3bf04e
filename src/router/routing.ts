/**
 * The routing table, derived purely from the cluster view, the agents' health answers, replica lag and the
 * time: `deriveRoutingTable(input, config)`. No I/O, no clock, no logger (design §2; imports are types only).
 *
 * Rules (docs/router.md "Routing rules"):
 *  - Writes fail closed. The write target is the member the view names leader, only while etcd was reached less
 *    than `ttl − margin` ago (the leader's lease cannot have expired unseen), only when the member key has a
 *    usable conn_url, and only while its agent is up and its last answer (younger than `health.max_age`) says
 *    role primary/master and state running.
 *  - Reads: members that are not the leader key holder, whose agent is up with a fresh answer saying role
 *    replica, state running, replication_state streaming (when reported), that pass the tag rules
 *    (`noloadbalance`, the listener's tag filters, weight > 0) and the lag limits (bytes and seconds; unknown or
 *    stale lag never qualifies).
 *  - `replica`: those replicas (leader as fallback when enabled); `read-only`: replicas, else the leader;
 *    `any`: replicas and the leader; `primary`: the write target.
 *  - Planned switchover: while the `failover` key names the current leader (or no leader) and a candidate other
 *    than it, and its `scheduled_at` (if any) has come, the `primary` pools are empty (new writes are held) though
 *    the leader stays confirmed (`table.leader`), so its open sessions are not cut by the router: the old leader
 *    ends them itself as it demotes. At most for `switchoverHoldMs` from when the request was first seen
 *    (carried between computations in `input.switchover`, like decide's memory); then the old leader gets
 *    writes again if it is still confirmed. Once the leader key moves, the request no longer names the current
 *    leader and the new leader gets writes as soon as its agent confirms it. A router registered for switchover
 *    drains does not hold for a pgha leader: that leader pauses it by the drain key before it demotes.
 */
import type { ClusterView } from '../model/cluster';
import { isPrimaryRole, memberTag, type Member } from '../model/member';
import type {
  Backend,
  HealthCheckConfig,
  LeaseConfig,
  ListenerConfig,
  MemberHealth,
  MemberLag,
  MemberVerdict,
  PoolTable,
  PoolVerdict,
  ReadExitCause,
  RoutingTable,
  SwitchoverState,
} from './types';

export interface RoutingConfig {
  listeners: readonly ListenerConfig[];
  health: Pick<HealthCheckConfig, 'maxAgeMs'>;
  lease: LeaseConfig;
  weightTag: string;
  /** How long new writes may be held for one pending switchover (default DEFAULT_SWITCHOVER_HOLD_MS; 0 = never). */
  switchoverHoldMs?: number;
  /** This router is registered for switchover drains (drain-start.ts): a pgha leader pauses it by its drain key. */
  drainAware?: boolean;
}

export interface RoutingInput {
  /** The last view read from etcd; undefined before the first successful list. */
  view?: ClusterView;
  /** Monotonic ms. */
  nowMs: number;
  /** Monotonic ms of the last successful etcd contact (ClusterCache.lastContactMs()). */
  lastContactMs?: number;
  health: ReadonlyMap<string, MemberHealth>;
  lag: ReadonlyMap<string, MemberLag>;
  /** Wall-clock ms (epoch), only to compare with a switchover's `scheduled_at`; undefined = not due. */
  wallNowMs?: number;
  /** The switchover the previous table followed (its revision and since when), carried between computations. */
  switchover?: Pick<SwitchoverState, 'revision' | 'sinceMs'>;
}

/** Default for `switchover_hold` (RouterConfig.switchoverHoldMs). */
export const DEFAULT_SWITCHOVER_HOLD_MS = 30_000;

export function ttlMsOf(view: ClusterView | undefined, lease: LeaseConfig): number {
  const ttl = view?.config?.value.ttl;
  const seconds = typeof ttl === 'number' ? ttl : typeof ttl === 'string' ? Number(ttl) : NaN;
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : lease.defaultTtlMs;
}

/** Patroni's tag string rule: strings as they are, everything else `str(v).lower()`. */
export function tagString(v: unknown): string {
  return typeof v === 'string' ? v : String(v).toLowerCase();
}

/** The member's balancing weight: its weight tag as a number ≥ 0, 1 when absent or not a number. */
export function weightOf(member: Member, tag: string): number {
  const raw = member.doc.tags?.[tag];
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  return Number.isFinite(n) ? Math.max(0, n) : 1;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

interface Ctx {
  input: RoutingInput;
  config: RoutingConfig;
  /** Earliest time-based flip seen so far. */
  next: number;
}

function soon(ctx: Ctx, atMs: number): void {
  if (atMs > ctx.input.nowMs && atMs < ctx.next) ctx.next = atMs;
}

/** Checks that a REST answer exists, the agent is up and the answer is fresh; returns why not, or undefined. */
function agentProblem(ctx: Ctx, name: string, h: MemberHealth | undefined): string | undefined {
  if (!h) return `no agent api_url to check for ${name}`;
  if (!h.up) {
    return h.okAtMs === undefined && !h.error ? `agent of ${name} not checked yet` : `agent of ${name} is down${h.error ? ` (${h.error})` : ''}`;
  }
  if (h.okAtMs === undefined || !h.status) return `agent of ${name} has not answered yet`;
  const age = ctx.input.nowMs - h.okAtMs;
  if (age > ctx.config.health.maxAgeMs) return `agent of ${name} last answered ${secs(age)} ago (max_age ${secs(ctx.config.health.maxAgeMs)})`;
  soon(ctx, h.okAtMs + ctx.config.health.maxAgeMs + 1);
  return undefined;
}

function backendOf(member: Member, weight: number): Backend | undefined {
  if (!member.host || !member.port) return undefined;
  return { member: member.name, host: member.host, port: member.port, weight };
}

interface WriteDecision {
  leader?: Backend;
  reason: string;
  validUntilMs: number;
}

function decideWrite(ctx: Ctx, ttlMs: number): WriteDecision {
  const { view, nowMs, lastContactMs, health } = ctx.input;
  if (!view) return { reason: 'no cluster view from etcd yet', validUntilMs: nowMs };
  // A configured margin larger than a short ttl allows is scaled down to a quarter of the ttl (≥ 1 s), like the
  // agent's own fencing margin, so `ttl: 5` clusters stay writable through the router.
  const marginMs = Math.min(ctx.config.lease.marginMs, Math.max(1000, ttlMs / 4));
  const boundMs = ttlMs - marginMs;
  if (lastContactMs === undefined) return { reason: 'etcd never reached', validUntilMs: nowMs };
  const validUntilMs = lastContactMs + boundMs;
  if (nowMs >= validUntilMs) {
    return {
      reason: `etcd not reached for ${secs(nowMs - lastContactMs)} (limit: ttl ${secs(ttlMs)} - margin ${secs(marginMs)}): the leader's lease may have expired unseen`,
      validUntilMs: nowMs,
    };
  }
  if (!view.leader) return { reason: 'no leader key (election in progress or cluster unlocked)', validUntilMs: nowMs };
  const name = view.leader.name;
  const member = view.members.get(name);
  if (!member) return { reason: `leader key names ${name} but members/${name} is missing`, validUntilMs: nowMs };
  const backend = backendOf(member, 1);
  if (!backend) return { reason: `members/${name} has no usable conn_url`, validUntilMs: nowMs };
  const h = health.get(name);
  const problem = agentProblem(ctx, name, h);
  if (problem) return { reason: `leader ${name} not confirmed: ${problem}`, validUntilMs: nowMs };
  const st = h!.status!;
  if (!isPrimaryRole(st.role)) return { reason: `leader ${name} not confirmed: its agent reports role ${st.role ?? 'unknown'}, not primary`, validUntilMs: nowMs };
  if (st.state !== 'running') return { reason: `leader ${name} not confirmed: its agent reports state ${st.state ?? 'unknown'}`, validUntilMs: nowMs };
  soon(ctx, validUntilMs);
  return { leader: backend, reason: `${name} holds the leader key and its agent confirms role ${st.role}`, validUntilMs };
}

/**
 * The planned switchover away from the current leader key holder, if one is pending: the failover key names that
 * leader (or no leader) and a candidate other than it, and its `scheduled_at`, if any, has come (the leader acts at
 * that time). A request naming another leader, or naming the current leader as candidate, is stale or done: the
 * leader clears those, and the router ignores them.
 */
function pendingSwitchover(ctx: Ctx): SwitchoverState | undefined {
  const { view, nowMs, wallNowMs } = ctx.input;
  const f = view?.failover;
  const leaderName = view?.leader?.name;
  if (!f || !leaderName) return undefined;
  if (f.leader !== undefined && f.leader !== leaderName) return undefined;
  if (f.member === leaderName) return undefined;
  // A pgha leader (its member key has pgha_version) drains registered routers before it demotes: their pause
  // starts at the drain key, when the leader acts, not at the failover key, which the leader may take a loop to act
  // on; holding from the key on only lengthened the write gap. A Patroni leader drains nobody: held as before.
  if (ctx.config.drainAware && view.members.get(leaderName)?.doc.pgha_version !== undefined) return undefined;
  if (f.scheduledAt !== undefined) {
    const at = Date.parse(f.scheduledAt);
    if (!Number.isFinite(at) || wallNowMs === undefined) return undefined;
    if (at > wallNowMs) {
      soon(ctx, nowMs + (at - wallNowMs));
      return undefined;
    }
  }
  const holdMs = ctx.config.switchoverHoldMs ?? DEFAULT_SWITCHOVER_HOLD_MS;
  const prev = ctx.input.switchover;
  const sinceMs = prev && prev.revision === f.modRevision ? prev.sinceMs : nowMs;
  const holding = nowMs < sinceMs + holdMs;
  if (holding) soon(ctx, sinceMs + holdMs);
  return { revision: f.modRevision, leader: leaderName, ...(f.member ? { candidate: f.member } : {}), sinceMs, holding };
}

function switchoverReason(sw: SwitchoverState, holdMs: number, nowMs: number): string {
  const to = sw.candidate ? `switchover to ${sw.candidate}` : 'switchover';
  return sw.holding
    ? `${to} pending: new writes are held for the new leader (${sw.leader} is about to demote; pending ${secs(nowMs - sw.sinceMs)}, switchover_hold ${secs(holdMs)})`
    : `${to} pending for more than switchover_hold ${secs(holdMs)}: writes go to ${sw.leader} again`;
}

/** An out-of-pool verdict; `cause` only for the reasons that may end open read sessions (read-follow.ts). */
const out = (reason: string, cause?: ReadExitCause): PoolVerdict => ({ in: false, reason, ...(cause ? { cause } : {}) });

/**
 * Why a non-leader member is not a qualified replica for this listener (an out verdict), or undefined when it is.
 * Unknown lag has no cause: the router lacking a figure is no reason to end a session, only a measured lag is.
 */
function replicaProblem(ctx: Ctx, member: Member, listener: ListenerConfig, weight: number): PoolVerdict | undefined {
  const h = ctx.input.health.get(member.name);
  if (!member.host || !member.port) return out('no usable conn_url in its member key');
  const agent = agentProblem(ctx, member.name, h);
  if (agent) return out(agent);
  const st = h!.status!;
  if (isPrimaryRole(st.role)) return out(`agent reports role ${st.role} but the member does not hold the leader key`, 'promoted');
  if (st.role !== 'replica') return out(`agent reports role ${st.role ?? 'unknown'}, not replica`);
  if (st.state !== 'running') return out(`agent reports state ${st.state ?? 'unknown'}`);
  if (listener.requireStreaming && st.replicationState !== undefined && st.replicationState !== 'streaming') {
    return out(`replication_state is ${st.replicationState}, not streaming`);
  }
  const tags = { ...(member.doc.tags ?? {}), ...(st.tags ?? {}) };
  if (!listener.includeNoloadbalance && memberTag({ tags }, 'noloadbalance')) return out('tagged noloadbalance', 'tags');
  for (const [k, want] of Object.entries(listener.tagFilters)) {
    if (!(k in tags)) return out(`tag ${k} not set (listener wants ${k}=${want})`, 'tags');
    if (tagString(tags[k]) !== want) return out(`tag ${k}=${tagString(tags[k])} (listener wants ${want})`, 'tags');
  }
  if (weight <= 0) return out(`weight tag ${ctx.config.weightTag} is 0`, 'tags');
  if (listener.maxLagBytes === undefined && listener.maxLagSeconds === undefined) return undefined;
  const lag = ctx.input.lag.get(member.name);
  if (!lag || lag.observedAtMs === undefined) return out('lag unknown (no replica position)');
  const age = ctx.input.nowMs - lag.observedAtMs;
  if (age > ctx.config.health.maxAgeMs) return out(`lag unknown (position is ${secs(age)} old)`);
  soon(ctx, lag.observedAtMs + ctx.config.health.maxAgeMs + 1);
  if (listener.maxLagBytes !== undefined) {
    if (lag.bytes === undefined) return out('lag unknown (no leader position)');
    if (lag.bytes > listener.maxLagBytes) return out(`lag ${lag.bytes} bytes > max_lag ${listener.maxLagBytes}`, 'lag');
  }
  if (listener.maxLagSeconds !== undefined) {
    if (lag.seconds === undefined) return out('seconds lag unknown (no leader position)');
    if (lag.seconds > listener.maxLagSeconds) return out(`lag ${lag.seconds.toFixed(1)} s > max_lag_seconds ${listener.maxLagSeconds}`, 'lag');
    if (lag.secondsLowerBound) return out(`seconds lag unknown (behind every leader position seen, ≥ ${lag.seconds.toFixed(1)} s)`);
  }
  return undefined;
}

export function deriveRoutingTable(input: RoutingInput, config: RoutingConfig): RoutingTable {
  const ctx: Ctx = { input, config, next: Number.POSITIVE_INFINITY };
  const { view, nowMs } = input;
  const ttlMs = ttlMsOf(view, config.lease);
  const decided = decideWrite(ctx, ttlMs);
  const leaderName = view?.leader?.name;
  // A pending switchover matters only while the leader is confirmed: otherwise writes are held anyway.
  const switchover = decided.leader ? pendingSwitchover(ctx) : undefined;
  const holdMs = config.switchoverHoldMs ?? DEFAULT_SWITCHOVER_HOLD_MS;
  const write: WriteDecision = switchover ? { ...decided, reason: switchoverReason(switchover, holdMs, nowMs) } : decided;
  if (!decided.leader && !leaderName && view?.failover) {
    const to = view.failover.member ? ` to ${view.failover.member}` : '';
    write.reason = `${decided.reason}; switchover${to} in progress`;
  }
  /** The write pools' backend: none while a switchover holds new writes. */
  const writeTarget = switchover?.holding ? undefined : write.leader;

  const verdicts = new Map<string, MemberVerdict>();
  for (const member of view?.members.values() ?? []) {
    const h = input.health.get(member.name);
    const lag = input.lag.get(member.name);
    const timeline = h?.status?.timeline ?? (typeof member.doc.timeline === 'number' ? member.doc.timeline : undefined);
    verdicts.set(member.name, {
      member: member.name,
      ...(member.host ? { host: member.host } : {}),
      ...(member.port ? { port: member.port } : {}),
      ...(member.doc.api_url ? { apiUrl: member.doc.api_url } : {}),
      ...(member.doc.role ? { keyRole: member.doc.role } : {}),
      ...(h?.status?.role ? { restRole: h.status.role } : {}),
      ...(h?.status?.state ?? member.doc.state ? { state: h?.status?.state ?? member.doc.state } : {}),
      ...(timeline !== undefined ? { timeline } : {}),
      up: h?.up ?? false,
      isLeaderKey: member.name === leaderName,
      ...(lag?.bytes !== undefined ? { lagBytes: lag.bytes } : {}),
      ...(lag?.seconds !== undefined ? { lagSeconds: lag.seconds } : {}),
      ...(lag?.observedAtMs !== undefined ? { lagAgeMs: nowMs - lag.observedAtMs } : {}),
      pools: {},
    });
  }

  const pools: Record<string, PoolTable> = {};
  for (const listener of config.listeners) {
    const mark = (name: string, v: PoolVerdict): void => {
      const verdict = verdicts.get(name);
      if (verdict) verdict.pools[listener.name] = v;
    };
    if (listener.role === 'primary') {
      for (const name of verdicts.keys()) {
        mark(name, name === writeTarget?.member ? { in: true, reason: write.reason } : { in: false, reason: name === leaderName ? write.reason : 'not the leader' });
      }
      pools[listener.name] = { listener: listener.name, role: listener.role, backends: writeTarget ? [writeTarget] : [], fallback: false, reason: write.reason };
      continue;
    }
    const replicas: Backend[] = [];
    for (const member of view?.members.values() ?? []) {
      if (member.name === leaderName) continue;
      const weight = weightOf(member, config.weightTag);
      const problem = replicaProblem(ctx, member, listener, weight);
      if (problem) {
        mark(member.name, problem);
        continue;
      }
      replicas.push(backendOf(member, weight)!);
      mark(member.name, { in: true, reason: 'qualified replica' });
    }
    const backends = [...replicas];
    let fallback = false;
    let reason: string;
    const useLeader = listener.role === 'any' || (replicas.length === 0 && (listener.role === 'read-only' || listener.fallbackToLeader));
    if (useLeader && write.leader) {
      backends.push(write.leader);
      fallback = listener.role !== 'any';
      mark(write.leader.member, { in: true, reason: listener.role === 'any' ? 'confirmed leader' : 'no replica qualifies: fallback to the confirmed leader' });
      reason = fallback ? 'no replica qualifies: reads fall back to the leader' : `${replicas.length} qualified replica(s) and the leader`;
    } else {
      if (leaderName) {
        const byPolicy = listener.role === 'replica' && !listener.fallbackToLeader;
        const why = byPolicy ? 'leader (fallback_to_leader is off)' : replicas.length > 0 ? 'leader (replicas qualify)' : `leader not usable: ${write.reason}`;
        // Kept out by the listener's policy (not merely unconfirmed, when it may yet come in as the fallback), the
        // leader key holder counts as promoted for this pool. An `any` pool takes the leader: never a cause there.
        const promoted = listener.role !== 'any' && (byPolicy || replicas.length > 0);
        mark(leaderName, out(why, promoted ? 'promoted' : undefined));
      }
      reason = replicas.length > 0 ? `${replicas.length} qualified replica(s)` : `no replica qualifies${useLeader ? ` and no confirmed leader (${write.reason})` : ''}`;
    }
    pools[listener.name] = { listener: listener.name, role: listener.role, backends, fallback, reason };
  }

  return {
    generation: 0,
    computedAtMs: nowMs,
    ...(write.leader ? { leader: write.leader } : {}),
    ...(switchover ? { switchover } : {}),
    writeReason: write.reason,
    writeValidUntilMs: write.validUntilMs,
    ...(Number.isFinite(ctx.next) ? { nextChangeAtMs: ctx.next } : {}),
    ...(leaderName ? { leaderKey: leaderName } : {}),
    ttlMs,
    ...(input.lastContactMs !== undefined ? { etcdAgeMs: nowMs - input.lastContactMs } : {}),
    pools,
    members: [...verdicts.values()],
  };
}

/** True when the two tables route identically (same leader, same backends in every pool). */
export function sameRouting(a: RoutingTable | undefined, b: RoutingTable): boolean {
  if (!a) return false;
  if (!sameBackend(a.leader, b.leader)) return false;
  const names = Object.keys(b.pools);
  if (names.length !== Object.keys(a.pools).length) return false;
  for (const name of names) {
    const pa = a.pools[name];
    const pb = b.pools[name]!;
    if (!pa || pa.backends.length !== pb.backends.length) return false;
    for (let i = 0; i < pb.backends.length; i++) {
      const x = pa.backends[i]!;
      const y = pb.backends[i]!;
      if (!sameBackend(x, y) || x.weight !== y.weight) return false;
    }
  }
  return true;
}

export function sameBackend(a: Backend | undefined, b: Backend | undefined): boolean {
  if (!a || !b) return a === b;
  return a.member === b.member && a.host === b.host && a.port === b.port;
}
