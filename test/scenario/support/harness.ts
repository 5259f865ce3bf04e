/**
 * The scenario harness: a 3-node pgha cluster in synchronous mode whose agents reach etcd through fault-injecting
 * relays, a router in this process, and a client ledger writing through the router. A scenario injects one fault
 * (or a sequence), lets it take effect, clears it, and then the harness checks the invariants and measures:
 * lost acknowledged writes, double-writer time, longest write gap, time to heal (one leader, every replica
 * streaming on its timeline, the router's leader equal to etcd's, writes flowing again).
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isHealthy } from '../../../src/cli/demo-command';
import { silentLogger } from '../../../src/log/logger';
import { loadRouterConfig, startRouter, type RunningRouter } from '../../../src/router/index';
import type { ClusterView } from '../../../src/model/cluster';
import { sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';
import { pidAlive } from '../../support/postgres';
import { Ledger, LEDGER_TABLE, type LedgerFigures } from './ledger';
import { Relay } from './relay';

const PGHA_BIN = resolve(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');
export const DCS = { ttl: 8, loop_wait: 1, retry_timeout: 3, synchronous_mode: true, maximum_lag_on_failover: 1048576 };
const HEAL_BOUND_MS = 150_000;

export interface ScenarioReport extends LedgerFigures {
  scenario: string;
  lostAcknowledged: number;
  healMs: number;
  leaderBefore: string;
  leaderAfter: string;
}

export class ScenarioCluster {
  router?: RunningRouter;
  private routerPorts: { write: number; read: number } = { write: 0, read: 0 };
  private runs = 0;

  private constructor(readonly c: TestCluster, readonly relays: Relay[]) {}

  static async start(): Promise<ScenarioCluster> {
    const relayPorts = [await freePort(), await freePort(), await freePort()];
    const relays: Relay[] = [];
    const c = await startTestCluster({
      scope: 'scenario',
      dcs: DCS,
      // Each agent reaches etcd through its own relay: PATRONI_ETCD3_HOSTS overrides the YAML's hosts.
      command: (file) => {
        const i = Number(/ty-db(\d+)\.yml$/.exec(file)?.[1] ?? 1) - 1;
        return { file: process.execPath, args: [PGHA_BIN, 'agent', '-c', file], env: { PATRONI_ETCD3_HOSTS: `127.0.0.1:${relayPorts[i]}` } };
      },
      socketDir: 'home',
    }).catch((err: unknown) => {
      throw new Error(`cluster start: ${String(err)}`);
    });
    const s = new ScenarioCluster(c, relays);
    try {
      for (const port of relayPorts) {
        const r = new Relay(c.etcd.clientPort, port);
        await r.start();
        relays.push(r);
      }
      s.routerPorts = { write: await freePort(), read: await freePort() };
      await s.startRouter();
      await s.waitHealed(180_000);
      const leaderPort = s.leaderNode(await c.view()).pgPort;
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
      etcd: { hosts: [this.c.etcd.endpoint], deadline: '2s' },
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
    return this.c.view();
  }

  leaderNode(view: ClusterView): TestCluster['nodes'][number] {
    const i = this.c.leaderIndex(view);
    if (i < 0) throw new Error(`no leader in ${JSON.stringify(view.leader)}`);
    return this.c.nodes[i]!;
  }

  /** Waits for one leader, every replica streaming on its timeline, and the router agreeing with etcd. */
  async waitHealed(timeoutMs = HEAL_BOUND_MS): Promise<ClusterView> {
    return waitFor('one leader, all replicas streaming, a synchronous standby named, the router agreeing with etcd', async () => {
      const v = await this.c.view();
      if (!isHealthy(v, this.c.nodes.length) || this.router?.table().leader?.member !== v.leader!.name) return undefined;
      // Synchronous mode: until the leader names a synchronous standby in the sync key, no member may take over.
      return v.sync?.leader === v.leader!.name && v.sync.syncStandby.length > 0 ? v : undefined;
    }, { timeoutMs, intervalMs: 250 });
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

  startAgent(i: number): void {
    this.c.startAgent(i);
  }

  /**
   * Runs one scenario under the ledger's load: `fault` injects, waits for its effect and clears it. Returns the
   * figures; the caller asserts on them.
   */
  async run(scenario: string, fault: (s: ScenarioCluster) => Promise<void>): Promise<ScenarioReport> {
    const before = await this.waitHealed();
    const ledger = new Ledger(this.writePort, ++this.runs * 10_000_000);
    ledger.start();
    try {
      await waitFor('50 acknowledged writes before the fault', () => ledger.count() >= 50, { timeoutMs: 60_000, intervalMs: 50 });
      const faultAt = Date.now();
      await fault(this);
      await this.waitHealed();
      const acked = ledger.count();
      await waitFor('20 more acknowledged writes after healing', () => ledger.count() >= acked + 20, { timeoutMs: 60_000, intervalMs: 50 });
      const healMs = Date.now() - faultAt;
      await ledger.stop();
      const after = await this.waitHealed();
      const rows = await sql<{ id: string }>(this.leaderNode(after).pgPort, `select id from ${LEDGER_TABLE} where id > ${this.runs * 10_000_000}`);
      const present = new Set(rows.map((r) => Number(r.id)));
      return {
        scenario, ...ledger.figures(), lostAcknowledged: ledger.lost(present).length, healMs,
        leaderBefore: before.leader!.name, leaderAfter: after.leader!.name,
      };
    } finally {
      await ledger.stop();
    }
  }

  /** Logs of every agent (their last lines), for a failure message. */
  logs(lines = 30): string {
    return this.c.nodes.map((n, i) => `--- ${n.name}\n${this.c.logTail(i, lines)}`).join('\n');
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.c.nodes.length; i++) for (const pid of this.postgresPids(i)) signal(pid, 'SIGCONT');
    for (const a of this.c.agents) if (a) signal(a.pid, 'SIGCONT');
    await this.stopRouter().catch(() => undefined);
    await Promise.all(this.relays.map((r) => r.stop()));
    await this.c.close();
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
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
