/**
 * Replays simulated runs.
 *   node dist/test/support/sim/run.js --seed 1234 --verbose      one seed, its full trace
 *   node dist/test/support/sim/run.js --from 0 --count 200       a range of seeds, failures listed
 * Options: --bug no-margin|no-fence-timer|skip-fence-renewal|stale-rewind, --sync off|on|strict, --nodes N, --strict-freeze,
 * --no-fence (watchdog.mode off: no fence process), --faults crash,agent-kill,stall,… (default: all kinds).
 */
import type { FaultKind } from './faults';
import type { ShellBug } from './shell';
import { reproCommand, runSeed, sweep } from './sweep';
import type { SimOptions } from './world';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const base: Omit<SimOptions, 'seed'> = {
    ...(arg('bug') ? { bug: arg('bug') as ShellBug } : {}),
    ...(arg('sync') ? { sync: arg('sync') as 'off' | 'on' | 'strict' } : {}),
    ...(arg('nodes') ? { nodes: Number(arg('nodes')) } : {}),
    ...(process.argv.includes('--strict-freeze') ? { strictFreeze: true } : {}),
    ...(process.argv.includes('--no-fence') ? { fence: false } : {}),
    ...(arg('faults') ? { faults: arg('faults')!.split(',') as FaultKind[] } : {}),
  };
  const seed = arg('seed');
  if (seed !== undefined) {
    const verbose = process.argv.includes('--verbose');
    const r = await runSeed({ ...base, seed: Number(seed), verbose });
    if (verbose) console.log(r.trace.join('\n'));
    console.log(JSON.stringify(r.figures));
    for (const v of r.violations) console.log(`VIOLATION ${v.kind} at ${(v.atMs / 1000).toFixed(3)} s: ${v.message}`);
    process.exitCode = r.violations.length ? 1 : 0;
    return;
  }
  const from = Number(arg('from') ?? 0);
  const count = Number(arg('count') ?? 100);
  const s = await sweep(from, count, base);
  for (const f of s.failures) console.log(`seed ${f.seed}: ${f.violations.map((v) => `${v.kind}: ${v.message}`).join('; ')}\n  ${reproCommand({ ...base, seed: f.seed })}`);
  console.log(`${s.seeds} seeds in ${(s.elapsedMs / 1000).toFixed(1)} s, ${s.failures.length} failing`);
  process.exitCode = s.failures.length ? 1 : 0;
}

void main();
