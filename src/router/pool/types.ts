/**
 * The pooled listeners' configuration vocabulary (types only, so types.ts and the pure code may import it).
 * See docs/router.md "Pool modes".
 */

/** passthrough: today's router (bytes spliced, authentication end to end); session / transaction: pooled. */
export type PoolMode = 'passthrough' | 'session' | 'transaction';

/** The top-level `pool:` section: one set of limits for every pool (a pool per user, database and member). */
export interface PoolConfig {
  /** Server connections per pool at most. */
  size: number;
  /** Idle server connections each pool keeps open (opened again when fewer). */
  minIdle: number;
  /** An idle server connection is closed after this long unused (0 = never). */
  idleTimeoutMs: number;
  /** A server connection is closed once this old, when idle (0 = never). */
  lifetimeMs: number;
  /** How long a client waits in a full pool's queue before it gets an ErrorResponse. */
  queueTimeoutMs: number;
  /** Run on a server connection before it goes back to the pool in session mode (empty = none). */
  resetQuery: string;
}
