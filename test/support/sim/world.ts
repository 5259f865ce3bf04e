/**
 * One simulated run: N nodes, the memory DCS on a simulated clock, a client writing to whoever accepts writes,
 * replication, the fault plan, and the invariant checker. Deterministic for a seed.
 */
import { parseDynamicConfig } from '../../../src/config/dynamic';
import type { DynamicConfig } from '../../../src/config/types';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { clusterKeys, type ClusterKeys } from '../../../src/model/keys';
import type { PostgresProbe } from '../../../src/model/postgres-state';
import type { RunnerSeams } from '../../../src/agent/runner-seams';
import type { SimContext } from './context';
import { ALL_FAULTS, planFaults, type Fault, type FaultKind } from './faults';
import { Checker, type Violation } from './invariants';
import { simSeams } from './shell-bugs';
import type { ShellBug, ShellWorld } from './shell';
import type { DcsNet } from './net';
import { SimNode } from './node';
import type { SimPostgres } from './postgres-model';
import { releaseCommits, replicationRows, streamingFrom } from './replication';
import { Rng } from './rng';
import { Scheduler } from './scheduler';

export interface SimOptions {
  seed: number;
  nodes?: number;
  /** Plant a defect in the shell (shell-bugs.ts). */
  bug?: ShellBug;
  sync?: 'off' | 'on' | 'strict';
  faults?: readonly FaultKind[];
  /**
   * The fence process (src/fence/, watchdog.mode automatic) runs beside each agent (default true). false:
   * watchdog.mode off, only the agent's in-process fencing.
   */
  fence?: boolean;
  /** Without the fence: count a SIGSTOPped primary's writes (nothing can stop them then) as a violation too. */
  strictFreeze?: boolean;
  verbose?: boolean;
  /** Stop at the first violation (default true). */
  stopAtFirst?: boolean;
}

export interface SimFigures {
  simMs: number;
  events: number;
  nodes: number;
  ttlSeconds: number;
  sync: string;
  faults: number;
  writes: number;
  acked: number;
  promotions: number;
  /** Acknowledged writes missing on a new primary (allowed outside synchronous mode, within maximum_lag_on_failover). */
  lostAckedAsync: number;
  /** Time two primaries accepted writes while one of them had a SIGSTOPped agent and no fence (fence off only). */
  unfencedOverlapMs: number;
  /** Times a fence process stopped a postgres (its first SIGINT). */
  fenceStops: number;
  /** From the end of faults until the cluster was healthy for good (undefined: never). */
  healMs: number | undefined;
}

export interface SimResult {
  seed: number;
  violations: Violation[];
  trace: string[];
  figures: SimFigures;
}

const TIMINGS = [
  { ttl: 10, loop_wait: 2, retry_timeout: 4 },
  { ttl: 20, loop_wait: 5, retry_timeout: 7 },
  { ttl: 30, loop_wait: 10, retry_timeout: 10 },
] as const;

export class World implements SimContext, ShellWorld {
  readonly sched = new Scheduler();
  readonly ctx: SimContext = this;
  readonly rng: Rng;
  readonly keys: ClusterKeys = clusterKeys('/service', 'sim');
  readonly store: MemoryStore;
  readonly net: DcsNet;
  readonly rawDcs: Record<string, unknown>;
  readonly dynamic: DynamicConfig;
  readonly seams: RunnerSeams;
  readonly nodes = new Map<string, SimNode>();
  readonly checker: Checker;
  readonly faults: Fault[];
  readonly syncMode: 'off' | 'on' | 'strict';
  readonly quietAtMs: number;
  readonly endAtMs: number;
  readonly marginMs: number;
  readonly verbose: boolean;
  readonly fence: boolean;
  private readonly lines: string[] = [];
  private dirty = false;
  private writeSeq = 0;
  acked = new Set<number>();
  written = 0;

  constructor(readonly opts: SimOptions) {
    const plan = new Rng(opts.seed);
    this.rng = plan.fork();
    const t = plan.pick(TIMINGS);
    this.syncMode = opts.sync ?? plan.pick(['off', 'off', 'on', 'on', 'strict'] as const);
    this.rawDcs = {
      ...t, maximum_lag_on_failover: 1048576,
      synchronous_mode: this.syncMode !== 'off', synchronous_mode_strict: this.syncMode === 'strict',
      postgresql: { use_pg_rewind: true, use_slots: true },
    };
    this.dynamic = parseDynamicConfig(this.rawDcs);
    this.seams = simSeams(opts.bug);
    this.verbose = opts.verbose ?? false;
    this.fence = opts.fence ?? true;
    this.store = new MemoryStore({ now: () => this.sched.now });
    const delays = plan.fork();
    this.net = {
      store: this.store, outage: false, deadlineMs: Math.max(1000, t.retry_timeout * 1000),
      delay: () => (delays.chance(0.02) ? delays.range(50, 600) : delays.range(1, 30)),
    };
    const ttlMs = t.ttl * 1000;
    this.marginMs = Math.min(5000, Math.max(1000, ttlMs / 4));
    const count = opts.nodes ?? plan.pick([2, 3, 3, 3, 4, 5]);
    for (let i = 1; i <= count; i++) this.nodes.set(`n${i}`, new SimNode(`n${i}`, this, this));
    const faultFrom = 40_000;
    this.quietAtMs = faultFrom + 150_000;
    this.endAtMs = this.quietAtMs + 4 * ttlMs + 4 * t.loop_wait * 1000 + 30_000;
    this.faults = planFaults(plan.fork(), { kinds: opts.faults ?? ALL_FAULTS, nodes: count, ttlMs, marginMs: this.marginMs, fromMs: faultFrom, untilMs: this.quietAtMs });
    this.checker = new Checker(this, { strictFreeze: opts.strictFreeze ?? false });
  }

