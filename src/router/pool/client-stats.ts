/**
 * PgBouncer's SHOW CLIENTS, summed per (listener, user, database): how many pooled clients are logged in and what
 * each is doing now. Pure: the owners of the live keys (client-keys.ts), the pools' figures (SHOW POOLS) and the
 * clients waiting for a backend go in, the table for /status, the status page and /metrics comes out.
 */
import type { PoolStats } from './pool-control';

/** One row per (listener, user, database). */
export interface ClientStats {
  listener: string;
  user: string;
  database: string;
  /** Logged-in client connections. */
  clients: number;
  /** Linked to a server connection (a transaction running; in session mode, the whole session). */
  active: number;
  /** Between transactions, holding no server connection (transaction mode). */
  idle: number;
  /** Queued for a server connection of a full or paused pool (PgBouncer cl_waiting). */
  waiting: number;
  /** Waiting for a backend to qualify (an election, a switchover: hold_timeout). */
  held: number;
}

/** What the table needs of a pooled client (PooledSession has these). */
export interface ClientOwner {
  readonly rt: { readonly config: { readonly name: string } };
  readonly user: string;
  readonly database: string;
}

const keyOf = (listener: string, user: string, database: string): string => `${listener}\0${user}\0${database}`;

export function clientStats(owners: Iterable<ClientOwner>, pools: readonly PoolStats[], held: ReadonlySet<unknown>): ClientStats[] {
  const rows = new Map<string, ClientStats>();
  const row = (listener: string, user: string, database: string): ClientStats => {
    const k = keyOf(listener, user, database);
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { listener, user, database, clients: 0, active: 0, idle: 0, waiting: 0, held: 0 }));
    return r;
  };
  for (const o of owners) {
    const r = row(o.rt.config.name, o.user, o.database);
    r.clients++;
    if (held.has(o)) r.held++;
  }
  // A pool's figures count the clients of one member; a client's transactions may run on several over time.
  for (const p of pools) {
    const r = rows.get(keyOf(p.listener, p.user, p.database));
    if (!r) continue; // a pool whose clients have all left
    r.active += p.cl_active;
    r.waiting += p.cl_waiting;
  }
  for (const r of rows.values()) r.idle = Math.max(0, r.clients - r.active - r.waiting - r.held);
  return [...rows.values()];
}

/** Sums rows with the same (listener, user, database): the workers' tables into the router's. */
export function mergeClientStats(tables: readonly (readonly ClientStats[])[]): ClientStats[] {
  const rows = new Map<string, ClientStats>();
  for (const t of tables) {
    for (const c of t) {
      const k = keyOf(c.listener, c.user, c.database);
      const r = rows.get(k);
      if (!r) rows.set(k, { ...c });
      else for (const f of ['clients', 'active', 'idle', 'waiting', 'held'] as const) r[f] += c[f];
    }
  }
  return [...rows.values()];
}
