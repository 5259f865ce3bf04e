/**
 * What the rest of the router (the drain handshake, operator PAUSE/RESUME, /status and /metrics) may ask of the
 * server pools of the pooled listeners (pool_mode session or transaction). The pools implement it; the drain lane
 * and the admin views program against it only, so neither needs to know how a pool keeps its connections.
 */

/** A pool's key: one pool per (user, database, backend member). */
export interface PoolKey {
  user: string;
  database: string;
  member: string;
}

/**
 * PgBouncer's `SHOW POOLS` figures for one pool (same names and meanings), for /status and the
 * `pgha_router_pool_*` gauges.
 */
export interface PoolStats extends PoolKey {
  /** The listener whose clients use the pool. */
  listener: string;
  /** Clients linked to a server connection (running a transaction, or a session in session mode). */
  cl_active: number;
  /** Clients waiting in the pool's queue for a server connection. */
  cl_waiting: number;
  /** Server connections linked to a client. */
  sv_active: number;
  /** Server connections idle and ready for a client. */
  sv_idle: number;
  /** Server connections idle and used before (PgBouncer: waiting for server_check_query; here: reset done). */
  sv_used: number;
  /** PgBouncer's sv_tested (server_check_query running): the router runs no check query, so always 0. */
  sv_tested: number;
  /** Server connections being opened (TCP connect and login). */
  sv_login: number;
  /** Seconds the oldest waiting client has waited (0 when none waits). */
  maxwait: number;
  /** True while the pool hands out no server connection (PoolControl.pause). */
  paused: boolean;
  /** Named statements prepared on its server connections (transaction mode: shared by clients; txn-pipe.ts). */
  prepared?: number;
}

export interface PoolControl {
  /** Stop handing out server connections for member (undefined = every member): new transactions wait. */
  pause(member?: string): void;
  resume(member?: string): void;
  /** Transactions (busy server connections) in flight on member (undefined = all). */
  busy(member?: string): number;
  /** Resolves when busy(member) reaches 0 (or at once). */
  idle(member?: string): Promise<void>;
  /** PgBouncer SHOW POOLS figures per pool key, for /status and metrics. */
  stats(): PoolStats[];
}
