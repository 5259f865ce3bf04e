/**
 * The scenario harness: a 3-node pgha cluster in synchronous mode whose agents reach etcd through fault-injecting
 * relays, a router in this process, and a client ledger writing through the router. A scenario injects one fault
 * (or a sequence), lets it take effect, clears it, and then the harness checks the invariants and measures:
 * lost acknowledged writes, double-writer time, longest write gap, time to heal (one leader, every replica
 * streaming on its timeline, the router's leader equal to etcd's, writes flowing again).
 *
 * Some faults need more than that cluster (HarnessOptions): a 3-member etcd, a disk per node that can fill up, or
 * relays in front of each postgres; the suite starts one cluster per set of options it needs.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync, readdirSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { postgresOsUser, stopPostmaster } from '../../../src/demo/local-cluster';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { readCluster } from '../../../src/dcs/read';
import { clusterKeys } from '../../../src/model/keys';
import { isHealthy } from '../../../src/cli/demo-command';
import { silentLogger } from '../../../src/log/logger';
import { loadRouterConfig, startRouter, type RunningRouter } from '../../../src/router/index';
import type { ClusterView } from '../../../src/model/cluster';
import { sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { freePort, freePorts } from '../../support/ports';
import { startEtcdCluster, type EtcdCluster } from '../../support/etcd';
import { waitFor } from '../../support/wait';
import { pidAlive } from '../../support/postgres';
import { Ledger, LEDGER_TABLE, type LedgerFigures } from './ledger';
import { Relay } from './relay';
import { childrenOf, fenceDirFor, runningFence } from '../../../src/fence/files';
import { killNode, type KilledNode } from '../../support/kill-node';

const PGHA_BIN = resolve(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');
export const DCS = { ttl: 8, loop_wait: 1, retry_timeout: 3, synchronous_mode: true, maximum_lag_on_failover: 1048576 };
/** The fast profile (docs/fast-profile.md): failover bounded by a 5 s lease. */
export const FAST_DCS = { ...DCS, ttl: 5, loop_wait: 1, retry_timeout: 2 };
const HEAL_BOUND_MS = 150_000;

/** What a scenario needs of the cluster beyond the default one (one etcd; data dirs on the machine's disk). */
export interface HarnessOptions {
  /** etcd as a 3-member cluster; each agent lists every member (through its own relays), a different one first. */
  etcdMembers?: 3;
  /** Each node's data directory on a tmpfs of its own, this many MiB: a disk that a fault can fill. */
  diskMb?: number;
  /**
   * A relay in front of each postgres, published as the node's connect_address (so in its member key's conn_url):
   * every connection to a postgres from another node, the router or the ledger passes through it.
   */
  postgresRelays?: boolean;
  /**
   * synchronous_mode off: an old primary's commits do not wait for a standby, so a primary left running after its
   * agent died would acknowledge writes on its own (the setting of issue 14's measurement, 574 writes lost).
   */
  asyncReplication?: boolean;
  /** The fast profile's timing (FAST_DCS) instead of DCS. */
  fast?: boolean;
}

export interface ScenarioReport extends LedgerFigures {
  scenario: string;
  lostAcknowledged: number;
  healMs: number;
  leaderBefore: string;
  leaderAfter: string;
  /** What the fault saw on the way (which member it hit, what the cluster did), in words. */
  notes: string[];
}

export class ScenarioCluster {
  router?: RunningRouter;
  private routerPorts: { write: number; read: number } = { write: 0, read: 0 };
  private runs = 0;

  /** The ledger of the scenario running now (faults that check writes go on during the fault read it). */
  ledger?: Ledger;
  private readonly store?: EtcdStore;
  private notes: string[] = [];
  /** The direct writers' ledgers of the scenario running now (one per node; `-direct` scenarios). */
  direct: Ledger[] = [];

  /**
   * `relays[i]`: agent i's relays to etcd, one per member, in the order its PATRONI_ETCD3_HOSTS lists them.
   * `pgRelays[i]`: the relay in front of node i's postgres (postgresRelays). `disks[i]`: node i's tmpfs (diskMb).
   */
  private constructor(
    readonly c: TestCluster,
    readonly relays: Relay[][],
    readonly pgRelays: Relay[],
    readonly disks: string[],
    readonly etcdCluster?: EtcdCluster,
    readonly synchronous = true,
  ) {
    if (etcdCluster) this.store = new EtcdStore({ hosts: etcdCluster.endpoints, deadlineMs: 5000 });
  }

