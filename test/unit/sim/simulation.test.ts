/**
 * Simulation testing of the agent as it ships (issues 5 and 12): the REAL AgentRunner, LeaseKeeper, Executor and
 * decide() drive simulated postgres servers on a memory DCS, on a simulated clock, under seeded faults. Every failing
 * seed prints the one command that replays it with its trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reproCommand, runSeed, sweep, type SweepSummary } from '../../support/sim/sweep';
import type { SimOptions, SimResult } from '../../support/sim/world';

const twoWriters = (r: SimResult) => r.violations.some((v) => v.kind === 'two-writers');

// 1000 by default since the simulator runs the real shell (about half as fast as the hand-written model was), to keep
// this file within ~2 minutes on a busy CI host; bench/sim.js runs 10,000.
const SEEDS = Number(process.env.PGHA_SIM_SEEDS ?? 1000);

function report(s: SweepSummary, base: Omit<SimOptions, 'seed'>): string {
  const kinds = new Map<string, number>();
  for (const f of s.failures) for (const v of f.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
  const lines = s.failures.slice(0, 10).map((f) => `seed ${f.seed}: ${f.violations.map((v) => `${v.kind} at ${(v.atMs / 1000).toFixed(1)} s: ${v.message}`).join('; ')}\n  ${reproCommand({ ...base, seed: f.seed })}`);
  return `${s.seeds} seeds in ${(s.elapsedMs / 1000).toFixed(1)} s, ${s.failures.length} failing ${JSON.stringify(Object.fromEntries(kinds))}\n${lines.join('\n')}`;
}

test('a seed replays identically', async () => {
  const a = await runSeed({ seed: 42, verbose: true });
  const b = await runSeed({ seed: 42, verbose: true });
  assert.deepEqual(a.trace, b.trace);
  assert.deepEqual(a.figures, b.figures);
});

// Findings A–E (test/support/sim/FINDINGS.md) broke these invariants until they were fixed. The fault mix includes
// agents killed (kill -9, restarted later) and SIGSTOPped while their postgres keeps running: the fence process must
// stop such a primary before another one takes writes (faults.ts).
test(`${SEEDS} seeds, every fault kind: single writer, no lost acknowledged write, liveness`, async (t) => {
  const s = await sweep(0, SEEDS);
  t.diagnostic(report(s, {}));
  assert.equal(s.failures.length, 0, report(s, {}));
});

test('planted: without the fence process (watchdog.mode off), a leader whose agent is killed keeps taking direct writes after a replica promoted: caught within 20 seeds', async (t) => {
  const base: Omit<SimOptions, 'seed'> = { fence: false, sync: 'off', faults: ['agent-kill'] };
  const s = await sweep(0, 20, base, { stopWhen: twoWriters });
  const found = s.failures.find(twoWriters);
  assert.ok(found, `not found in ${s.seeds} seeds`);
  t.diagnostic(`fence off: two writers at seed ${found.seed}: ${reproCommand({ ...base, seed: found.seed })}`);
});

test('the fence process stops the postgres of a killed or SIGSTOPped agent: the same seeds are clean with it, and it fired', async () => {
  const base: Omit<SimOptions, 'seed'> = { sync: 'off', faults: ['agent-kill', 'freeze'] };
  const s = await sweep(0, 20, base);
  assert.equal(s.failures.length, 0, report(s, base));
  assert.ok(s.fenceStops > 0, 'no fence ever stopped a postgres');
});

// The next three plant defects in the agent's own fencing (the lease keeper's timer and margin), which is all that
// protects a primary when the fence process is off (watchdog.mode off): with it on, its grant would hide them.
test('planted: a leader that demotes only from its HA loop (no fence timer) is caught within 50 seeds', async () => {
  const base: Omit<SimOptions, 'seed'> = { bug: 'no-fence-timer', sync: 'off', faults: ['fence-race'], fence: false };
  const s = await sweep(0, 50, base, { stopWhen: twoWriters });
  const found = s.failures.find(twoWriters);
  assert.ok(found, `not found in ${s.seeds} seeds`);
});

test('planted: a lease keeper that skips moving its fence deadline after a keepalive is caught within 50 seeds', async () => {
  const base: Omit<SimOptions, 'seed'> = { bug: 'skip-fence-renewal', sync: 'off', faults: ['fence-race'], fence: false };
  const s = await sweep(0, 50, base, { stopWhen: twoWriters });
  const found = s.failures.find(twoWriters);
  assert.ok(found, `not found in ${s.seeds} seeds`);
});

test('planted: an executor that rewinds from the leader of an old view is caught within 50 seeds (a replica never heals)', async () => {
  const stuck = (r: SimResult) => r.violations.some((v) => v.kind === 'diverged-replica' || v.kind === 'liveness');
  const s = await sweep(0, 50, { bug: 'stale-rewind' }, { stopWhen: stuck });
  assert.ok(s.failures.find(stuck), `not found in ${s.seeds} seeds`);
});

test('planted: self-fencing without its margin is caught within 2000 seeds, and the same seeds are clean without it', async (t) => {
  const base: Omit<SimOptions, 'seed'> = { sync: 'off', faults: ['fence-race'], fence: false };
  const planted = await sweep(0, 2000, { ...base, bug: 'no-margin' }, { stopWhen: twoWriters });
  const found = planted.failures.find(twoWriters);
  assert.ok(found, `no-margin not found in ${planted.seeds} seeds`);
  t.diagnostic(`no-margin found at seed ${found.seed} after ${planted.seeds} seeds (${(planted.elapsedMs / 1000).toFixed(1)} s): ${reproCommand({ ...base, bug: 'no-margin', seed: found.seed })}`);
  const clean = await sweep(0, found.seed + 1, base);
  const unsafe = clean.failures.filter(twoWriters);
  assert.equal(unsafe.length, 0, report(clean, base));
});
