/**
 * Every metric the router exposes on `GET /metrics`, in one explicit prom-client Registry (never the global one).
 * Base units (seconds, bytes), `_total` counters, bounded labels:
 *  - `listener`: the configured listener names (a handful);
 *  - `backend` / `member`: member names of the one cluster the router serves, capped at MAX_MEMBERS distinct
 *    values (later ones count as `other`);
 *  - `reason` / `outcome` / `direction`: closed unions below.
 * Label children are resolved once per (listener, backend) and cached: the connection path does a map lookup
 * and an increment, and the data path does nothing at all (bytes are added when a connection closes).
 * State (lag, qualification, watch state, generation) is read from a snapshot at scrape time.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuthFailureReason } from '../router/auth/client-auth';
import type { ReadExitCause, RefusalReason } from '../router/types';
import { PoolMetrics } from './router-pool-metrics';

export type CloseReason = 'client' | 'backend' | 'leader_change' | 'role_change' | 'error' | 'shutdown';
export type ConnectFailureReason = 'refused' | 'timeout' | 'reset' | 'tls_refused' | 'error';
export type HoldOutcome = 'routed' | 'timeout' | 'client_gone' | 'shutdown';
export type CancelOutcome = 'routed' | 'broadcast' | 'unknown_key' | 'failed' | 'forwarded';
/** A client's TLS handshake with the router's certificate (router/tls/terminate.ts). */
export type TlsHandshakeResult = 'ok' | 'failed' | 'timeout' | 'alpn';
/** How the router's hold of new writes for a planned switchover ended. */
export type SwitchoverOutcome = 'completed' | 'rolled_back' | 'hold_expired';

const MAX_MEMBERS = 64;

/** The state read at scrape time. */
export interface RouterMetricsSnapshot {
  generation: number;
  writable: boolean;
  leader?: string;
  watchState: string;
  /** Seconds since the newest watch event / the last successful etcd contact (undefined: never). */
  lastEventAgeSeconds?: number;
  lastContactAgeSeconds?: number;
  members: readonly {
    member: string;
    up: boolean;
    lagBytes?: number;
    lagSeconds?: number;
    pools: Readonly<Record<string, { in: boolean }>>;
  }[];
  pools: readonly { listener: string; backends: number; fallback: boolean }[];
  held: Readonly<Record<string, number>>;
  /** True while new writes are held for a pending planned switchover. */
  switchoverHolding: boolean;
}

export class RouterMetrics {
  readonly registry = new Registry();
  /** Server pools of the pooled listeners (router-pool-metrics.ts). */
  readonly pool: PoolMetrics;
  private readonly opened: Counter<'listener' | 'backend'>;
  private readonly active: Gauge<'listener' | 'backend'>;
  private readonly closed: Counter<'listener' | 'backend' | 'reason'>;
  private readonly connectFailures: Counter<'listener' | 'backend' | 'reason'>;
  private readonly refusals: Counter<'listener' | 'reason'>;
  private readonly holdSeconds: Histogram<'listener' | 'outcome'>;
  private readonly leaderChanges: Counter<string>;
  private readonly closedOnLeaderChange: Counter<'listener'>;
  private readonly readSessionsEnded: Counter<'listener' | 'reason'>;
  private readonly cancels: Counter<'listener' | 'outcome'>;
  private readonly cancelTargets: Counter<'listener'>;
  private readonly tlsHandshakes: Counter<'listener' | 'result'>;
  private readonly bytes: Counter<'listener' | 'backend' | 'direction'>;
  private readonly healthChecks: Counter<'member' | 'result'>;
  private readonly healthSeconds: Histogram<'member'>;
  private readonly switchoverHeld: Counter<'listener'>;
  private readonly switchovers: Counter<'outcome'>;
  private readonly switchoverHoldSeconds: Histogram<'outcome'>;
  private readonly authFailures: Counter<'listener' | 'reason'>;
  private readonly members = new Set<string>();
  private readonly children = new Map<string, ConnectionMetrics>();
  private readonly fill: () => void;

