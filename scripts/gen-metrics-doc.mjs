// Writes docs/metrics.md from the agent's and the router's metric registries (src/metrics/metrics-doc.ts).
// Usage: npm run build && node scripts/gen-metrics-doc.mjs [--check]
//   --check: write nothing; exit 1 if docs/metrics.md differs from what the registries say.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'src', 'metrics', 'metrics-doc.js');
if (!existsSync(compiled)) {
  console.error(`gen-metrics-doc: ${compiled} is missing; run \`npm run build\` first`);
  process.exit(1);
}
const { renderMetricsDoc } = createRequire(import.meta.url)(compiled);
const target = join(root, 'docs', 'metrics.md');
const text = renderMetricsDoc();
const current = existsSync(target) ? readFileSync(target, 'utf8') : '';
if (process.argv.includes('--check')) {
  if (current !== text) {
    console.error('docs/metrics.md is out of date: run `npm run build && node scripts/gen-metrics-doc.mjs`');
    process.exit(1);
  }
  console.log('docs/metrics.md matches the metric registries');
} else if (current === text) {
  console.log('docs/metrics.md is up to date');
} else {
  writeFileSync(target, text);
  console.log('wrote docs/metrics.md');
}
