/**
 * One simulated agent process: the loop of src/agent/runner.ts on simulated time. Each tick reads the cluster
 * through the simulated network, observes the simulated postgres, asks peers when the cluster is unlocked, calls
 * the REAL decide(), carries the actions out, then publishes its member key. Lease keeper and fence timer as in
 * lease-keeper.ts; loop wake-ups only where the runner has them (task finished, lease lost, fence).
 */
import { LONG_ACTIONS, type Action } from '../../../src/agent/actions';
import type { Decision, Memory } from '../../../src/agent/decide';
import type { LocalPostgres, Observation, PeerReport, TaskOutcome, TaskState } from '../../../src/agent/observation';
import { tryParseDynamicConfig } from '../../../src/config/dynamic';
import type { DynamicConfig } from '../../../src/config/types';
import { readCluster } from '../../../src/dcs/read';
import type { MemoryStore } from '../../../src/dcs/memory/memory-store';
import type { ClusterView } from '../../../src/model/cluster';
import type { ClusterKeys } from '../../../src/model/keys';
import type { PostgresProbe } from '../../../src/model/postgres-state';
import { dcsCall, type DcsNet, type Link } from './net';
import type { Res, SimContext } from './context';
import { SimExecutor, type ExecHost } from './executor';
import { SimLease, type LeaseBug } from './lease-model';
import { SIM_SYSID, type SimPostgres } from './postgres-model';
import type { Proc } from './scheduler';

export type DecideFn = (obs: Observation, memory: Memory) => Decision;

export interface AgentWorld {
  readonly ctx: SimContext;
  readonly net: DcsNet;
  readonly keys: ClusterKeys;
  readonly rawDcs: Record<string, unknown>;
  readonly dynamic: DynamicConfig;
  readonly decide: DecideFn;
  readonly bug: LeaseBug | undefined;
  probe(name: string): PostgresProbe;
  /** Peers' /patroni answers as `me` gets them now, and whether any timed out. */
  askPeers(me: string, view: ClusterView, lastLeaderView: ClusterView | undefined): { reports: PeerReport[]; timedOut: boolean };
  reachablePostgres(from: string, name: string): SimPostgres | undefined;
}

/** What the REST API and the member key show: the state of the last tick (src/agent/status-builder.ts). */
export interface Snapshot {
  role: 'master' | 'replica' | 'uninitialized';
  state: string;
  probe: PostgresProbe;
}

const TASK_STATE: Record<TaskState['kind'], string> = {
  bootstrap: 'initializing new cluster', create_replica: 'creating replica', start: 'starting', stop: 'stopping',
  promote: 'running', demote: 'stopping', rewind: 'starting', restart: 'restarting', reinit: 'creating replica',
};
const TASK_KIND: Partial<Record<Action['type'], TaskState['kind']>> = {
  bootstrap: 'bootstrap', create_replica: 'create_replica', start_primary: 'start', start_replica: 'start',
  promote: 'promote', demote: 'demote', rewind: 'rewind', restart: 'restart', reinitialize: 'reinit',
};
const PEER_TIMEOUT_MS = 2000;

export class SimAgent implements ExecHost {
  readonly lease: SimLease;
  readonly exec: SimExecutor;
  snapshot: Snapshot = { role: 'uninitialized', state: 'stopped', probe: { reachable: false } };
  lastReason = '';
  private memory: Memory = {};
  private dynamic: DynamicConfig;
  private task: TaskState | undefined;
  private outcome: TaskOutcome | undefined;
  private lastView: ClusterView | undefined;
  private lastLeaderView: ClusterView | undefined;
  private dcsFailingSinceMs: number | undefined;
  private waiting: number | undefined;
  private wakeToken = 0;
  private fencing = false;
  private wasRunning = false;
  private lastMemberJson = '';
  private lastMemberLease: string | undefined;

