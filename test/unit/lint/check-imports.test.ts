import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const SCRIPT = resolve('scripts/check-imports.mjs');

/** Runs the lint over a small src/ tree of `files` (path → text), as CI runs it over the real one. */
function lint(root: string, files: Record<string, string>): { ok: boolean; out: string } {
  rmSync(root, { recursive: true, force: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const r = spawnSync(process.execPath, [SCRIPT], { cwd: root, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

const base = {
  'src/model/cluster.ts': 'export interface ClusterView { a: number }\n',
  'src/lib/clock.ts': 'export const realScheduler = { now: () => performance.now() };\n',
  'src/dcs/store.ts': 'export interface Store { x: number }\n',
  'src/metrics/agent-metrics.ts': "import type { AgentMetricsPort } from '../agent/metrics-port';\nexport class AgentMetrics {}\n",
  'src/agent/metrics-port.ts': 'export interface AgentMetricsPort { countCycle(): void }\n',
  'src/agent/decide.ts': "import type { ClusterView } from '../model/cluster';\nimport type { Store } from '../dcs/store';\nexport const decide = (v: ClusterView, s: Store, nowMs: number) => nowMs;\n",
};

describe('the import lint (scripts/check-imports.mjs)', () => {
  let dir: string;
  let n = 0;
  const run = (files: Record<string, string>) => lint(join(dir, String(n++)), { ...base, ...files });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgha-lint-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a tree that keeps the seams passes (pure cores may import types from the I/O areas)', () => {
    const r = run({});
    assert.ok(r.ok, r.out);
  });

  test('agent/ importing metrics/ or api/, and metrics/ importing api/, are refused', () => {
    const r = run({
      'src/agent/runner.ts': "import type { AgentMetrics } from '../metrics/agent-metrics';\nexport type M = AgentMetrics;\n",
      'src/agent/publish.ts': "import { doc } from '../api/doc';\nexport const d = doc;\n",
      'src/api/doc.ts': 'export const doc = 1;\n',
      'src/metrics/uses-api.ts': "import { doc } from '../api/doc';\nexport const e = doc;\n",
    });
    assert.equal(r.ok, false);
    assert.match(r.out, /agent\/runner\.ts: agent\/ must not import metrics\//);
    assert.match(r.out, /agent\/publish\.ts: agent\/ must not import api\//);
    assert.match(r.out, /metrics\/uses-api\.ts: metrics\/ must not import api\//);
  });

  test('every decide* and plan-* file is pure: no I/O module, no clock, no timer', () => {
    const r = run({
      'src/agent/decide-sync.ts': "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n",
      'src/agent/plan-fence.ts': "import { realScheduler } from '../lib/clock';\nexport const t = realScheduler;\n",
      'src/agent/plan-slots.ts': 'export const due = () => Date.now() + 1;\n',
      'src/agent/plan-retry.ts': 'export const arm = (f: () => void) => setTimeout(f, 5);\n',
      'src/agent/decide-store.ts': "import { Store } from '../dcs/store';\nexport type S = Store;\n",
    });
    assert.equal(r.ok, false);
    assert.match(r.out, /decide-sync\.ts: a pure core must not import node:fs/);
    assert.match(r.out, /plan-fence\.ts: a pure core takes the time as an argument/);
    assert.match(r.out, /plan-slots\.ts: a pure core must not read the clock or set timers \(Date\.now\(/);
    assert.match(r.out, /plan-retry\.ts: a pure core must not read the clock or set timers \(setTimeout\(/);
    assert.match(r.out, /decide-store\.ts: must import types only from \.\.\/dcs\/store/);
  });

  test('a file over 400 lines is refused', () => {
    const refused = run({ 'src/dcs/big.ts': `${'export const x = 1;\n'.repeat(401)}` });
    assert.equal(refused.ok, false);
    assert.match(refused.out, /dcs\/big\.ts: 401 lines, over 400/);
    assert.ok(run({ 'src/dcs/big.ts': `${'export const x = 1;\n'.repeat(400)}` }).ok);
  });
});