  /**
   * `snapshot` fills the state gauges at scrape time; a router worker passes none (the control plane owns the
   * state, and the workers' registries are summed into its own: workers/control-plane.ts).
   */
  constructor(snapshot?: () => RouterMetricsSnapshot) {
    const r = [this.registry];
    this.pool = new PoolMetrics(this.registry);
    this.opened = new Counter({ name: 'pgha_router_connections_opened_total', help: 'Client connections routed to a backend (backend connection established).', labelNames: ['listener', 'backend'], registers: r });
    this.active = new Gauge({ name: 'pgha_router_connections_active', help: 'Client connections currently routed to a backend.', labelNames: ['listener', 'backend'], registers: r });
    this.closed = new Counter({ name: 'pgha_router_connections_closed_total', help: 'Routed connections closed, by who ended them.', labelNames: ['listener', 'backend', 'reason'], registers: r });
    this.connectFailures = new Counter({ name: 'pgha_router_backend_connect_failures_total', help: 'Failed attempts to open a backend connection.', labelNames: ['listener', 'backend', 'reason'], registers: r });
    this.refusals = new Counter({ name: 'pgha_router_connections_refused_total', help: 'Client connections refused (ErrorResponse or close), by reason.', labelNames: ['listener', 'reason'], registers: r });
    this.holdSeconds = new Histogram({
      name: 'pgha_router_hold_seconds', help: 'Time new connections waited for a qualifying backend, by outcome.',
      labelNames: ['listener', 'outcome'], buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: r,
    });
    // Every worker process sees every leader change and switchover: summed across workers they would count N times.
    this.leaderChanges = new Counter({ name: 'pgha_router_leader_changes_total', help: 'Changes of the leader key seen in etcd (including to and from no leader).', registers: r, aggregator: 'max' });
    this.closedOnLeaderChange = new Counter({ name: 'pgha_router_connections_closed_on_leader_change_total', help: 'Write connections closed because the leader changed or could no longer be confirmed.', labelNames: ['listener'], registers: r });
    this.readSessionsEnded = new Counter({ name: 'pgha_router_read_sessions_ended_total', help: 'Read sessions ended because their member left the pool: promoted, lag or tags (end_sessions).', labelNames: ['listener', 'reason'], registers: r });
    this.authFailures = new Counter({ name: 'pgha_router_auth_failures_total', help: "Clients refused by the router's own authentication (pooled listeners), by reason.", labelNames: ['listener', 'reason'], registers: r });
    this.cancels = new Counter({ name: 'pgha_router_cancel_requests_total', help: 'CancelRequests: routed by key, broadcast (TLS sessions), unknown key, failed, forwarded (a pooled key another worker issued: sent to that worker, which counts the outcome).', labelNames: ['listener', 'outcome'], registers: r });
    this.cancelTargets = new Counter({ name: 'pgha_router_cancel_broadcast_targets_total', help: 'Backends a broadcast CancelRequest was sent to.', labelNames: ['listener'], registers: r });
    this.tlsHandshakes = new Counter({ name: 'pgha_router_tls_handshakes_total', help: 'TLS handshakes of clients with the router\'s certificate (tls: set), by result: ok, failed, timeout (startup_timeout), alpn (direct TLS without ALPN postgresql).', labelNames: ['listener', 'result'], registers: r });
    this.bytes = new Counter({ name: 'pgha_router_bytes_total', help: 'Bytes relayed, counted when a connection closes.', labelNames: ['listener', 'backend', 'direction'], registers: r });
    this.healthChecks = new Counter({ name: 'pgha_router_health_checks_total', help: 'Agent REST checks, by result.', labelNames: ['member', 'result'], registers: r });
    this.healthSeconds = new Histogram({ name: 'pgha_router_health_check_seconds', help: 'Agent REST check duration.', labelNames: ['member'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: r });

    this.switchoverHeld = new Counter({ name: 'pgha_router_switchover_held_connections_total', help: 'New write connections held because a planned switchover was pending.', labelNames: ['listener'], registers: r });
    this.switchovers = new Counter({ name: 'pgha_router_switchovers_total', help: 'Planned switchovers for which new writes were held, by how the hold ended (completed: a new leader confirmed; rolled_back: the old leader kept writes; hold_expired: switchover_hold passed).', labelNames: ['outcome'], registers: r, aggregator: 'max' });
    this.switchoverHoldSeconds = new Histogram({
      name: 'pgha_router_switchover_hold_seconds', help: 'How long new writes were held for a planned switchover, by outcome.',
      labelNames: ['outcome'], buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers: r, aggregator: 'max',
    });
    const switchoverPending = new Gauge({ name: 'pgha_router_switchover_pending', help: '1 while new writes are held for a pending planned switchover.', registers: r });
    const held = new Gauge({ name: 'pgha_router_held_connections', help: 'New connections waiting for a qualifying backend.', labelNames: ['listener'], registers: r });
    const generation = new Gauge({ name: 'pgha_router_routing_generation', help: 'Version of the routing table; bumped whenever the leader or a pool changes.', registers: r });
    const writable = new Gauge({ name: 'pgha_router_writable', help: '1 when a confirmed leader receives writes.', registers: r });
    const watch = new Gauge({ name: 'pgha_router_etcd_watch_state', help: '1 for the current etcd watch state.', labelNames: ['state'], registers: r });
    const eventAge = new Gauge({ name: 'pgha_router_etcd_last_event_age_seconds', help: 'Seconds since the newest etcd watch event or list (NaN: none yet).', registers: r });
    const contactAge = new Gauge({ name: 'pgha_router_etcd_last_contact_age_seconds', help: 'Seconds since the last successful etcd contact (NaN: never).', registers: r });
    const up = new Gauge({ name: 'pgha_router_member_up', help: '1 when the member agent answers its REST health check (after rise/fall).', labelNames: ['member'], registers: r });
    const lagBytes = new Gauge({ name: 'pgha_router_member_lag_bytes', help: 'Replica lag behind the freshest leader position (NaN: unknown).', labelNames: ['member'], registers: r });
    const lagSeconds = new Gauge({ name: 'pgha_router_member_lag_seconds', help: 'How long the leader has had WAL the replica has not replayed (NaN: unknown).', labelNames: ['member'], registers: r });
    const qualified = new Gauge({ name: 'pgha_router_member_qualified', help: '1 when the member is in the listener pool.', labelNames: ['member', 'listener'], registers: r });
    const poolSize = new Gauge({ name: 'pgha_router_pool_backends', help: 'Backends in each listener pool.', labelNames: ['listener'], registers: r });
    const fallback = new Gauge({ name: 'pgha_router_pool_fallback_to_leader', help: '1 when the pool serves reads from the leader because no replica qualifies.', labelNames: ['listener'], registers: r });

    // Every state gauge is filled from one snapshot just before each scrape (text()).
    this.fill = (): void => {
      if (!snapshot) return;
      const s = snapshot();
      generation.set(s.generation);
      writable.set(s.writable ? 1 : 0);
      watch.reset();
      watch.set({ state: s.watchState }, 1);
      eventAge.set(s.lastEventAgeSeconds ?? Number.NaN);
      contactAge.set(s.lastContactAgeSeconds ?? Number.NaN);
      for (const g of [up, lagBytes, lagSeconds, qualified]) g.reset();
      for (const m of s.members) {
        const member = this.memberLabel(m.member);
        up.set({ member }, m.up ? 1 : 0);
        lagBytes.set({ member }, m.lagBytes ?? Number.NaN);
        lagSeconds.set({ member }, m.lagSeconds ?? Number.NaN);
        for (const [listener, v] of Object.entries(m.pools)) qualified.set({ member, listener }, v.in ? 1 : 0);
      }
      poolSize.reset();
      fallback.reset();
      for (const p of s.pools) {
        poolSize.set({ listener: p.listener }, p.backends);
        fallback.set({ listener: p.listener }, p.fallback ? 1 : 0);
      }
      held.reset();
      for (const [listener, n] of Object.entries(s.held)) held.set({ listener }, n);
      switchoverPending.set(s.switchoverHolding ? 1 : 0);
    };
  }

  /** Member names are bounded by the cluster's size; past MAX_MEMBERS distinct names they count as `other`. */
  memberLabel(name: string): string {
    if (this.members.has(name)) return name;
    if (this.members.size >= MAX_MEMBERS) return 'other';
    this.members.add(name);
    return name;
  }

  /** The cached children for one (listener, backend) pair. */
  connection(listener: string, backend: string): ConnectionMetrics {
    const b = this.memberLabel(backend);
    const key = `${listener}\0${b}`;
    let c = this.children.get(key);
    if (!c) {
      const l = { listener, backend: b };
      c = {
        opened: this.opened.labels(l),
        active: this.active.labels(l),
        closed: {
          client: this.closed.labels({ ...l, reason: 'client' }),
          backend: this.closed.labels({ ...l, reason: 'backend' }),
          leader_change: this.closed.labels({ ...l, reason: 'leader_change' }),
          role_change: this.closed.labels({ ...l, reason: 'role_change' }),
          error: this.closed.labels({ ...l, reason: 'error' }),
          shutdown: this.closed.labels({ ...l, reason: 'shutdown' }),
        },
        bytesIn: this.bytes.labels({ ...l, direction: 'client_to_backend' }),
        bytesOut: this.bytes.labels({ ...l, direction: 'backend_to_client' }),
      };
      this.children.set(key, c);
    }
    return c;
  }

  connectFailed(listener: string, backend: string, reason: ConnectFailureReason): void {
    this.connectFailures.inc({ listener, backend: this.memberLabel(backend), reason });
  }

  refused(listener: string, reason: RefusalReason): void {
    this.refusals.inc({ listener, reason });
  }

  held(listener: string, waitedMs: number, outcome: HoldOutcome): void {
    this.holdSeconds.observe({ listener, outcome }, waitedMs / 1000);
  }

  /** A new write connection went into the hold queue because a switchover was pending. */
  heldForSwitchover(listener: string): void {
    this.switchoverHeld.inc({ listener });
  }

  switchoverEnded(outcome: SwitchoverOutcome, heldMs: number): void {
    this.switchovers.inc({ outcome });
    this.switchoverHoldSeconds.observe({ outcome }, heldMs / 1000);
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  closedForLeaderChange(listener: string, n: number): void {
    if (n > 0) this.closedOnLeaderChange.inc({ listener }, n);
  }

  /** Read sessions ended because their member left the pool (read-follow.ts). */
  readSessionsEndedFor(listener: string, reason: ReadExitCause, n: number): void {
    if (n > 0) this.readSessionsEnded.inc({ listener, reason }, n);
  }

  authFailed(listener: string, reason: AuthFailureReason): void {
    this.authFailures.inc({ listener, reason });
  }

  cancel(listener: string, outcome: CancelOutcome, targets = 0): void {
    this.cancels.inc({ listener, outcome });
    if (outcome === 'broadcast' && targets > 0) this.cancelTargets.inc({ listener }, targets);
  }

  tlsHandshake(listener: string, result: TlsHandshakeResult): void {
    this.tlsHandshakes.inc({ listener, result });
  }

  healthCheck(member: string, ok: boolean, durationMs: number): void {
    const m = this.memberLabel(member);
    this.healthChecks.inc({ member: m, result: ok ? 'ok' : 'failed' });
    this.healthSeconds.observe({ member: m }, durationMs / 1000);
  }

  /** The exposition text, with the state gauges filled from a fresh snapshot. */
  async text(): Promise<string> {
    this.fill();
    return this.registry.metrics();
  }

  /** The registry as prom-client JSON (the form AggregatorRegistry.aggregate sums across processes). */
  async json(): Promise<unknown[]> {
    this.fill();
    return this.registry.getMetricsAsJSON();
  }
}

export interface ConnectionMetrics {
  opened: { inc(): void };
  active: { inc(): void; dec(): void };
  closed: Record<CloseReason, { inc(): void }>;
  bytesIn: { inc(n: number): void };
  bytesOut: { inc(n: number): void };
}