  static async start(opts: HarnessOptions = {}): Promise<ScenarioCluster> {
    const etcdCluster = opts.etcdMembers ? await startEtcdCluster(opts.etcdMembers) : undefined;
    const members = etcdCluster?.members.length ?? 1;
    const relayPorts = [await freePorts(members), await freePorts(members), await freePorts(members)];
    const pgRelays = opts.postgresRelays ? (await freePorts(3)).map((port) => new Relay(0, port, { postgres: true })) : [];
    const disks: string[] = [];
    let c: TestCluster;
    try {
      for (const r of pgRelays) await r.start();
      c = await startTestCluster({
        scope: 'scenario',
        dcs: opts.asyncReplication ? { ...DCS, synchronous_mode: false } : opts.fast ? FAST_DCS : DCS,
        command: (file) => {
          const i = Number(/ty-db(\d+)\.yml$/.exec(file)?.[1] ?? 1) - 1;
          // Each agent reaches etcd through its own relays: PATRONI_ETCD3_HOSTS overrides the YAML's hosts.
          const env: NodeJS.ProcessEnv = { PATRONI_ETCD3_HOSTS: relayPorts[i]!.map((p) => `127.0.0.1:${p}`).join(',') };
          // The control run of the fence scenarios: the same faults with no fence process (docs/fence.md).
          if (process.env.PGHA_SCENARIO_FENCE === 'off' && !readFileSync(file, 'utf8').includes('\nwatchdog:')) appendFileSync(file, '\nwatchdog:\n  mode: off\n');
          if (opts.diskMb) {
            // Called before the agent's first start (its YAML is written by then): mount once, then reuse.
            disks[i] = mountTmpfs(join(dirname(file), `ty-db${i + 1}`, 'disk'), opts.diskMb);
            env.PATRONI_POSTGRESQL_DATA_DIR = join(disks[i]!, 'data');
          }
          const relay = pgRelays[i];
          if (relay) {
            relay.targetPort = postgresPortOf(file);
            env.PATRONI_POSTGRESQL_CONNECT_ADDRESS = `127.0.0.1:${relay.port}`;
          }
          return { file: process.execPath, args: [PGHA_BIN, 'agent', '-c', file], env };
        },
        socketDir: 'home',
      });
    } catch (err) {
      await Promise.all(pgRelays.map((r) => r.stop()));
      unmountAll(disks);
      await etcdCluster?.destroy();
      throw new Error(`cluster start: ${String(err)}`);
    }
    // The harness's own helpers (postmaster.pid, pg_basebackup's target) look at each node's data dir.
    disks.forEach((d, i) => (c.nodes[i]!.dataDir = join(d, 'data')));
    const s = new ScenarioCluster(c, [], pgRelays, disks, etcdCluster, !opts.asyncReplication);
    try {
      for (let i = 0; i < relayPorts.length; i++) {
        const mine: Relay[] = [];
        for (let k = 0; k < members; k++) {
          // Agent i lists member i first: the members share the agents' traffic, and a fault can pick its victim.
          const target = etcdCluster ? etcdCluster.members[(i + k) % members]!.clientPort : c.etcd.clientPort;
          const r = new Relay(target, relayPorts[i]![k]!);
          await r.start();
          mine.push(r);
        }
        s.relays.push(mine);
      }
      s.routerPorts = { write: await freePort(), read: await freePort() };
      await s.startRouter();
      await s.waitHealed(180_000);
      const leaderPort = s.leaderNode(await s.view()).pgPort;
      await sql(leaderPort, `create table if not exists ${LEDGER_TABLE} (id bigint primary key)`);
      return s;
    } catch (err) {
      await s.close();
      throw err;
    }
  }

  async startRouter(): Promise<void> {
    const config = loadRouterConfig({
      scope: 'scenario',
      namespace: '/service/',
      etcd: { hosts: this.etcdCluster?.endpoints ?? [this.c.etcd.endpoint], deadline: '2s' },
      listeners: [
        { name: 'write', role: 'primary', listen: `127.0.0.1:${this.routerPorts.write}`, hold_timeout: '30s' },
        { name: 'read', role: 'replica', listen: `127.0.0.1:${this.routerPorts.read}`, max_lag: '16MB', hold_timeout: '10s' },
      ],
      health: { interval: '500ms', timeout: '400ms', fast_interval: '50ms' },
      // A restart ends open sessions after 1 s (a killed router ends them at once).
      drain_timeout: '1s',
    }, 'scenario router');
    this.router = await startRouter(config, { logger: silentLogger() });
  }

