/**
 * Pure pieces of the worker side of the routing table (no I/O): moving a table between processes' clocks, and
 * the table a worker must act on when its write bound passes before a fresher one arrives.
 */
import type { PoolTable, RoutingTable } from '../types';

/**
 * Shifts every monotonic time in a table by `deltaMs`. Each process's scheduler counts from its own origin
 * (performance.now()); on the way between processes the times travel on the host's CLOCK_MONOTONIC, which every
 * process shares: the sender adds (host − local), the receiver adds (local − host). No time is re-based on
 * arrival, so a table never lives longer in a worker than its write bound allows.
 */
export function shiftTable(t: RoutingTable, deltaMs: number): RoutingTable {
  return {
    ...t,
    computedAtMs: t.computedAtMs + deltaMs,
    writeValidUntilMs: t.writeValidUntilMs + deltaMs,
    ...(t.nextChangeAtMs !== undefined ? { nextChangeAtMs: t.nextChangeAtMs + deltaMs } : {}),
    ...(t.switchover ? { switchover: { ...t.switchover, sinceMs: t.switchover.sinceMs + deltaMs } } : {}),
  };
}

/**
 * The table once its write bound has passed without a fresher one: no confirmed leader, so no pool routes to it
 * (as deriveRoutingTable does when the lease bound passes). What the control plane would compute, derived
 * locally: a worker whose control plane stalled or died still fails closed on time.
 */
export function expireWrites(t: RoutingTable, nowMs: number): RoutingTable {
  const leader = t.leader;
  if (!leader || nowMs < t.writeValidUntilMs) return t;
  const reason = `write bound passed ${Math.round(nowMs - t.writeValidUntilMs)} ms ago with no fresher routing table from the control plane: writes stopped`;
  const pools: Record<string, PoolTable> = {};
  for (const [name, p] of Object.entries(t.pools)) {
    const backends = p.backends.filter((b) => b.member !== leader.member);
    pools[name] = backends.length === p.backends.length ? p : { ...p, backends, fallback: false, reason: p.role === 'primary' ? reason : p.reason };
  }
  const { leader: _gone, switchover: _sw, ...rest } = t;
  return { ...rest, writeReason: reason, pools, computedAtMs: nowMs };
}
