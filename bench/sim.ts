/**
 * Simulation benchmark: runs 10,000 seeds (or PGHA_SIM_SEEDS) of the full fault mix against the real decide()
 * and prints figures. `npm run build && node dist/bench/sim.js [--count N] [--from S]`.
 */
import { percentile, reproCommand, sweep } from '../test/support/sim/sweep';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const from = Number(arg('from') ?? 0);
  const count = Number(arg('count') ?? process.env.PGHA_SIM_SEEDS ?? 10_000);
  const s = await sweep(from, count);
  const kinds = new Map<string, number>();
  for (const f of s.failures) for (const v of f.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
  const firstOf = new Map<string, number>();
  for (const f of s.failures) for (const v of f.violations) if (!firstOf.has(v.kind)) firstOf.set(v.kind, f.seed);
  console.log(`seeds                 ${s.seeds} (${from}..${from + s.seeds - 1})`);
  console.log(`wall time             ${(s.elapsedMs / 1000).toFixed(1)} s  (${(s.seeds / (s.elapsedMs / 1000)).toFixed(0)} seeds/s)`);
  console.log(`simulated time        ${s.simHours.toFixed(1)} h  (${(s.simHours * 3600 / (s.elapsedMs / 1000)).toFixed(0)}x real time)`);
  console.log(`events                ${s.events}  (${(s.events / (s.elapsedMs / 1000) / 1000).toFixed(0)}k/s)`);
  console.log(`promotions            ${s.promotions}`);
  console.log(`writes / acked        ${s.writes} / ${s.acked}`);
  console.log(`acked writes lost (async mode, allowed within maximum_lag_on_failover)  ${s.lostAckedAsync}`);
  console.log(`SIGSTOPped-agent double-writer time (fence off only)  ${(s.unfencedOverlapMs / 1000).toFixed(1)} s`);
  console.log(`postgres stopped by a fence process  ${s.fenceStops}`);
  console.log(`heal time after faults p50/p95/max  ${(percentile(s.healMs, 50) / 1000).toFixed(1)} / ${(percentile(s.healMs, 95) / 1000).toFixed(1)} / ${(percentile(s.healMs, 100) / 1000).toFixed(1)} s; never healed: ${s.unhealed}`);
  console.log(`failing seeds         ${s.failures.length}`);
  for (const [kind, n] of kinds) console.log(`  ${kind.padEnd(18)} ${n}  first: ${reproCommand({ seed: firstOf.get(kind)! })}`);
}

void main();
