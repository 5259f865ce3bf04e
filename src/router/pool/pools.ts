/**
 * Every server pool of this router process, keyed (listener, user, database, member), and what the rest of the
 * router asks of them (PoolControl: pause/resume for the drain handshake, busy/idle, SHOW POOLS figures). Also
 * where a pooled client finds a backend (the listener's routing-table pool, as passthrough picks one) and waits for
 * one while none qualifies (a HoldQueue per listener, up to hold_timeout), and the fencing on a new table: the
 * pools of a member that left the listener's pool (for a write listener: that is no longer the confirmed leader)
 * are retired, their idle connections closed and their busy ones cut, so no transaction starts or goes on there.
 */
import type { RoomContext } from '../context';
import { HoldQueue, type HoldTicket } from '../hold';
import type { ListenerRuntime } from '../listeners';
import { sameBackend } from '../routing';
import type { Backend, RoutingTable } from '../types';
import type { AuthSource } from '../auth/auth-source';
import type { PoolControl, PoolStats } from './pool-control';
import { ServerConnection, type OpenOptions } from './server-conn';
import { ServerPool } from './server-pool';
import { preparedOn } from './server-sides';

/** A client waiting for a backend to qualify (pooled-session.ts implements it). */
export interface BackendWaiter {
  readonly rt: ListenerRuntime;
  /** A table changed: try again; false keeps it waiting. */
  retry(): boolean;
  /** hold_timeout passed. */
  expired(waitedMs: number): void;
}

interface Entry {
  listener: string;
  user: string;
  database: string;
  member: string;
  backend: Backend;
  pool: ServerPool<ServerConnection>;
}

export class Pools implements PoolControl {
  private readonly pools = new Map<string, Entry>();
  /** The first server connection's ParameterStatus set, per (listener, user, database): the clients' greeting. */
  private readonly params = new Map<string, ReadonlyMap<string, string>>();
  private readonly holds = new Map<string, HoldQueue<BackendWaiter>>();
  private readonly paused = new Set<string>();
  private pausedAll = false;
  private idleWaiters: { member?: string; resolve(): void }[] = [];
  /** The ClientKey a client's SCRAM proof revealed, per user: lets a SCRAM secret log in to PostgreSQL (as PgBouncer). */
  private readonly clientKeys = new Map<string, Buffer>();

  constructor(
    private readonly ctx: RoomContext,
    /** The secrets of the users the router logs in as (auth/auth-source.ts: the userlist, then auth_query). */
    private readonly secrets: AuthSource,
    /** Opens (connects and logs in) a server connection; tests pass a fake. */
    private readonly open: (o: OpenOptions) => Promise<ServerConnection> = (o) => ServerConnection.open(o),
  ) {}

  /** The routing table, recomputed when its write bound has passed (writes fail closed at once, as router.ts does). */
  table(): RoutingTable {
    const { topology, scheduler } = this.ctx.deps;
    let table = topology.table();
    if (table.leader && scheduler.now() >= table.writeValidUntilMs) {
      topology.recompute();
      table = topology.table();
    }
    return table;
  }

  /** A backend of the listener's pool now (not one of `excluded`), or undefined. */
  pick(rt: ListenerRuntime, excluded?: ReadonlySet<string>): Backend | undefined {
    const pool = this.table().pools[rt.config.name];
    const candidates = pool ? (excluded?.size ? pool.backends.filter((b) => !excluded.has(b.member)) : pool.backends) : [];
    return rt.balancer.pick(rt.config.balance, candidates, (m) => this.ctx.load.get(m));
  }

  /** The members of the listener's pool now (server-end.ts decides whether one is left to try). */
  members(rt: ListenerRuntime): string[] {
    return (this.table().pools[rt.config.name]?.backends ?? []).map((b) => b.member);
  }

  /** Waits for a backend until `timeoutMs`; re-offered on every new table. */
  hold(w: BackendWaiter, timeoutMs: number): HoldTicket {
    const name = w.rt.config.name;
    let q = this.holds.get(name);
    if (!q) {
      q = new HoldQueue<BackendWaiter>(this.ctx.deps.scheduler, (item, waited) => item.expired(waited));
      this.holds.set(name, q);
    }
    return q.add(w, timeoutMs);
  }

  /** Clients waiting for a backend to qualify, every listener (the admin view's held clients). */
  *held(): IterableIterator<BackendWaiter> {
    for (const q of this.holds.values()) yield* q.live();
  }

  rememberClientKey(user: string, key: Buffer): void {
    this.clientKeys.set(user, key);
  }

  paramsFor(listener: string, user: string, database: string): ReadonlyMap<string, string> | undefined {
    return this.params.get(`${listener}\0${user}\0${database}`);
  }

