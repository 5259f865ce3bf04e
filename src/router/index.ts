/**
 * The HA-aware PostgreSQL router (docs/router.md): `startRouter(config, deps)` binds the listeners and the
 * metrics/status address, follows the cluster in etcd (watch) and the agents (REST), and routes.
 */
import type { Logger } from '../log/logger';
import type { ClusterStore } from '../dcs/store';
import { ConfigError } from '../lib/errors';
import { RouterMetrics } from '../metrics/router-metrics';
import { realScheduler, type Scheduler } from '../lib/clock';
import { healthTls, type FetchJson } from './health';
import { LeaderChanges } from './leader-changes';
import { Router } from './router';
import { closeServer, startStatusServer } from './status';
import { loadRouterTls } from './tls/context';
import { Topology, type ViewSource } from './topology';
import { Pauses } from './drainable';
import { registers, startDrain, type DrainHandle } from './drain-start';
import { WorkerPool, type WorkerStatus } from './workers/control-plane';
import { statusPage } from '../status-page/page';
import type { RouterConfig, RoutingTable } from './types';
import type { AuthSource } from './auth/auth-source';
import { PoolAuth } from './auth/pool-auth';
import type { AuthType } from './auth/client-auth';

export { loadRouterConfig } from '../config/router';
export { parseRouterFlags } from '../config/router-flags';
export { DEFAULT_READ_PORT, DEFAULT_WRITE_PORT } from '../config/router-listeners';
export type { RouterConfig, ListenerConfig, ListenerRole, RoutingTable } from './types';
export type { ViewSource } from './topology';

/** New writes are routed: a confirmed leader, and no pending switchover holding them. */
const writable = (t: RoutingTable): boolean => t.leader !== undefined && t.switchover?.holding !== true;

export interface RouterDependencies {
  logger: Logger;
  /** The etcd store to use (default: a new EtcdStore on `config.etcd`, closed by stop()). */
  store?: ClusterStore;
  /** Tests: a view source instead of a ClusterCache over the store. */
  source?: ViewSource;
  /** Tests: the REST fetcher and the clock. */
  fetch?: FetchJson;
  scheduler?: Scheduler;
  /**
   * Pooled listeners: where the router finds each user's secret (to check clients and to log in to PostgreSQL) and
   * how clients authenticate (default scram-sha-256); tests hand these in, else the `auth:` section's (PoolAuth).
   */
  poolAuth?: { secrets: AuthSource; type?: AuthType };
}

export interface RunningRouter {
  stop(): Promise<void>;
  reload(config: RouterConfig): Promise<void>;
  /** Bound ports by listener name, plus `metrics` when served. */
  ports: Record<string, number>;
  /** The current routing table (tests, embedding). */
  table(): RoutingTable;
  /** The /status document. */
  status(): unknown;
}

