/**
 * Watch → table. Keeps the cluster view (from a watch-driven ClusterCache), the agents' health and the replica
 * lag, and derives a new routing table (routing.ts) whenever any of them changes, plus exactly when a
 * time-based condition flips (the etcd lease bound, an answer growing stale). Tables are immutable; a new one is
 * handed to `onTable` together with the previous one. There is no polling delay between a leader key change
 * and the table change: the watch event triggers the recompute (and an immediate REST check of the new leader).
 */
import type { Logger } from '../log/logger';
import type { ClusterView } from '../model/cluster';
import type { Scheduler } from '../lib/clock';
import { HealthChecker, type FetchJson } from './health';
import { LagTracker } from './lag';
import { deriveRoutingTable, sameRouting, type RoutingConfig } from './routing';
import type { HealthCheckConfig, LagConfig, MemberLag, RoutingTable } from './types';

/** What the topology needs from the DCS side (ClusterCache satisfies it). */
export interface ViewSource {
  start(): Promise<void> | void;
  view(): ClusterView | undefined;
  /** Monotonic ms (same clock as the scheduler) of the last successful etcd contact. */
  lastContactMs(): number | undefined;
  /** Human-readable watch state, e.g. 'watching', 'listing', 'unavailable'. */
  readonly state: string;
  onChange(fn: (view: ClusterView, changedKeys: readonly string[]) => void): void;
  stop(): Promise<void> | void;
}

export interface TopologyConfig extends RoutingConfig {
  health: HealthCheckConfig;
  lag: LagConfig;
}

export interface TopologyOptions {
  source: ViewSource;
  config: TopologyConfig;
  scheduler: Scheduler;
  logger: Logger;
  fetch?: FetchJson;
  onTable: (table: RoutingTable, previous: RoutingTable) => void;
  onCheck?: (member: string, ok: boolean, durationMs: number) => void;
}

export class Topology {
  readonly health: HealthChecker;
  private lagTracker: LagTracker;
  private current: RoutingTable;
  private lag: ReadonlyMap<string, MemberLag> = new Map();
  private timer: unknown;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private lastLeaderKey: string | undefined;
  /** The leader's member key revision in the last view: a new one from an unconfirmed leader asks its agent at once. */
  private lastLeaderMemberRevision: number | undefined;
  private lastEventMs: number | undefined;
  private switchoverMemo: { revision: number; sinceMs: number } | undefined;
  private config: TopologyConfig;
  private stopped = false;
  private recomputing = false;
  private pending = false;
  leaderChanges = 0;

  constructor(private readonly opts: TopologyOptions) {
    this.config = opts.config;
    this.lagTracker = new LagTracker(opts.config.lag);
    this.health = new HealthChecker({
      config: opts.config.health,
      scheduler: opts.scheduler,
      logger: opts.logger,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      onChange: () => this.recompute(),
      ...(opts.onCheck ? { onCheck: opts.onCheck } : {}),
    });
    this.current = deriveRoutingTable({ nowMs: opts.scheduler.now(), health: new Map(), lag: new Map() }, this.config);
  }

  table(): RoutingTable {
    return this.current;
  }

  lagOf(): ReadonlyMap<string, MemberLag> {
    return this.lag;
  }

  watchState(): string {
    return this.opts.source.state;
  }

  /** Monotonic ms of the newest watch event (or list) seen. */
  lastEventAtMs(): number | undefined {
    return this.lastEventMs;
  }

  lastContactMs(): number | undefined {
    return this.opts.source.lastContactMs();
  }

  async start(): Promise<void> {
    this.opts.source.onChange((view) => this.onView(view));
    await this.opts.source.start();
    const view = this.opts.source.view();
    if (view) this.onView(view);
  }

  reconfigure(config: TopologyConfig): void {
    this.config = config;
    this.health.reconfigure(config.health);
    this.recompute();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.opts.scheduler.clearTimer(this.timer);
    this.health.stop();
    await this.opts.source.stop();
  }