  // ---- SimContext ----

  trace(who: string, msg: string): void {
    this.lines.push(`${(this.sched.now / 1000).toFixed(3).padStart(8)} ${who.padEnd(6)} ${msg}`);
    if (!this.opts.verbose && this.lines.length > 600) this.lines.splice(0, 200);
  }

  touched(): void {
    this.dirty = true;
  }

  // ---- ShellWorld ----

  probe(name: string): PostgresProbe {
    const node = this.nodes.get(name)!;
    const pg = node.pg;
    if (!pg.running || pg.stopping) return { reachable: false };
    if (pg.role === 'primary') {
      return { reachable: true, inRecovery: false, timeline: pg.timeline, flushLsn: pg.lsn, replication: replicationRows(node, this.nodes) };
    }
    const streaming = streamingFrom(node, this.nodes) !== undefined;
    return {
      reachable: true, inRecovery: true, timeline: pg.timeline, receiveLsn: pg.lsn, replayLsn: pg.lsn,
      replicationState: streaming ? 'streaming' : 'in archive recovery',
    };
  }

  peerDocument(from: string, name: string): Record<string, unknown> | undefined {
    const target = this.nodes.get(name);
    const ok = target?.agent && !target.agentFrozen && !target.isolated && !this.nodes.get(from)!.isolated;
    return ok ? target.agent!.restDoc() : undefined;
  }

  exited(name: string, message: string): void {
    this.trace(name, `agent exited: ${message}`);
    this.nodes.get(name)!.exited();
  }

  reachablePostgres(from: string, name: string): SimPostgres | undefined {
    const a = this.nodes.get(from);
    const b = this.nodes.get(name);
    if (!a || !b || a.isolated || b.isolated) return undefined;
    return b.pg;
  }

  // ---- the run ----

  async run(): Promise<SimResult> {
    for (const node of this.nodes.values()) this.sched.at(this.rng.range(0, 500), () => node.startAgent(), node.agentProc);
    for (const f of this.faults) this.sched.at(f.at, () => this.inject(f));
    this.clientLoop();
    this.replicationLoop();
    for (let t = this.quietAtMs; t <= this.endAtMs; t += 1000) this.sched.at(t, () => this.checker.sampleHealth());
    const stopAtFirst = this.opts.stopAtFirst ?? true;
    await this.sched.runUntil(this.endAtMs, () => {
      if (this.dirty) {
        this.dirty = false;
        this.releaseCommits();
      }
      this.checker.afterEvent();
      return stopAtFirst && this.checker.violations.length > 0;
    });
    if (this.checker.violations.length === 0 || !stopAtFirst) await this.checker.atEnd();
    return {
      seed: this.opts.seed,
      violations: this.checker.violations,
      trace: this.lines,
      figures: {
        simMs: this.sched.now, events: this.sched.events, nodes: this.nodes.size, ttlSeconds: this.dynamic.ttlSeconds,
        sync: this.syncMode, faults: this.faults.length, writes: this.written, acked: this.acked.size,
        promotions: this.checker.promotions, lostAckedAsync: this.checker.lostAsync.size,
        unfencedOverlapMs: Math.round(this.checker.unfencedOverlapMs), healMs: this.checker.healMs(),
        fenceStops: [...this.nodes.values()].reduce((n, node) => n + node.fence.fired, 0),
      },
    };
  }

