/**
 * Issue 5, item 1: the scenario suite. A 3-node cluster in synchronous mode, a router, a client ledger writing
 * through it; one fault at a time (or a seeded sequence). After each: no acknowledged write lost, no two nodes
 * accepting writes through the router at overlapping times, the cluster healed within a bound, the router's view
 * equal to etcd's. The report (per scenario: write gap, lost acknowledged writes, double-writer time, time to
 * heal) is printed and written to test-output/scenario/report.md.
 *
 *   PGHA_SCENARIOS=all | name,name,… | random:SEED[,SEED…]   (default: the CI subset)
 *   PGHA_SCENARIO_RUNS=20                                   (each scenario N times in a row)
 *   PGHA_SCENARIO_FENCE=off                                 (agents without the fence process: the control run)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ScenarioCluster, type HarnessOptions, type ScenarioReport } from './support/harness';
import { CI_SUBSET, NEEDS, SCENARIOS, randomSequence, type Fault } from './support/scenarios';

interface Selected {
  name: string;
  fault: Fault;
  needs: HarnessOptions;
}

function selected(): Selected[] {
  const spec = process.env.PGHA_SCENARIOS?.trim();
  if (spec?.startsWith('random:')) return spec.slice(7).split(',').map((s) => ({ ...randomSequence(Number(s)), needs: {} }));
  const names = !spec ? CI_SUBSET : spec === 'all' ? Object.keys(SCENARIOS) : spec.split(',').map((s) => s.trim());
  return names.map((name) => {
    const fault = SCENARIOS[name];
    if (!fault) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    return { name, fault, needs: NEEDS[name] ?? {} };
  });
}

/** The selection in order, grouped by what each scenario needs of its cluster (one cluster per group). */
function byNeeds(list: readonly Selected[]): Selected[][] {
  const groups = new Map<string, Selected[]>();
  for (const one of list) {
    const key = JSON.stringify(one.needs);
    groups.set(key, [...(groups.get(key) ?? []), one]);
  }
  return [...groups.values()];
}

const RUNS = Math.max(1, Number(process.env.PGHA_SCENARIO_RUNS ?? 1));
const OUT = resolve(__dirname, '..', '..', '..', 'test-output', 'scenario');
const reports: ScenarioReport[] = [];

function table(rows: readonly ScenarioReport[]): string {
  const head = '| scenario | leader before → after | acknowledged | failed attempts | longest write gap | lost acknowledged | double-writer time | time to heal |\n|---|---|---|---|---|---|---|---|';
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return [head, ...rows.map((r) => `| ${r.scenario} | ${r.leaderBefore} → ${r.leaderAfter} | ${r.acknowledged} | ${r.failedAttempts} | ${s(r.longestGapMs)} | ${r.lostAcknowledged} | ${r.doubleWriterMs.toFixed(1)} ms | ${s(r.healMs)} |`)].join('\n');
}

after(() => {
  if (!reports.length) return;
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'report.md'), `${table(reports)}\n`);
  writeFileSync(join(OUT, 'report.json'), `${JSON.stringify(reports, null, 2)}\n`);
  console.log(`\n${table(reports)}\n`);
});

for (const group of byNeeds(selected())) {
  const needs = JSON.stringify(group[0]!.needs);
  describe(`scenarios under a client ledger${needs === '{}' ? '' : ` (cluster with ${needs})`}`, { timeout: 3_600_000 }, () => {
    let s: ScenarioCluster;
    before(async () => {
      s = await ScenarioCluster.start(group[0]!.needs);
    });
    after(async () => {
      if (s) await s.close();
    });

    for (const { name, fault } of group) {
      for (let run = 1; run <= RUNS; run++) {
        it(`${name}${RUNS > 1 ? ` (run ${run})` : ''}`, async (t) => {
          let r: ScenarioReport;
          try {
            r = await s.run(name, fault);
          } catch (err) {
            throw new Error(`${String(err)}\n${s.logs()}`);
          }
          reports.push(r);
          t.diagnostic(`gap ${r.longestGapMs} ms, lost ${r.lostAcknowledged}, double-writer ${r.doubleWriterMs} ms, healed in ${r.healMs} ms, ${r.acknowledged} acknowledged, ${r.failedAttempts} failed attempts`);
          for (const n of r.notes) t.diagnostic(n);
          assert.equal(r.lostAcknowledged, 0, 'acknowledged writes lost (synchronous mode)');
          assert.deepEqual(r.doubleWriterPairs, [], 'two nodes accepted writes through the router at overlapping times');
          assert.ok(r.acknowledged > 70, `the ledger wrote before and after the fault (${r.acknowledged})`);
        });
      }
    }
  });
}
