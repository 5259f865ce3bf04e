// Runs the compiled tests of the given tiers (unit, contract, integration, scenario) with node's test runner.
// Usage: node scripts/run-tests.mjs unit contract integration [-- extra node --test args]
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const sep = args.indexOf('--');
const tiers = sep === -1 ? args : args.slice(0, sep);
const extra = sep === -1 ? [] : args.slice(sep + 1);
const files = [];
const walk = (dir) => {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
for (const tier of tiers) walk(join('dist', 'test', tier));
if (files.length === 0) {
  console.error(`no test files found for tiers: ${tiers.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.PGHA_TEST_CONCURRENCY ?? '1';
const res = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...extra, ...files], {
  stdio: 'inherit',
});
process.exit(res.status ?? 1);
