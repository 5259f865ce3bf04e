import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync, chmodSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from '../demo/local-cluster';
import { freePort } from '../demo/free-port';
import { EtcdStore } from '../dcs/etcd/etcd-store';
import { readCluster } from '../dcs/read';
import { clusterKeys } from '../model/keys';
import { renderList } from '../ctl/list';
import { createLogger } from '../log/logger';
import { loadRouterConfig } from '../config/router';
import { startRouter } from '../router/index';
import type { ClusterView } from '../model/cluster';

const HELP = `Usage: pgha demo [--dir DIR] [--keep]

Runs a local cluster on loopback with free ports: etcd, three PostgreSQL nodes each with its agent (configs
ty-db1..3.yml in DIR, a loopback version of the seed's patroni_pg.yml), and a router with a write and a read port.
Prints the endpoints and the member table, keeps running until Ctrl-C, then stops everything it started.

Options:
  --dir DIR   where data, configs and logs go (default: a new temporary directory, removed at exit)
  --keep      keep DIR at exit
`;

export async function runDemoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { dir: { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  // A directory of ours (new, or the temporary one) is opened to the postgres user; a given one is left as it is
  // (`--dir /tmp` must keep /tmp's sticky bit).
  const created = values.dir === undefined || !existsSync(values.dir);
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'pgha-demo-'));
  if (created) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
  }
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`pgha demo: starting etcd and three agents under ${dir}`);
  // Sockets in each node's home, not the seed's '.' (inside the data directory, which pg_rewind cannot copy): a
  // killed leader that comes back is rewound rather than cloned again.
  const cluster = await startLocalCluster({ dir, env: process.env, socketDir: 'home' });
  let stopping = false;
  const stopAll = async (router?: { stop(): Promise<void> }) => {
    if (stopping) return;
    stopping = true;
    say('\npgha demo: stopping the router, the agents (and their PostgreSQL) and etcd…');
    await router?.stop().catch(() => undefined);
    await cluster.stop();
    if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
    say('pgha demo: stopped.');
  };
  const store = new EtcdStore({ hosts: [cluster.etcd.endpoint], deadlineMs: 5000 });
  let router: Awaited<ReturnType<typeof startRouter>> | undefined;
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  try {
    const ready = await Promise.race([waitForHealthyCluster(store, cluster), interrupted.then(() => undefined)]);
    if (!ready) return 0;
    const writePort = await freePort();
    const readPort = await freePort();
    const metricsPort = await freePort();
    router = await startRouter(
      loadRouterConfig({
        scope: cluster.scope,
        etcd: { hosts: [cluster.etcd.endpoint] },
        listeners: [
          { name: 'write', listen: `127.0.0.1:${writePort}`, role: 'primary' },
          { name: 'read', listen: `127.0.0.1:${readPort}`, role: 'replica' },
        ],
        metrics: { listen: `127.0.0.1:${metricsPort}` },
      }, 'demo'),
      { logger: createLogger({ level: 'warn', base: { component: 'router' } }) },
    );
    printEndpoints(say, cluster, dir, { writePort, readPort, metricsPort });
    say(renderList(ready, cluster.scope, { format: 'pretty' }));
    say('Press Ctrl-C to stop everything.');
    await interrupted;
    return 0;
  } finally {
    await store.close();
    await stopAll(router);
  }
}

function printEndpoints(
  say: (s: string) => void, c: LocalCluster, dir: string, r: { writePort: number; readPort: number; metricsPort: number },
): void {
  say('');
  say(`etcd:        http://${c.etcd.endpoint}   (etcdctl --endpoints=${c.etcd.endpoint} get --prefix /service/${c.scope}/)`);
  for (const n of c.nodes) {
    say(`${n.name}:     postgres 127.0.0.1:${n.pgPort}   REST http://127.0.0.1:${n.apiPort}/patroni   config ${n.configFile}`);
  }
  say(`router:      write 127.0.0.1:${r.writePort}   read 127.0.0.1:${r.readPort}   metrics http://127.0.0.1:${r.metricsPort}/metrics`);
  say(`connect:     psql "postgresql://admin:test%25123@127.0.0.1:${r.writePort}/postgres"`);
  say(`members:     npx pgha ctl -c ${c.nodes[0]!.configFile} list`);
  say(`logs:        ${dir}/ty-db*/agent.log`);
  say('');
}

/** One leader and every other member streaming on the leader's timeline. */
export function isHealthy(view: ClusterView, size: number): boolean {
  if (!view.leader || view.members.size < size) return false;
  const leader = view.members.get(view.leader.name);
  if (!leader || leader.doc.state !== 'running') return false;
  return [...view.members.values()].every(
    (m) => m.name === view.leader!.name || (m.doc.state === 'running' && m.doc.replication_state === 'streaming' && m.doc.timeline === leader.doc.timeline),
  );
}

async function waitForHealthyCluster(store: EtcdStore, c: LocalCluster): Promise<ClusterView | undefined> {
  const keys = clusterKeys('/service', c.scope);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const view = await readCluster(store, keys).catch(() => undefined);
    if (view && isHealthy(view, c.nodes.length)) return view;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the cluster did not become healthy within 180 s; see the logs under ${c.nodes[0]!.logFile.replace(/ty-db1.*/, '')}`);
}
