/**
 * Picking one backend from a pool: least connections (default; weighted: fewest active connections per unit of
 * weight, ties rotated so equal backends share new connections), or smooth weighted round robin (nginx's
 * algorithm: even spread, no bursts to one backend).
 */
import type { Backend, BalanceMode } from './types';

export class Balancer {
  private rotate = 0;
  private current = new Map<string, number>();

  pick(mode: BalanceMode, backends: readonly Backend[], active: (member: string) => number): Backend | undefined {
    if (backends.length === 0) return undefined;
    if (backends.length === 1) return backends[0];
    return mode === 'round-robin' ? this.roundRobin(backends) : this.leastConnections(backends, active);
  }

  private leastConnections(backends: readonly Backend[], active: (member: string) => number): Backend {
    const n = backends.length;
    const start = this.rotate++ % n;
    let best: Backend | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const b = backends[(start + i) % n]!;
      const score = (active(b.member) + 1) / b.weight;
      if (score < bestScore) {
        best = b;
        bestScore = score;
      }
    }
    return best!;
  }

  private roundRobin(backends: readonly Backend[]): Backend {
    let total = 0;
    let best: Backend | undefined;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (const b of backends) {
      const v = (this.current.get(b.member) ?? 0) + b.weight;
      this.current.set(b.member, v);
      total += b.weight;
      if (v > bestValue) {
        best = b;
        bestValue = v;
      }
    }
    this.current.set(best!.member, bestValue - total);
    if (this.current.size > backends.length * 4) {
      const keep = new Set(backends.map((b) => b.member));
      for (const k of this.current.keys()) if (!keep.has(k)) this.current.delete(k);
    }
    return best!;
  }
}