  /** The pool for (listener, user, database, backend), created on first use. */
  pool(rt: ListenerRuntime, user: string, database: string, backend: Backend): ServerPool<ServerConnection> {
    const listener = rt.config.name;
    const key = `${listener}\0${user}\0${database}\0${backend.member}\0${backend.host}:${backend.port}`;
    const found = this.pools.get(key);
    if (found && !found.pool.retired) return found.pool;
    const config = this.ctx.config();
    const pool: ServerPool<ServerConnection> = new ServerPool<ServerConnection>(
      this.ctx.deps.scheduler,
      () => this.ctx.config().pool,
      async () => {
        const conn = await this.open({
          backend,
          user,
          database,
          // auth_query runs on the server this pool logs in to, in the client's database (the server that will
          // check the secret), not on the leader: a read listener's pool may have no leader to ask.
          secret: await this.secrets.lookup(user, { host: backend.host, port: backend.port, database }),
          ...(this.clientKeys.has(user) ? { clientKey: this.clientKeys.get(user)! } : {}),
          scheduler: this.ctx.deps.scheduler,
          timeoutMs: config.connectTimeoutMs,
          keepaliveMs: config.tcpKeepaliveMs,
        });
        conn.onIdleLoss = (c, err) => {
          // An idle server connection ended (server restarted, idle_session_timeout, an administrator): the pool
          // forgets it; worth a debug line only.
          this.ctx.log.debug({ listener, backend: backend.member, user, database, err }, 'idle server connection closed');
          pool.lost(c);
        };
        const pk = `${listener}\0${user}\0${database}`;
        if (!this.params.has(pk)) this.params.set(pk, new Map(conn.params));
        return conn;
      },
      {
        openFailed: (err) => this.ctx.log.warn({ listener, backend: backend.member, user, database, err }, 'pool could not open a server connection'),
        changed: () => this.checkIdle(),
        foundDead: () => this.ctx.log.info({ listener, backend: backend.member, user, database }, 'idle server connection found ended at hand-out: dropped, the client takes another'),
      },
    );
    pool.paused = this.pausedAll || this.paused.has(backend.member);
    this.pools.set(key, { listener, user, database, member: backend.member, backend, pool });
    return pool;
  }

  /**
   * Fencing and held clients on a new table: pools whose member is no longer where their listener may send are
   * retired (idle connections closed, busy ones cut: their sessions see a server loss); waiting clients retry.
   */
  onTable(table: RoutingTable, listeners: ReadonlyMap<string, ListenerRuntime>): void {
    for (const [key, e] of this.pools) {
      const rt = listeners.get(e.listener);
      // A write listener's pools live while their member is the confirmed leader (its listener pool may be empty
      // for a while: a switchover holding new writes; transactions in flight go on, as passthrough sessions do).
      const allowed = rt !== undefined && (rt.config.role === 'primary' ? sameBackend(table.leader, e.backend) : (table.pools[e.listener]?.backends ?? []).some((b) => b.member === e.member));
      if (!allowed && !e.pool.retired) {
        const busy = e.pool.busyConnections();
        e.pool.retire();
        for (const c of busy) c.cut();
        this.ctx.log.info({ listener: e.listener, backend: e.member, cut: busy.length }, 'pool retired: its member left the listener pool');
      }
      if (e.pool.retired && e.pool.empty) this.pools.delete(key);
    }
    for (const q of this.holds.values()) if (q.size > 0) q.drain((w) => w.retry(), false);
  }

  /** Router stopping: waiting clients expire, every server connection closes. */
  closeAll(): void {
    for (const q of this.holds.values()) q.expireAll();
    for (const e of this.pools.values()) e.pool.closeAll();
    this.pools.clear();
  }

  // ------------------------------------------------------------------------------------------- PoolControl

  pause(member?: string): void {
    if (member === undefined) this.pausedAll = true;
    else this.paused.add(member);
    for (const e of this.pools.values()) if (member === undefined || e.member === member) e.pool.paused = true;
  }

  resume(member?: string): void {
    if (member === undefined) {
      this.pausedAll = false;
      this.paused.clear();
    } else {
      this.paused.delete(member);
    }
    for (const e of this.pools.values()) {
      const paused = this.pausedAll || this.paused.has(e.member);
      if (e.pool.paused && !paused) {
        e.pool.paused = false;
        e.pool.dispatch();
      }
    }
  }

  busy(member?: string): number {
    let n = 0;
    for (const e of this.pools.values()) if (member === undefined || e.member === member) n += e.pool.busy;
    return n;
  }

  idle(member?: string): Promise<void> {
    if (this.busy(member) === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push({ ...(member !== undefined ? { member } : {}), resolve }));
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const still: typeof this.idleWaiters = [];
    for (const w of this.idleWaiters) {
      if (this.busy(w.member) === 0) w.resolve();
      else still.push(w);
    }
    this.idleWaiters = still;
  }

  stats(): PoolStats[] {
    return [...this.pools.values()].map((e) => ({
      listener: e.listener,
      user: e.user,
      database: e.database,
      member: e.member,
      cl_active: e.pool.busy,
      cl_waiting: e.pool.waiting,
      sv_active: e.pool.busy,
      sv_idle: e.pool.idle,
      // PgBouncer's sv_used: idle connections waiting for server_check_query. The router runs no check query.
      sv_used: 0,
      sv_tested: 0,
      sv_login: e.pool.openingCount,
      maxwait: e.pool.maxWaitMs() / 1000,
      paused: e.pool.paused,
      prepared: preparedOn(e.pool.connections()),
    }));
  }
}
