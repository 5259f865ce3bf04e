import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { quantile } from '../../../bench/lib/pgbench';
import { processTree, treeCpuSeconds, treeMemory } from '../../../bench/lib/procs';

// The router with workers is several processes: the bench must count the CPU and memory of all of them.
test('a proxy that burns CPU in a child process: its tree CPU counts the child, its tree memory sums both', async (t) => {
  const before = treeCpuSeconds(process.pid);
  // The child spins until it has used 200 ms of CPU itself (whatever the load), says so, then waits to be killed.
  const child = spawn(process.execPath, ['-e', 'while (process.cpuUsage().user + process.cpuUsage().system < 200000); console.log("spun"); setInterval(() => {}, 1000);'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  await once(child.stdout!, 'data');
  assert.ok(processTree(process.pid).includes(child.pid!), 'the child is in our process tree');
  assert.ok(treeCpuSeconds(child.pid!) >= 0.19, `child cpu ${treeCpuSeconds(child.pid!)} s`);
  assert.ok(treeCpuSeconds(process.pid) - before >= 0.19, `tree cpu grew by ${treeCpuSeconds(process.pid) - before} s`);
  const mem = treeMemory(process.pid);
  assert.ok(mem.processes >= 2);
  assert.ok(mem.rssMb > treeMemory(child.pid!).rssMb, 'the tree RSS is more than the child alone');
});

test('latency percentiles are nearest-rank over the sorted sample', () => {
  const xs = Float64Array.from(Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(quantile(xs, 0.5), 50);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(Float64Array.from([7]), 0.99), 7);
  assert.ok(Number.isNaN(quantile(new Float64Array(0), 0.5)));
});
