// Enforces the design's module seams (docs: design.md §2) over src/:
//  - model/, lib/ and status-page/ import nothing of ours outside themselves;
//  - dcs/ and postgres/ never import agent/ or router/;
//  - router/ never imports agent/ or postgres/;
//  - agent/ and metrics/ never import api/ (the documents an agent publishes live in agent/patroni-doc.ts, which
//    the REST API, the metrics and the runner all read), nor cli/ or ctl/;
//  - agent/decide.ts and router/routing.ts import types only;
//  - only cli/ reads process.env / process.argv or installs signal handlers.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, relative, resolve } from 'node:path';

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
  agent: (t) => ['api', 'cli', 'ctl'].includes(t),
  metrics: (t) => ['api', 'cli', 'ctl'].includes(t),
};
const typeOnly = new Set(['agent/decide.ts', 'router/routing.ts']);
const problems = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const rel = relative(root, file);
  const from = area(file);
  for (const m of text.matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
    const target = resolve(dirname(file), m[2]);
    if (!target.startsWith(root)) continue;
    const to = area(target + '.ts');
    if (forbidden[from]?.(to)) problems.push(`${rel}: ${from}/ must not import ${to}/ (${m[2]})`);
    if (typeOnly.has(rel) && !m[1] && /\/(dcs|postgres|api|cli|log|metrics)\//.test(`/${relative(root, target)}/`)) {
      problems.push(`${rel}: must import types only from ${m[2]}`);
    }
  }
  if (from !== 'cli' && rel !== 'lib/child-env.ts') {
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    if (/process\.(env|argv)\b/.test(code)) problems.push(`${rel}: only src/cli may read process.env/argv`);
    if (/process\.(on|once)\(\s*['"]SIG/.test(code)) problems.push(`${rel}: only src/cli may install signal handlers`);
  }
}
if (problems.length) {
  console.error(`import rules broken (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`import rules hold over ${files.length} files`);
