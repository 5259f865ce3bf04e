/**
 * The router's SHOW POOLS under `workers: N`: every worker runs its own pools, so the router's table is the sum of
 * the workers' rows with the same (listener, user, database, member). Pure.
 */
import type { PoolStats } from '../pool/pool-control';

const SUMMED = ['cl_active', 'cl_waiting', 'sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'] as const;

export function mergePoolStats(tables: readonly (readonly PoolStats[])[]): PoolStats[] {
  const rows = new Map<string, PoolStats>();
  for (const t of tables) {
    for (const p of t) {
      const k = `${p.listener}\0${p.user}\0${p.database}\0${p.member}`;
      const r = rows.get(k);
      if (!r) {
        rows.set(k, { ...p });
        continue;
      }
      for (const f of SUMMED) r[f] += p[f];
      // The oldest wait of any worker; paused only while every worker's pool is (a worker started since the
      // pause replays it at once: control-plane.ts).
      r.maxwait = Math.max(r.maxwait, p.maxwait);
      r.paused = r.paused && p.paused;
      if (p.prepared !== undefined || r.prepared !== undefined) r.prepared = (r.prepared ?? 0) + (p.prepared ?? 0);
    }
  }
  return [...rows.values()];
}
