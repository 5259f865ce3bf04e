/**
 * Soak benchmark for the agent's timing (issue 2): a 3-node cluster with `ttl: 5, loop_wait: 1, retry_timeout: 2`
 * under steady pgbench load; prints leader changes, keepalive latencies and pgbench's figures.
 * Usage: node dist/bench/agent-soak.js [seconds=600] [clients=4]
 * It prints figures; it asserts nothing (speed targets are measured, not tested).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster } from '../src/demo/local-cluster';
import { EtcdStore } from '../src/dcs/etcd/etcd-store';
import { readCluster } from '../src/dcs/read';
import { clusterKeys } from '../src/model/keys';
import { isHealthy } from '../src/cli/demo-command';

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 600);
  const clients = Number(process.argv[3] ?? 4);
  const dir = mkdtempSync(join(tmpdir(), 'pgha-soak-'));
  chmodSync(dir, 0o755);
  const cluster = await startLocalCluster({ dir, env: process.env, dcs: { ttl: 5, loop_wait: 1, retry_timeout: 2 } });
  const store = new EtcdStore({ hosts: [cluster.etcd.endpoint], deadlineMs: 5000 });
  const keys = clusterKeys('/service', cluster.scope);
  try {
    let view = await readCluster(store, keys);
    const until = Date.now() + 180_000;
    while (!isHealthy(view, 3)) {
      if (Date.now() > until) throw new Error('cluster not healthy');
      await new Promise((r) => setTimeout(r, 500));
      view = await readCluster(store, keys);
    }
    const leader = cluster.nodes.find((n) => n.name === view.leader!.name)!;
    const env = { ...process.env, PGPASSWORD: 'test%123' };
    const pgb = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile('pgbench', ['-h', '127.0.0.1', '-p', String(leader.pgPort), '-U', 'admin', ...args, 'postgres'], { env, maxBuffer: 1 << 24 },
          (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
    await pgb(['-i', '-s', '10', '-q']);
    console.log(`soak: ${seconds} s of pgbench -c ${clients} on ${leader.name}; watching the leader key every 250 ms`);
    const changes: string[] = [];
    let watching = true;
    const watcher = (async () => {
      let current = view.leader!.name;
      while (watching) {
        const v = await readCluster(store, keys).catch(() => undefined);
        const now = v?.leader?.name ?? '(none)';
        if (v && now !== current) {
          changes.push(`${new Date().toISOString()} ${current} -> ${now}`);
          current = now;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const out = await pgb(['-c', String(clients), '-j', '2', '-T', String(seconds), '-P', '60']);
    watching = false;
    await watcher;
    console.log(out.split('\n').filter((l) => /tps|latency|transactions/.test(l)).join('\n'));
    console.log(`leader changes during the run: ${changes.length}${changes.length ? `\n  ${changes.join('\n  ')}` : ''}`);
  } finally {
    await store.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