  private onView(view: ClusterView): void {
    if (this.stopped) return;
    this.lastEventMs = this.opts.scheduler.now();
    const urls = new Map<string, string>();
    for (const m of view.members.values()) if (m.doc.api_url) urls.set(m.name, m.doc.api_url);
    this.health.setTargets(urls);
    const leader = view.leader?.name;
    // A promoted agent writes its member key (role master) the moment pg_ctl promote returns: its REST answer says
    // so too, and asking now rather than at the next fast interval shortens every switchover's write gap.
    const revision = leader ? view.members.get(leader)?.modRevision : undefined;
    const moved = leader !== this.lastLeaderKey;
    if (leader && !moved && revision !== this.lastLeaderMemberRevision && this.current.leader?.member !== leader) this.health.checkNow(leader);
    this.lastLeaderMemberRevision = revision;
    if (moved) {
      this.opts.logger.info({ leader: leader ?? null, previous: this.lastLeaderKey ?? null, revision: view.revision }, 'leader key changed');
      if (this.lastLeaderKey !== undefined || leader !== undefined) this.leaderChanges++;
      // Ask both agents at once: the new leader must confirm, the old one should say it demoted.
      if (leader) this.health.checkNow(leader);
      if (this.lastLeaderKey) this.health.checkNow(this.lastLeaderKey);
      this.lastLeaderKey = leader;
    }
    this.recompute();
  }

  /** Derives a new table now; hands it on when its routing differs (a new generation). */
  recompute(): void {
    if (this.stopped) return;
    if (this.recomputing) {
      this.pending = true;
      return;
    }
    this.recomputing = true;
    try {
      do {
        this.pending = false;
        this.recomputeOnce();
      } while (this.pending);
    } finally {
      this.recomputing = false;
    }
  }

  private recomputeOnce(): void {
    const now = this.opts.scheduler.now();
    const view = this.opts.source.view();
    const health = this.health.snapshot();
    this.lag = this.lagTracker.update(view, health, now);
    const prev = this.current;
    const next = deriveRoutingTable(
      {
        view,
        nowMs: now,
        lastContactMs: this.opts.source.lastContactMs(),
        health,
        lag: this.lag,
        wallNowMs: this.opts.scheduler.wallNow(), // a switchover's scheduled_at only
        ...(this.switchoverMemo ? { switchover: this.switchoverMemo } : {}),
      },
      this.config,
    );
    const changed = !sameRouting(prev, next);
    const table: RoutingTable = { ...next, generation: changed ? prev.generation + 1 : prev.generation };
    this.current = table;
    // The hold bound runs from when a request was first seen pending, also across tables where the leader was
    // briefly unconfirmed: kept while the failover key keeps that revision.
    if (table.switchover) this.switchoverMemo = { revision: table.switchover.revision, sinceMs: table.switchover.sinceMs };
    else if (view?.failover?.modRevision !== this.switchoverMemo?.revision) this.switchoverMemo = undefined;
    // An unconfirmed leader is polled fast until its agent says primary.
    const fast = new Set<string>();
    if (view?.leader && table.leader?.member !== view.leader.name) fast.add(view.leader.name);
    this.health.setFast(fast);
    this.arm(table.nextChangeAtMs);
    if (changed) {
      this.opts.logger.info(
        {
          generation: table.generation,
          leader: table.leader?.member ?? null,
          ...(table.switchover ? { switchover: { to: table.switchover.candidate ?? null, holding: table.switchover.holding } } : {}),
          reason: table.writeReason,
          pools: Object.fromEntries(Object.values(table.pools).map((p) => [p.listener, p.backends.map((b) => b.member)])),
        },
        'routing changed',
      );
    }
    this.opts.onTable(table, prev);
  }

  private arm(atMs: number | undefined): void {
    // A timer already due earlier stays: when it fires, the recompute arms the next one.
    if (atMs === undefined || atMs >= this.timerAtMs) return;
    if (this.timer !== undefined) this.opts.scheduler.clearTimer(this.timer);
    this.timerAtMs = atMs;
    this.timer = this.opts.scheduler.setTimer(() => {
      this.timer = undefined;
      this.timerAtMs = Number.POSITIVE_INFINITY;
      this.recompute();
    }, Math.max(1, atMs - this.opts.scheduler.now()));
  }
}