  constructor(private readonly w: AgentWorld, readonly name: string, readonly proc: Proc, readonly pg: SimPostgres, private readonly link: Link) {
    this.dynamic = w.dynamic;
    this.lease = new SimLease({
      now: () => this.now(),
      later: (ms, fn) => this.later(ms, fn),
      dcs: (what, fn, cb) => this.dcs(what, fn, cb),
      onFence: () => this.fence(),
      onLost: () => this.wakeUp(),
    }, this.dynamic.ttlSeconds, w.bug);
    this.exec = new SimExecutor(this);
  }

  get keys(): ClusterKeys {
    return this.w.keys;
  }
  get rawDcs(): Record<string, unknown> {
    return this.w.rawDcs;
  }
  now(): number {
    return this.w.ctx.sched.now;
  }
  later(ms: number, fn: () => void): void {
    this.w.ctx.sched.after(ms, fn, this.proc);
  }
  draw(lo: number, hi: number): number {
    return this.w.ctx.rng.range(lo, hi);
  }
  dcs<T>(what: string, fn: (s: MemoryStore) => Promise<T>, cb: (r: Res<T>) => void): void {
    dcsCall(this.w.ctx, this.w.net, this.link, this.proc, what, fn, cb);
  }
  reachablePostgres(name: string): SimPostgres | undefined {
    return this.w.reachablePostgres(this.name, name);
  }
  trace(msg: string): void {
    this.w.ctx.trace(this.name, msg);
  }
  touched(): void {
    this.w.ctx.touched();
  }

  start(): void {
    this.lease.start();
    this.later(0, () => this.tick());
  }

  /** Wakes the loop when it waits between ticks (a wake-up during a tick is lost, as in the runner). */
  wakeUp(): void {
    if (this.waiting === undefined) return;
    this.waiting = undefined;
    this.wakeToken++;
    this.later(0, () => this.tick());
  }

  private tick(): void {
    const started = this.now();
    this.dcs('reading cluster', (s) => readCluster(s, this.w.keys), (r) => {
      const dcs = this.tolerateBriefOutage(r.ok ? { ok: true, view: r.value } : { ok: false, error: r.error.message, ...(this.lastView ? { lastView: this.lastView } : {}) });
      if (dcs.ok) this.adoptView(dcs.view);
      const postgres = this.observePostgres();
      const view = dcs.ok ? dcs.view : undefined;
      const switchingAway = view?.failover && view.leader?.name === this.name;
      if (view && (!view.leader || switchingAway) && postgres.running) {
        const asked = this.w.askPeers(this.name, view, this.lastLeaderView);
        this.later(asked.timedOut ? PEER_TIMEOUT_MS : this.draw(1, 20), () => this.decideAndAct(started, dcs, postgres, asked.reports));
        return;
      }
      this.decideAndAct(started, dcs, postgres, undefined);
    });
  }

  private decideAndAct(started: number, dcs: Observation['dcs'], postgres: LocalPostgres, peers: PeerReport[] | undefined): void {
    const task = this.task;
    const finishedTask = this.outcome;
    this.outcome = undefined;
    const obs: Observation = {
      nowMs: this.now(),
      wallMs: Date.parse('2026-01-01T00:00:00Z') + this.now(),
      name: this.name,
      dynamic: this.dynamic,
      dcs,
      postgres,
      lock: { validUntilMs: this.lease.validUntilMs(), haveLease: this.lease.lease !== undefined, ...(this.lease.lease !== undefined ? { leaseId: this.lease.lease } : {}) },
      tags: {},
      ...(task ? { task } : {}),
      ...(finishedTask ? { finishedTask } : {}),
      ...(peers ? { peers } : {}),
    };
    const decision = this.safeDecide(obs);
    this.memory = decision.memory;
    if (decision.reason !== this.lastReason) {
      this.trace(`decide: ${decision.reason}${decision.actions.length ? ` [${decision.actions.map((a) => a.type).join(', ')}]` : ''}`);
      this.lastReason = decision.reason;
    }
    const view = dcs.ok ? dcs.view : undefined;
    this.act(decision.actions, 0, view, () => {
      this.wasRunning = postgres.running;
      this.publish(obs, postgres, () => this.scheduleNext(started));
    });
  }

