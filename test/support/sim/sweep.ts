/** Runs many seeds and sums the figures: shared by the CI test, the benchmark and the CLI. */
import { World, type SimOptions, type SimResult } from './world';

export interface SweepSummary {
  seeds: number;
  elapsedMs: number;
  failures: SimResult[];
  simHours: number;
  events: number;
  promotions: number;
  writes: number;
  acked: number;
  lostAckedAsync: number;
  unfencedOverlapMs: number;
  fenceStops: number;
  healMs: number[];
  unhealed: number;
}

export function runSeed(opts: SimOptions): Promise<SimResult> {
  return new World(opts).run();
}

/** The one command that replays a seed with its trace. */
export function reproCommand(opts: SimOptions): string {
  const extra = [opts.bug ? `--bug ${opts.bug}` : '', opts.sync ? `--sync ${opts.sync}` : '', opts.strictFreeze ? '--strict-freeze' : '', opts.fence === false ? '--no-fence' : '', opts.nodes ? `--nodes ${opts.nodes}` : '',
    opts.faults ? `--faults ${opts.faults.join(',')}` : '']
    .filter(Boolean).join(' ');
  return `node dist/test/support/sim/run.js --seed ${opts.seed}${extra ? ` ${extra}` : ''} --verbose`;
}

export async function sweep(first: number, count: number, base: Omit<SimOptions, 'seed'> = {}, opts: { stopAfterFailures?: number; stopWhen?: (r: SimResult) => boolean } = {}): Promise<SweepSummary> {
  const started = performance.now();
  const s: SweepSummary = {
    seeds: 0, elapsedMs: 0, failures: [], simHours: 0, events: 0, promotions: 0, writes: 0, acked: 0,
    lostAckedAsync: 0, unfencedOverlapMs: 0, fenceStops: 0, healMs: [], unhealed: 0,
  };
  for (let seed = first; seed < first + count; seed++) {
    const r = await runSeed({ ...base, seed });
    s.seeds++;
    const f = r.figures;
    s.simHours += f.simMs / 3_600_000;
    s.events += f.events;
    s.promotions += f.promotions;
    s.writes += f.writes;
    s.acked += f.acked;
    s.lostAckedAsync += f.lostAckedAsync;
    s.unfencedOverlapMs += f.unfencedOverlapMs;
    s.fenceStops += f.fenceStops;
    if (f.healMs === undefined) s.unhealed++;
    else s.healMs.push(f.healMs);
    if (r.violations.length) {
      s.failures.push(r);
      if (opts.stopAfterFailures && s.failures.length >= opts.stopAfterFailures) break;
      if (opts.stopWhen?.(r)) break;
    }
  }
  s.elapsedMs = performance.now() - started;
  return s;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