  async stopRouter(): Promise<void> {
    await this.router?.stop();
    this.router = undefined;
  }

  get writePort(): number {
    return this.routerPorts.write;
  }

  view(): Promise<ClusterView> {
    return this.store ? readCluster(this.store, clusterKeys('/service', this.c.scope)) : this.c.view();
  }

  leaderNode(view: ClusterView): TestCluster['nodes'][number] {
    const i = this.c.leaderIndex(view);
    if (i < 0) throw new Error(`no leader in ${JSON.stringify(view.leader)}`);
    return this.c.nodes[i]!;
  }

  /** Waits for one leader, every replica streaming on its timeline, and the router agreeing with etcd. */
  async waitHealed(timeoutMs = HEAL_BOUND_MS): Promise<ClusterView> {
    let seen = '(no view read)';
    try {
      return await waitFor('one leader, all replicas streaming, a synchronous standby named, the router agreeing with etcd', async () => {
        const v = await this.view();
        seen = describeView(v, this.router?.table().leader?.member);
        if (!isHealthy(v, this.c.nodes.length) || this.router?.table().leader?.member !== v.leader!.name) return undefined;
        // Synchronous mode: until the leader names a synchronous standby in the sync key, no member may take over.
        if (!this.synchronous) return v;
        return v.sync?.leader === v.leader!.name && v.sync.syncStandby.length > 0 ? v : undefined;
      }, { timeoutMs, intervalMs: 250 });
    } catch (err) {
      throw new Error(`${String(err)}\nlast seen: ${seen}\n${this.logs(15)}`);
    }
  }

  /** The postmaster's PID of node i, from its postmaster.pid; undefined when postgres is not running. */
  postmasterPid(i: number): number | undefined {
    const f = join(this.c.nodes[i]!.dataDir, 'postmaster.pid');
    if (!existsSync(f)) return undefined;
    const pid = Number(readFileSync(f, 'utf8').split('\n')[0]);
    return pid && pidAlive(pid) ? pid : undefined;
  }

  /** The postmaster and all its children (backends, walsender, checkpointer …). */
  postgresPids(i: number): number[] {
    const pm = this.postmasterPid(i);
    if (!pm) return [];
    return [pm, ...childrenOf(pm)];
  }

  agentPid(i: number): number | undefined {
    return this.c.agents[i]?.pid;
  }

  async killAgent(i: number): Promise<void> {
    const a = this.c.agents[i];
    if (!a) return;
    a.child.kill('SIGKILL');
    await a.exited;
    this.c.agents[i] = undefined;
  }

  /** Node i gone as in a host crash: its fence, agent, postmaster and every postgres process, all SIGKILL. */
  async killNode(i: number): Promise<KilledNode> {
    const a = this.c.agents[i];
    if (!a) throw new Error(`node ${i + 1} has no agent to kill`);
    const dataDir = this.c.nodes[i]!.dataDir;
    const fence = runningFence(fenceDirFor(dataDir), dataDir);
    if (fence) signal(fence, 'SIGKILL');
    const killed = await killNode(a.pid, dataDir);
    await a.exited;
    this.c.agents[i] = undefined;
    return killed;
  }

  startAgent(i: number): void {
    this.c.startAgent(i);
  }

  /**
   * Runs one scenario under the ledger's load: `fault` injects, waits for its effect and clears it. Returns the
   * figures; the caller asserts on them.
   */
  async run(scenario: string, fault: (s: ScenarioCluster) => Promise<void>): Promise<ScenarioReport> {
    const before = await this.waitHealed();
    this.notes = [];
    const ledger = new Ledger(this.writePort, ++this.runs * 10_000_000);
    this.ledger = ledger;
    ledger.start();
    // Beside the router, one writer straight to each node (ids apart from the router ledger's and each other's).
    this.direct = scenario.endsWith('-direct') ? this.c.nodes.map((n, i) => new Ledger(n.pgPort, this.runs * 10_000_000 + (i + 1) * 1_000_000, true)) : [];
    for (const d of this.direct) d.start(1, 0);
    try {
      await waitFor('50 acknowledged writes before the fault', () => ledger.count() >= 50, { timeoutMs: 60_000, intervalMs: 50 });
      const faultAt = Date.now();
      await fault(this);
      await this.waitHealed();
      const acked = ledger.count();
      await waitFor('20 more acknowledged writes after healing', () => ledger.count() >= acked + 20, { timeoutMs: 60_000, intervalMs: 50 });
      const healMs = Date.now() - faultAt;
      await ledger.stop();
      await Promise.all(this.direct.map((d) => d.stop()));
      const after = await this.waitHealed();
      const rows = await sql<{ id: string }>(this.leaderNode(after).pgPort, `select id from ${LEDGER_TABLE} where id > ${this.runs * 10_000_000}`);
      const present = new Set(rows.map((r) => Number(r.id)));
      const directAcks = this.direct.flatMap((d) => d.acks);
      if (this.direct.length) this.notes.push(`direct writers: ${this.direct.map((d, i) => `${this.c.nodes[i]!.name} ${d.count()}`).join(', ')} acknowledged`);
      return {
        scenario, ...ledger.figures(directAcks), lostAcknowledged: [ledger, ...this.direct].reduce((n, l) => n + l.lost(present).length, 0), healMs,
        leaderBefore: before.leader!.name, leaderAfter: after.leader!.name, notes: this.notes,
      };
    } finally {
      await ledger.stop();
      await Promise.all(this.direct.map((d) => d.stop()));
      this.ledger = undefined;
    }
  }