  /** Nodes whose postgres accepts writes now. */
  writers(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.pg.writable) out.push(n);
    return out;
  }

  private clientLoop(): void {
    const step = () => {
      for (const n of this.writers()) {
        const id = ++this.writeSeq;
        n.pg.log.push(id);
        this.written++;
        if (n.pg.syncGuc === '') this.acked.add(id);
        else n.pg.pending.push([id, n.pg.log.length - 1]);
        this.dirty = true;
      }
      this.sched.after(this.rng.range(100, 400), step);
    };
    this.sched.after(1000, step);
  }

  private replicationLoop(): void {
    const step = () => {
      for (const x of this.nodes.values()) {
        const u = streamingFrom(x, this.nodes);
        if (!u || x.pg.log.length === u.pg.log.length || this.rng.chance(0.3)) continue;
        for (let i = x.pg.log.length; i < u.pg.log.length; i++) x.pg.log.push(u.pg.log[i]!);
        if (x.pg.timeline !== u.pg.timeline) x.pg.history = u.pg.history.slice();
        x.pg.timeline = u.pg.timeline;
        this.dirty = true;
      }
      this.sched.after(100, step);
    };
    this.sched.after(100, step);
  }

  private releaseCommits(): void {
    for (const n of this.nodes.values()) {
      if (!n.pg.writable) n.pg.pending = [];
      for (const id of releaseCommits(n, this.nodes)) this.acked.add(id);
    }
  }

  private target(f: Fault): SimNode {
    const all = [...this.nodes.values()];
    if (f.node >= 0) return all[f.node]!;
    return this.writers()[0] ?? all[this.rng.int(0, all.length - 1)]!;
  }

  private inject(f: Fault): void {
    const now = this.sched.now;
    const end = now + f.durationMs;
    const node = this.target(f);
    const say = (msg: string) => this.trace('FAULT', `${msg} for ${Math.round(f.durationMs)} ms`);
    switch (f.kind) {
      case 'crash':
        if (!node.agent) return;
        say(`crash ${node.name}`);
        return node.crash(f.durationMs);
      case 'agent-kill':
        if (!node.agent) return;
        say(`kill -9 agent of ${node.name}`);
        return node.killAgent(f.durationMs);
      case 'pgcrash':
        this.trace('FAULT', `kill -9 postgres on ${node.name}`);
        return node.pg.crash();
      case 'stall':
      case 'freeze':
        return this.freeze(node, f.durationMs, f.kind, say);
      case 'partition':
      case 'isolate':
      case 'fence-race':
        say(`${f.kind === 'partition' ? 'cut' : 'isolate'} ${node.name} ${f.kind === 'partition' ? 'off the DCS' : 'from DCS and peers'} (${f.mode})`);
        node.dcsCut = f.mode;
        node.dcsCutUntil = Math.max(node.dcsCutUntil, end);
        if (f.kind !== 'partition') {
          node.isolated = true;
          node.isolatedUntil = Math.max(node.isolatedUntil, end);
        }
        this.touched();
        if (f.kind === 'fence-race') {
          // The lease keeper's keepalive period (lease-keeper.ts intervalMs).
          const keepaliveMs = node.agent ? Math.max(250, (this.dynamic.ttlSeconds * 1000) / 4) : 0;
          const stallAt = this.dynamic.ttlSeconds * 1000 - this.marginMs - this.rng.range(0, keepaliveMs + 500);
          const stallFor = this.rng.range(0.3, 0.95) * this.marginMs;
          this.sched.after(Math.max(0, stallAt), () => this.freeze(node, stallFor, 'stall', (m) => this.trace('FAULT', `${m} for ${Math.round(stallFor)} ms`)));
        }
        this.sched.at(end, () => {
          if (this.sched.now >= node.dcsCutUntil) node.dcsCut = false;
          if (this.sched.now >= node.isolatedUntil) node.isolated = false;
          this.trace('FAULT', `${node.name} reconnected`);
          this.touched();
        });
        return;
      case 'dcsdown':
        if (this.net.outage) return;
        say(`DCS down (${f.mode})`);
        this.store.expireLeases();
        this.store.setAvailable(false);
        this.net.outage = f.mode;
        this.sched.at(end, () => {
          this.store.setAvailable(true);
          this.net.outage = false;
          this.trace('FAULT', 'DCS back');
        });
        return;
      case 'replcut':
        say(`cut replication of ${node.name}`);
        node.replCut = true;
        node.replCutUntil = Math.max(node.replCutUntil, end);
        this.sched.at(end, () => {
          if (this.sched.now >= node.replCutUntil) node.replCut = false;
          this.touched();
        });
        this.touched();
        return;
    }
  }

  private freeze(node: SimNode, ms: number, kind: 'stall' | 'freeze', say: (m: string) => void): void {
    if (!node.agent || node.agentFrozen) return;
    say(`${kind === 'stall' ? 'stall' : 'SIGSTOP'} agent of ${node.name}`);
    this.sched.freeze(node.agentProc);
    const end = this.sched.now + ms;
    node.frozenUntil = end;
    // Without the fence process nothing stops this primary until the agent runs again (and has caught up).
    if (kind === 'freeze' && !this.fence) node.unfencedUntil = end + (this.dynamic.loopWaitSeconds + this.dynamic.retryTimeoutSeconds) * 1000 + this.marginMs;
    const proc = node.agentProc;
    this.sched.at(end, () => {
      if (node.agentProc !== proc || !proc.frozen) return;
      this.trace('FAULT', `${kind === 'stall' ? 'stall of' : 'SIGCONT'} agent of ${node.name} over`);
      this.sched.thaw(proc);
    });
  }
}