export async function startRouter(config: RouterConfig, deps: RouterDependencies): Promise<RunningRouter> {
  const logger = deps.logger;
  // Unreadable or mismatched certificate files stop the start here, naming their field (workers read them again).
  if (config.tls) loadRouterTls(config.tls);
  const scheduler = deps.scheduler ?? realScheduler;
  // Loaded on demand: a test that brings its own source does not load the etcd client.
  const { source, store, close: closeSource } = deps.source
    ? { source: deps.source, store: deps.store, close: async () => undefined }
    : (await import('./source')).createViewSource(config, {
        logger: logger.child({ component: 'router-etcd' }),
        scheduler,
        ...(deps.store ? { store: deps.store } : {}),
      });
  let current = config;
  let router: Router | WorkerPool | undefined;
  let metrics: RouterMetrics | undefined;
  let drain: DrainHandle | undefined;
  const leaderChanges = new LeaderChanges();
  // Registration is not reloadable: the drain follows the configuration the router started with.
  const drainAware = Boolean(store) && registers(config);
  const topology = new Topology({
    source,
    config: { ...current, drainAware },
    scheduler,
    logger: logger.child({ component: 'router-topology' }),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onTable: (table, prev) => {
      leaderChanges.record(table, prev, scheduler.wallNow());
      router?.onTable(table, prev);
      drain?.drain.evaluate();
    },
    onCheck: (member, ok, ms) => metrics?.healthCheck(member, ok, ms),
  });
  const ageSeconds = (at: number | undefined): number | undefined => (at === undefined ? undefined : (scheduler.now() - at) / 1000);
  metrics = new RouterMetrics(() => {
    const t = topology.table();
    return {
      generation: t.generation,
      writable: writable(t),
      ...(t.leader ? { leader: t.leader.member } : {}),
      watchState: topology.watchState(),
      ...(ageSeconds(topology.lastEventAtMs()) !== undefined ? { lastEventAgeSeconds: ageSeconds(topology.lastEventAtMs()) } : {}),
      ...(ageSeconds(topology.lastContactMs()) !== undefined ? { lastContactAgeSeconds: ageSeconds(topology.lastContactMs()) } : {}),
      members: t.members.map((m) => ({
        member: m.member,
        up: m.up,
        ...(m.lagBytes !== undefined ? { lagBytes: m.lagBytes } : {}),
        ...(m.lagSeconds !== undefined ? { lagSeconds: m.lagSeconds } : {}),
        pools: m.pools,
      })),
      pools: Object.values(t.pools).map((p) => ({ listener: p.listener, backends: p.backends.length, fallback: p.fallback })),
      held: router?.heldCounts() ?? {},
      switchoverHolding: t.switchover?.holding === true,
    };
  });
  const pool =
    config.workers > 1
      ? new WorkerPool(current, {
          logger: logger.child({ component: 'router-workers' }),
          scheduler,
          table: () => topology.table(),
          checkNow: (member) => topology.health.checkNow(member),
          recompute: () => topology.recompute(),
        })
      : undefined;
  // The pooled listeners' users: the test's secrets, else the `auth:` section (read before anything listens).
  const configuredAuth = deps.poolAuth ? undefined : await PoolAuth.start(config, { scheduler, logger: logger.child({ component: 'router-auth' }), leader: () => topology.table().leader });
  const poolAuth = deps.poolAuth
    ? { secrets: deps.poolAuth.secrets, ...(deps.poolAuth.type ? { authType: deps.poolAuth.type } : {}) }
    : { secrets: configuredAuth!, get authType() { return configuredAuth!.type; } };
  router = pool ?? new Router(current, { topology, metrics, logger: logger.child({ component: 'router-proxy' }), scheduler }, poolAuth);
  const workers = (): WorkerStatus[] | undefined => pool?.workers();
  // Pooled listeners pause through their PoolControl, on every worker with workers: N (worker-pauses.ts);
  // passthrough ones have nothing to pause (drainable.ts).
  const pauses = new Pauses(pool ? pool.pauses : (router as Router).pool.pools);
  drain = store && drainAware
    ? startDrain(config, { store, view: () => source.view(), leader: () => topology.table().leader?.member, pauses, scheduler, logger: logger.child({ component: 'router-drain' }) })
    : undefined;
  source.onChange(() => drain?.drain.evaluate());

  const status = (): unknown => {
    const t = topology.table();
    const byBackend = router!.connectionsByBackend();
    return {
      scope: current.scope,
      namespace: current.namespace,
      generation: t.generation,
      writable: writable(t),
      leader: t.leader ?? null,
      leaderKey: t.leaderKey ?? null,
      writeReason: t.writeReason,
      switchover: t.switchover
        ? {
            from: t.switchover.leader,
            to: t.switchover.candidate ?? null,
            holdingWrites: t.switchover.holding,
            pendingSeconds: (scheduler.now() - t.switchover.sinceMs) / 1000,
            holdLimitSeconds: current.switchoverHoldMs / 1000,
          }
        : null,
      ttlSeconds: t.ttlMs / 1000,
      etcd: {
        watchState: topology.watchState(),
        lastContactAgeSeconds: ageSeconds(topology.lastContactMs()) ?? null,
        lastEventAgeSeconds: ageSeconds(topology.lastEventAtMs()) ?? null,
      },
      listeners: Object.fromEntries(
        current.listeners.map((l) => {
          const pool = t.pools[l.name];
          const counts = router!.sessionCounts()[l.name];
          return [
            l.name,
            {
              role: l.role,
              port: router!.ports()[l.name] ?? null,
              maxLagBytes: l.maxLagBytes ?? null,
              maxLagSeconds: l.maxLagSeconds ?? null,
              limits: { maxConnections: l.maxConnections, maxHeld: l.maxHeld, maxConnectionsPerClient: l.maxConnectionsPerClient },
              backends: pool?.backends ?? [],
              fallbackToLeader: pool?.fallback ?? false,
              reason: pool?.reason ?? '',
              proxyProtocol: l.proxyProtocol ?? [],
              connections: counts ? { ...counts, byBackend: byBackend[l.name] ?? {}, byClient: router!.clientsByListener(100)[l.name] ?? {} } : null,
            },
          ];
        }),
      ),
      members: t.members,
      // Server pools and clients of the pooled listeners (PgBouncer's SHOW POOLS and SHOW CLIENTS figures).
      pools: router instanceof Router ? router.pool.pools.stats() : pool!.poolStats(),
      clients: router instanceof Router ? router.pool.clientStats() : pool!.clientStats(),
      paused: pauses.list(),
      switchoverDrain: drain ? { router: drain.registry.id, ...drain.drain.status() } : null,
      ...(pool ? { workers: workers() } : {}),
      leaderChanges: leaderChanges.list().map((c) => ({
        at: new Date(c.atMs).toISOString(),
        from: c.from ?? null,
        to: c.to ?? null,
        cause: c.cause,
        ...(c.leaderlessMs !== undefined ? { leaderlessSeconds: c.leaderlessMs / 1000 } : {}),
        generation: c.generation,
      })),
    };
  };

  let statusServer: Awaited<ReturnType<typeof startStatusServer>> | undefined;
  const ports: Record<string, number> = {};
  const refreshPorts = (): void => {
    for (const k of Object.keys(ports)) delete ports[k];
    Object.assign(ports, router!.ports());
    if (statusServer) ports.metrics = statusServer.port;
  };
  const startStatus = async (addr: { host: string; port: number }): Promise<void> => {
    statusServer = await startStatusServer(
      addr.host,
      addr.port,
      {
        metrics: () => (pool ? pool.metricsText(metrics!) : metrics!.text()),
        status,
        page: () => statusPage('router'),
        control: (action, member) => {
          if (action === 'pause') pauses.pause(member, 'operator');
          else pauses.resume(member, 'operator');
          logger.info({ action, member: member ?? '*' }, 'operator pause control');
          return { paused: pauses.list() };
        },
        health: () => {
          const t = topology.table();
          const readable = Object.fromEntries(Object.values(t.pools).map((p) => [p.listener, p.backends.length > 0]));
          return { ok: true, body: { state: 'running', writable: writable(t), pools: readable, generation: t.generation } };
        },
      },
      logger,
    );
  };

  try {
    await router.listen();
    if (config.metrics) await startStatus(config.metrics);
  } catch (err) {
    // The start failure is what the caller needs; a failed stop of the half-started router is only logged.
    await router.stop().catch((stopErr: unknown) => logger.warn({ err: stopErr }, 'router stop after a failed start failed'));
    await drain?.stop();
    if (statusServer) await closeServer(statusServer.server);
    await closeSource();
    throw err;
  }
  refreshPorts();
  // Topology: etcd may be down at start; the listeners are up and hold/refuse until a view arrives.
  topology.start().catch((err: unknown) => logger.error({ err }, 'router topology failed to start'));

  let stopped = false;
  return {
    ports,
    table: () => topology.table(),
    status,
    async reload(next: RouterConfig) {
      for (const [field, a, b] of [
        ['scope', current.scope, next.scope],
        ['namespace', current.namespace, next.namespace],
        ['etcd.hosts', current.etcd.hosts.join(','), next.etcd.hosts.join(',')],
      ] as const) {
        if (a !== b) throw new ConfigError(field, `changed from ${a} to ${b}: a reload cannot move the router to another cluster`, 'restart the router to apply it');
      }
      healthTls(next.health); // unreadable certificate files refuse the reload before anything changes
      await configuredAuth?.reload(next); // so does an unreadable userlist
      if (next.tls) loadRouterTls(next.tls);

      current = next;
      await router!.reconfigure(next);
      topology.reconfigure({ ...next, drainAware });
      const m = next.metrics;
      const old = config.metrics;
      if (statusServer && (!m || m.host !== old?.host || (m.port !== old.port && m.port !== 0))) {
        await closeServer(statusServer.server);
        statusServer = undefined;
      }
      if (m && !statusServer) await startStatus(m);
      config = next;
      refreshPorts();
      logger.info({ ports }, 'router configuration reloaded');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await drain?.stop();
      await router!.stop();
      await topology.stop();
      if (statusServer) await closeServer(statusServer.server);
      await closeSource();
    },
  };
}
