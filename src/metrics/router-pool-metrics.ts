/**
 * The router's server-pool metrics (pooled listeners: pool_mode session or transaction): PgBouncer's SHOW POOLS
 * figures as gauges filled at scrape time from the pools' stats, and the counters of what pooled clients met.
 * Part of RouterMetrics' registry (router-metrics.ts owns one of these).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PoolStats } from '../router/pool/pool-control';
import type { ClientStats } from '../router/pool/client-stats';

const POOL_LABELS = ['listener', 'user', 'database', 'backend'] as const;

export class PoolMetrics {
  private source: () => readonly PoolStats[] = () => [];
  private clientSource: () => readonly ClientStats[] = () => [];
  private readonly queueTimeouts: Counter<'listener'>;
  private readonly serverLost: Counter<'listener'>;

  constructor(registry: Registry) {
    const r = [registry];
    const stats = (): readonly PoolStats[] => this.source();
    const clients = (): readonly ClientStats[] => this.clientSource();
    const labels = (p: PoolStats) => ({ listener: p.listener, user: p.user, database: p.database, backend: p.member });
    new Gauge({
      name: 'pgha_router_pool_clients',
      help: 'Pooled clients per server pool: active (linked to a server connection), waiting (queued for one); PgBouncer cl_active, cl_waiting.',
      labelNames: [...POOL_LABELS, 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const p of stats()) {
          this.set({ ...labels(p), state: 'active' }, p.cl_active);
          this.set({ ...labels(p), state: 'waiting' }, p.cl_waiting);
        }
      },
    });
    new Gauge({
      name: 'pgha_router_pool_server_connections',
      help: 'Server connections per pool by state: active (linked to a client), idle, used, login (opening); PgBouncer sv_*.',
      labelNames: [...POOL_LABELS, 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const p of stats()) {
          this.set({ ...labels(p), state: 'active' }, p.sv_active);
          this.set({ ...labels(p), state: 'idle' }, p.sv_idle);
          this.set({ ...labels(p), state: 'used' }, p.sv_used);
          this.set({ ...labels(p), state: 'login' }, p.sv_login);
        }
      },
    });
    new Gauge({
      name: 'pgha_router_pool_maxwait_seconds',
      help: 'How long the oldest client waiting for a server connection of the pool has waited (PgBouncer maxwait).',
      labelNames: [...POOL_LABELS],
      registers: r,
      // Workers: the oldest wait of any worker, not their sum.
      aggregator: 'max',
      collect() {
        this.reset();
        for (const p of stats()) this.set(labels(p), p.maxwait);
      },
    });
    new Gauge({
      name: 'pgha_router_pool_paused',
      help: '1 while the pool hands out no server connection (drain or operator pause).',
      labelNames: [...POOL_LABELS],
      registers: r,
      // Workers: 1 only while every worker's pool is paused.
      aggregator: 'min',
      collect() {
        this.reset();
        for (const p of stats()) this.set(labels(p), p.paused ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pgha_router_pool_prepared_statements',
      help: 'Named prepared statements on the server connections of the pool (transaction mode tracks them per client and prepares them where they run).',
      labelNames: [...POOL_LABELS],
      registers: r,
      collect() {
        this.reset();
        for (const p of stats()) this.set(labels(p), p.prepared ?? 0);
      },
    });
    new Gauge({
      name: 'pgha_router_pool_client_connections',
      help: 'Logged-in pooled clients per listener, user and database by state: active (linked to a server connection), idle (between transactions), waiting (queued for a server connection), held (waiting for a backend); PgBouncer SHOW CLIENTS.',
      labelNames: ['listener', 'user', 'database', 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const c of clients()) {
          for (const state of ['active', 'idle', 'waiting', 'held'] as const) this.set({ listener: c.listener, user: c.user, database: c.database, state }, c[state]);
        }
      },
    });
    this.queueTimeouts = new Counter({ name: 'pgha_router_pool_queue_timeouts_total', help: 'Pooled clients answered 08P01 query_wait_timeout: no server connection became free within pool.queue_timeout.', labelNames: ['listener'], registers: r });
    this.serverLost = new Counter({ name: 'pgha_router_pool_server_lost_total', help: 'Server connections lost under a pooled client (closed, failed, or cut by fencing); the client connection stayed open.', labelNames: ['listener'], registers: r });
  }

  /** Where the gauges read the pools' and the clients' figures (the router's PoolRoom). */
  setSource(source: () => readonly PoolStats[], clients: () => readonly ClientStats[] = () => []): void {
    this.source = source;
    this.clientSource = clients;
  }

  queueTimeout(listener: string): void {
    this.queueTimeouts.inc({ listener });
  }

  lost(listener: string): void {
    this.serverLost.inc({ listener });
  }
}