  /** Records what a fault observed, for the report. */
  note(text: string): void {
    this.notes.push(text);
  }

  /** Logs of every agent (their last lines), for a failure message. */
  logs(lines = 30): string {
    return this.c.nodes.map((n, i) => `--- ${n.name}\n${this.c.logTail(i, lines)}`).join('\n');
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.c.nodes.length; i++) for (const pid of this.postgresPids(i)) signal(pid, 'SIGCONT');
    for (const a of this.c.agents) if (a) signal(a.pid, 'SIGCONT');
    await this.stopRouter().catch(() => undefined);
    await Promise.all([...this.relays.flat(), ...this.pgRelays].map((r) => r.stop()));
    if (this.disks.length) {
      // A tmpfs is unmounted once its postgres is gone, and before the cluster's directory is removed.
      for (let i = 0; i < this.c.nodes.length; i++) await this.c.stopAgent(i);
      await Promise.all(this.c.nodes.map((n) => stopPostmaster(n.dataDir)));
      // Postgres's log lives on the tmpfs: keep a copy next to the agent's when the test dirs are kept.
      if (process.env.PGHA_KEEP_TEST_DIRS) {
        for (const d of this.disks) {
          const log = join(d, 'data', 'postmaster.log');
          if (existsSync(log)) cpSync(log, join(dirname(d), 'postmaster.log'));
        }
      }
      unmountAll(this.disks);
    }
    await this.c.close();
    await this.store?.close().catch(() => undefined);
    await this.etcdCluster?.destroy();
  }
}

/** The listen port of the postgres that a generated node YAML configures. */
function postgresPortOf(file: string): number {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { postgresql?: { listen?: string } };
  const port = Number(/:(\d+)$/.exec(doc.postgresql?.listen ?? '')?.[1]);
  if (!port) throw new Error(`${file}: no postgresql.listen port`);
  return port;
}

const mounted = new Set<string>();

/** Mounts a tmpfs of `mb` MiB owned by the postgres OS user on `dir` (once); unmounted at exit at the latest. */
function mountTmpfs(dir: string, mb: number): string {
  if (mounted.has(dir)) return dir;
  const owner = postgresOsUser();
  mkdirSync(dir, { recursive: true });
  const ids = owner ? `,uid=${owner.uid},gid=${owner.gid}` : '';
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m,mode=0700${ids}`, 'tmpfs', dir]);
  if (mounted.size === 0) process.once('exit', () => unmountAll([...mounted]));
  mounted.add(dir);
  return dir;
}

/** Unmounts; a tmpfs still busy (a process left behind) is detached lazily rather than left mounted. */
function unmountAll(dirs: readonly string[]): void {
  for (const dir of dirs) {
    if (!mounted.delete(dir)) continue;
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    }
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export function processesMatching(pattern: RegExp): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (pattern.test(readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '))) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** One line of what a view shows, for a failure message. */
function describeView(v: ClusterView, routerLeader: string | undefined): string {
  const members = [...v.members.values()].map((m) => `${m.name}: ${String(m.doc.role)}/${String(m.doc.state)}${m.doc.replication_state ? `/${String(m.doc.replication_state)}` : ''} tl ${String(m.doc.timeline)}`);
  return `leader ${v.leader?.name ?? 'none'}, router's leader ${routerLeader ?? 'none'}, sync ${JSON.stringify(v.sync ? { leader: v.sync.leader, standbys: v.sync.syncStandby } : null)}; ${members.join('; ')}`;
}