  private safeDecide(obs: Observation): Decision {
    try {
      return this.w.decide(obs, this.memory);
    } catch (err) {
      this.trace(`decide threw: ${err instanceof Error ? err.message : String(err)}`);
      const primary = obs.postgres.running && obs.postgres.probe.inRecovery === false;
      const fence = primary && obs.lock.validUntilMs <= obs.nowMs;
      return { actions: fence ? [{ type: 'demote', mode: 'offline' }] : [], reason: 'internal error in decide', memory: this.memory };
    }
  }

  private scheduleNext(started: number): void {
    const waitMs = Math.max(0, this.dynamic.loopWaitSeconds * 1000 - (this.now() - started));
    const token = ++this.wakeToken;
    this.waiting = token;
    this.later(waitMs, () => {
      if (this.wakeToken !== token) return;
      this.waiting = undefined;
      this.tick();
    });
  }

  private tolerateBriefOutage(dcs: Observation['dcs']): Observation['dcs'] {
    if (dcs.ok) {
      this.dcsFailingSinceMs = undefined;
      return dcs;
    }
    this.dcsFailingSinceMs ??= this.now();
    const brief = this.now() - this.dcsFailingSinceMs < this.dynamic.retryTimeoutSeconds * 1000;
    if (brief && this.lastView) return { ok: true, view: this.lastView };
    return dcs;
  }

  private adoptView(view: ClusterView): void {
    this.lastView = view;
    if (view.leader) this.lastLeaderView = view;
    if (view.config?.valid) {
      const parsed = tryParseDynamicConfig(view.config.value);
      if (parsed.ok) {
        if (parsed.config.ttlSeconds !== this.dynamic.ttlSeconds) this.lease.setTtl(parsed.config.ttlSeconds);
        this.dynamic = parsed.config;
      }
    }
  }

  private observePostgres(): LocalPostgres {
    const pg = this.pg;
    if (pg.dataDir !== 'initialized') return { dataDir: pg.dataDir, running: false, standbySignal: false, probe: { reachable: false } };
    const probe = this.w.probe(this.name);
    const notStreaming = probe.reachable && probe.inRecovery === true && probe.replicationState !== 'streaming' && pg.timeline > 1;
    return {
      dataDir: 'initialized',
      systemId: SIM_SYSID,
      controlState: pg.controlState,
      running: pg.running,
      standbySignal: pg.standbySignal,
      probe,
      ...(pg.upstream ? { followingHostPort: `${pg.upstream}:5432` } : {}),
      ...(notStreaming ? { timelineHistory: pg.history.map(([tl, lsn]) => [tl, lsn] as [number, number]) } : {}),
    };
  }

  private act(actions: Action[], i: number, view: ClusterView | undefined, done: () => void): void {
    const action = actions[i];
    if (!action) return done();
    const ctx = { view, dynamic: this.dynamic };
    if (LONG_ACTIONS.has(action.type)) {
      this.startTask(TASK_KIND[action.type]!, action, ctx);
      return done();
    }
    this.exec.runShort(action, ctx, (r) => {
      if (!r.ok) {
        this.lease.noteWriteError(r.error);
        this.trace(`action ${action.type} failed: ${r.error.message}`);
        return done();
      }
      if (!r.value) return done();
      this.act(actions, i + 1, view, done);
    });
  }

