// Enforces the design's module seams (docs: design.md §2) over src/:
//  - model/, lib/ and status-page/ import nothing of ours outside themselves;
//  - dcs/ and postgres/ never import agent/ or router/;
//  - router/ never imports agent/ or postgres/;
//  - agent/ never imports api/ or metrics/ (the documents an agent publishes live in model/patroni-format.ts; the
//    runner counts through agent/metrics-port.ts, which metrics/ implements), nor cli/ or ctl/;
//  - metrics/ never imports api/, cli/ or ctl/;
//  - the pure cores (every agent/decide*.ts and agent/plan-*.ts, router/routing.ts) import only types from the I/O
//    areas, no node: modules, not the clock (lib/clock) and read no time and set no timer themselves;
//  - only cli/ reads process.env / process.argv or installs signal handlers;
//  - no file in src/ is over 400 lines.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, relative, resolve } from 'node:path';

const MAX_LINES = 400;
const root = resolve('src');
const files = [];
const walk = (d) => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.ts')) files.push(p);
  }
};
walk(root);

const area = (file) => relative(root, file).split('/')[0];
const forbidden = {
  model: (t) => t !== 'model',
  lib: (t) => t !== 'lib',
  'status-page': (t) => t !== 'status-page',
  dcs: (t) => ['agent', 'router', 'cli', 'api'].includes(t),
  postgres: (t) => ['agent', 'router', 'cli', 'api'].includes(t),
  router: (t) => ['agent', 'postgres', 'cli', 'api'].includes(t),
  agent: (t) => ['api', 'metrics', 'cli', 'ctl'].includes(t),
  metrics: (t) => ['api', 'cli', 'ctl'].includes(t),
};
const isPure = (rel) => /^agent\/(decide[^/]*|plan-[^/]*)\.ts$/.test(rel) || rel === 'router/routing.ts';
// Reading time or arming a timer: a pure core takes the time as an argument instead.
const CLOCK_CALLS = /\b(Date\.now|performance\.now|setTimeout|setInterval|setImmediate)\s*\(|\bnew Date\(\s*\)/;

const problems = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const rel = relative(root, file);
  const from = area(file);
  const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
  for (const m of text.matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
    const typeOnly = Boolean(m[1]);
    if (!m[2].startsWith('.')) {
      if (isPure(rel) && !typeOnly && m[2].startsWith('node:')) problems.push(`${rel}: a pure core must not import ${m[2]}`);
      continue;
    }
    const target = resolve(dirname(file), m[2]);
    if (!target.startsWith(root)) continue;
    const to = area(target + '.ts');
    const targetRel = relative(root, target);
    if (forbidden[from]?.(to)) problems.push(`${rel}: ${from}/ must not import ${to}/ (${m[2]})`);
    if (isPure(rel) && !typeOnly) {
      if (/^(dcs|postgres|api|cli|ctl|log|metrics)(\/|$)/.test(targetRel)) problems.push(`${rel}: must import types only from ${m[2]}`);
      if (targetRel === 'lib/clock') problems.push(`${rel}: a pure core takes the time as an argument, not from ${m[2]}`);
    }
  }
  if (isPure(rel) && CLOCK_CALLS.test(code)) problems.push(`${rel}: a pure core must not read the clock or set timers (${CLOCK_CALLS.exec(code)[0]})`);
  if (from !== 'cli' && rel !== 'lib/child-env.ts') {
    if (/process\.(env|argv)\b/.test(code)) problems.push(`${rel}: only src/cli may read process.env/argv`);
    if (/process\.(on|once)\(\s*['"]SIG/.test(code)) problems.push(`${rel}: only src/cli may install signal handlers`);
  }
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_LINES) problems.push(`${rel}: ${lines} lines, over ${MAX_LINES}: split it by concern into new small files`);
}
if (problems.length) {
  console.error(`import rules broken (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`import rules hold over ${files.length} files`);
