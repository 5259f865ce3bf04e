// Enforces design.md §3 "one injected clock/scheduler, no bare timers in logic": the files below take their time
// and timers from a `Scheduler` (src/lib/clock.ts), so unit tests and the simulator run them on their own time.
// A bare setTimeout/setInterval/Date.now/performance.now or `new Date()` (now) in one of them would read or wait
// on the real clock behind the simulator's back. `new Date(ms)` (formatting a given time) is allowed.
import { readFileSync, readdirSync } from 'node:fs';

// `node scripts/check-timers.mjs [file…]` checks the given files instead (the lint rule's own test does).
const listed = [
  'src/agent/runner.ts',
  'src/agent/lease-keeper.ts',
  'src/agent/failsafe-keeper.ts',
  'src/agent/task-slot.ts',
  'src/agent/execute.ts',
  'src/agent/execute-promote.ts',
  'src/agent/status-builder.ts',
  'src/dcs/cluster-cache.ts',
  // The router: every file of src/router/ and its workers' control plane; worker-main.ts is a worker process's entry
  // point (as src/cli is the daemons'), which hands realScheduler to the rest.
  ...readdirSync('src/router').filter((f) => f.endsWith('.ts')).map((f) => `src/router/${f}`),
  ...readdirSync('src/router/workers').filter((f) => f.endsWith('.ts') && f !== 'worker-main.ts').map((f) => `src/router/workers/${f}`),
];
const files = process.argv.length > 2 ? process.argv.slice(2) : listed;
const bare = /\b(setTimeout|setInterval|Date\.now|performance\.now)\b|new Date\(\s*\)/;
const problems = [];
for (const file of files) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    const code = line.replace(/\/\*.*?\*\//g, '').replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
    const m = bare.exec(code);
    if (m) problems.push(`${file}:${i + 1}: bare ${m[0]} (take it from the injected Scheduler, src/lib/clock.ts)`);
  });
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`timers ok (${files.length} files)`);