  private startTask(kind: TaskState['kind'], action: Action, ctx: { view: ClusterView | undefined; dynamic: DynamicConfig }): void {
    if (this.task) return;
    const state: TaskState = { kind, startedMs: this.now() };
    this.task = state;
    this.trace(`task ${action.type} started`);
    this.exec.runLong(action, ctx, (err) => {
      this.task = undefined;
      this.outcome = { kind, ok: !err, finishedMs: this.now(), ...(err ? { error: err.message } : {}) };
      this.trace(`task ${action.type} ${err ? `failed: ${err.message}` : 'done'}`);
      // runner.afterTask: the fence timer may have fired while postgres was down or starting; a failed task is retried
      // on the next regular cycle, not at once.
      if (this.lease.lease !== undefined && this.lease.validUntilMs() <= this.now()) this.fence();
      else if (!err) this.wakeUp();
    });
  }

  /**
   * Self-fencing, outside the loop (runner.fence): when the last tick saw a running primary, or postgres itself may
   * accept writes now (running without standby.signal, or a probe that does not answer "in recovery").
   */
  private fence(): void {
    const pg = this.pg;
    const primary = this.snapshot.role === 'master' || (pg.postmasterAlive && (!pg.standbySignal || (pg.running && pg.role === 'primary')));
    if (this.fencing || !primary) return this.wakeUp();
    this.fencing = true;
    this.trace(`leader lock validity expired; stopping postgres (self-fencing)`);
    this.exec.fence(this.lease.fenceMarginMs / 2, () => {
      this.fencing = false;
      this.wakeUp();
    });
  }

  private publish(obs: Observation, postgres: LocalPostgres, done: () => void): void {
    const role = postgres.dataDir !== 'initialized' ? 'uninitialized' : postgres.running && postgres.probe.reachable && postgres.probe.inRecovery === false ? 'master' : 'replica';
    const state = this.task ? TASK_STATE[this.task.kind] : postgres.running ? (postgres.probe.reachable ? 'running' : 'starting')
      : postgres.dataDir !== 'initialized' ? 'stopped' : this.wasRunning || this.snapshot.state === 'running' ? 'crashed' : 'stopped';
    this.snapshot = { role, state, probe: postgres.probe };
    if (!obs.dcs.ok) return done();
    this.lease.ensureLease((l) => {
      if (!l.ok) return done();
      const json = JSON.stringify(this.memberDoc());
      if (json === this.lastMemberJson && l.value === this.lastMemberLease) return done();
      this.dcs('writing member', (s) => s.put(this.w.keys.member(this.name), json, l.value), (r) => {
        if (r.ok) {
          this.lastMemberJson = json;
          this.lastMemberLease = l.value;
        } else {
          this.lease.noteWriteError(r.error);
        }
        done();
      });
    });
  }

  /** The member key (src/agent/patroni-doc.ts memberDocument, the fields decide reads). */
  memberDoc(): Record<string, unknown> {
    const s = this.snapshot;
    const p = s.probe;
    const answers = p.reachable && ['running', 'restarting', 'starting'].includes(s.state);
    const doc: Record<string, unknown> = {
      conn_url: `postgres://${this.name}:5432/postgres`,
      api_url: `http://${this.name}:8008/patroni`,
      state: s.state,
      role: s.role,
      version: '0.1.0',
    };
    if (this.exec.checkpointPending) doc.checkpoint_after_promote = false;
    if (answers) {
      doc.timeline = p.timeline;
      doc.xlog_location = p.inRecovery ? Math.max(p.receiveLsn ?? 0, p.replayLsn ?? 0) : p.flushLsn;
      if (p.inRecovery && p.replicationState) doc.replication_state = p.replicationState;
    }
    return doc;
  }

  /** The /patroni document this agent serves (from its last tick). */
  restDoc(): Record<string, unknown> {
    const s = this.snapshot;
    const p = s.probe;
    if (!(p.reachable && ['running', 'restarting', 'starting'].includes(s.state))) return { state: s.state === 'running' ? 'unknown' : s.state, role: s.role };
    return {
      state: s.state,
      role: p.inRecovery ? 'replica' : 'master',
      timeline: p.timeline,
      xlog: p.inRecovery ? { received_location: p.receiveLsn, replayed_location: p.replayLsn } : { location: p.flushLsn },
      tags: {},
    };
  }
}
