/**
 * The HA loop: observe → decide → act, once per loop_wait or earlier when woken (a watch event on the leader or
 * config key, a finished task, the fencing timer). Level-triggered: every tick re-observes everything.
 */
import type { ClusterStore } from '../dcs/store';
import type { ClusterView } from '../model/cluster';
import { clusterKeys, type ClusterKeys } from '../model/keys';
import type { AgentConfig, DynamicConfig } from '../config/types';
import { parseDynamicConfig } from '../config/dynamic';
import type { Logger } from '../log/logger';
import { describe } from '../lib/errors';
import { memberDocument } from '../model/patroni-format';
import type { AgentMetricsPort as AgentMetrics } from './metrics-port';
import { initialShellState, type AgentShellState } from './shell-state';
import { planOutage } from './plan-outage';
import { actionsWhenDecideFails, lockExpired } from './plan-fence';
import { planFenceOnLiveState } from './fence-facts';
import { FailsafeKeeper } from './failsafe-keeper';
import { publishedLeaderValidity } from './failsafe';
import { failsafePoster, type FailsafePost } from './failsafe-post';
import { decide, type Decision } from './decide';
import { LONG_ACTIONS, REQUEST_ACTIONS, type Action } from './actions';
import type { RequestQueue } from './requests';
import type { Executor } from './execute';
import type { LeaseKeeper } from './lease-keeper';
import { observeDcs, observePostgres } from './observe';
import type { LocalPostgres, Observation } from './observation';
import { askPeers, type PeerFetch } from './peers';
import { planAskPeers } from './plan-peers';
import type { MethodOps } from './method-ops';
import { canCreateReplicaWithoutLeader } from '../config/methods';
import type { PostgresOps } from './postgres-ops';
import type { AgentStatus } from './status';
import { TaskSlot } from './task-slot';
import type { DynamicConfigSource } from './dynamic-source';
import { defaultSeams, type RunnerSeams } from './runner-seams';
import { initialStatus, statusAfterTick } from './status-builder';
import { realScheduler, type Scheduler } from '../lib/clock';
import type { FencePort } from '../fence/keeper';
import { armFacts, armFence } from './fence-arm';
import { publishPlan, statusAfterPromote } from './promoted-status';
import { REQUEST_DONE, TASK_KIND } from './task-kinds';

export const PATRONI_COMPAT_VERSION = '3.0.2';

export interface RunnerDeps {
  config: AgentConfig;
  store: ClusterStore;
  ops: PostgresOps;
  /** Replica methods and custom bootstrap commands (the CLI passes its LocalPostgresOps). */
  methods?: MethodOps;
  logger: Logger;
  metrics?: AgentMetrics;
  pghaVersion: string;
  /** Time and timers of the loop, the lease keeper, the task slot and the executor (default: the real clock). */
  scheduler?: Scheduler;
  exit: (code: number, message: string, why: string) => void;
  /** Operator requests from the REST API (restart, reinitialize, reload). */
  requests?: RequestQueue;
  /** GETs another member's /patroni (default: no private CA, no client certificate). */
  peerFetch?: PeerFetch;
  /** The simulator's replacements for what the runner builds (runner-seams.ts); production passes none. */
  seams?: RunnerSeams;
  /** The fence process that outlives the agent (src/fence/); none: no fence (watchdog.mode: off, tests). */
  fence?: FencePort;
  /** The leader's POST /failsafe to a member (default: plain HTTP or HTTPS with the system CA store). */
  failsafePost?: FailsafePost;
}

export class AgentRunner {
  readonly keys: ClusterKeys;
  private readonly now: () => number;
  private readonly scheduler: Scheduler;
  private readonly lease: LeaseKeeper;
  private readonly exec: Executor;
  private readonly tasks: TaskSlot;
  /** Failsafe mode's rounds and the last leader that POSTed here (failsafe-keeper.ts). */
  readonly failsafe: FailsafeKeeper;
  private readonly log: Logger;
  /** Everything carried from one tick to the next (shell-state.ts). */
  private readonly state: AgentShellState = initialShellState();
  private dynamic: DynamicConfig;
  private readonly dynamicSource: DynamicConfigSource;
  /** The last tick's status, read by the REST API between ticks. */
  private snapshot: AgentStatus;
  // The loop's own control (stop, wake-ups): not state of the HA logic.
  private stopped = false;
  private wake: (() => void) | undefined;
  /** A wake-up came while a tick ran: the loop does not sleep after it. */
  private wakePending = false;
  private loopDone: Promise<void> | undefined;

  constructor(private readonly d: RunnerDeps) {
    this.scheduler = d.scheduler ?? realScheduler;
    this.now = () => this.scheduler.now();
    this.keys = clusterKeys(d.config.namespace, d.config.scope);
    this.log = d.logger.child({ component: 'ha' });
    const seams = { ...defaultSeams, ...d.seams };
    this.dynamicSource = seams.dynamicSource(d.config.bootstrap.dynamic ?? parseDynamicConfig(d.config.bootstrap.dcs),
      d.config.postgresql.dataDir, d.logger.child({ component: 'config' }));
    this.dynamic = this.dynamicSource.config;
    this.lease = seams.leaseKeeper(d.store, {
      ttlSeconds: this.dynamic.ttlSeconds,
      scheduler: this.scheduler,
      logger: d.logger.child({ component: 'lease' }),
      onFence: () => void this.fence(),
      onLost: () => this.wakeUp(),
      onKeepalive: (s, ok) => d.metrics?.observeKeepalive(s, ok),
      onRenewed: (validUntilMs) => d.fence?.renewed(validUntilMs, this.lease.fenceMarginMs),
    });
    this.failsafe = new FailsafeKeeper({ scheduler: this.scheduler, lease: this.lease, status: () => this.snapshot,
      post: d.failsafePost ?? failsafePoster(), logger: d.logger.child({ component: 'failsafe' }), onRoundFailed: () => this.wakeUp() });
    this.tasks = new TaskSlot(this.now, (ok) => this.afterTask(ok));
    this.exec = seams.executor({
      config: d.config, keys: this.keys, store: d.store, lease: this.lease, ops: d.ops, scheduler: this.scheduler, ...(d.methods ? { methods: d.methods } : {}),
      logger: d.logger.child({ component: 'executor' }), exit: d.exit,
      onProgress: (step, report) => this.tasks.report(step, report),
      onPromoted: () => this.publishPromoted(),
    }, this.state.executor);
    d.ops.useDynamic(this.dynamic);
    this.snapshot = initialStatus(d.config, this.dynamic, PATRONI_COMPAT_VERSION, d.pghaVersion);
  }

  /** The last tick's snapshot, with the long task's progress as of now. */
  status(): AgentStatus {
    const progress = this.tasks.progress();
    return { ...this.snapshot, ...(progress ? { progress } : {}), failsafeActive: this.failsafe.active() };
  }

  /**
   * A long task finished. When our lease's validity ran out meanwhile, the fence timer may have fired while postgres
   * was down or starting (nothing to stop then): check again now that the task (a start, a promote) is over.
   */
  private afterTask(ok: boolean): void {
    if (lockExpired({ haveLease: this.lease.leaseId !== undefined, validUntilMs: this.lease.validUntilMs() }, this.now())) void this.fence();
    // A failed task is retried on the next regular cycle (loop_wait), not at once: one that fails fast would spin.
    else if (ok) this.wakeUp();
  }

  /** Wakes the loop now (watch events on leader/config, finished tasks); during a tick, the next one starts at once. */
  wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    if (w) w();
    else this.wakePending = true;
  }

  start(): void {
    this.lease.start();
    this.failsafe.start();
    this.loopDone = this.loop();
  }

  async stop(opts: { stopPostgres: boolean }): Promise<void> {
    this.stopped = true;
    this.wakeUp();
    await this.loopDone;
    this.lease.stop();
    this.failsafe.stop();
    this.d.fence?.disarm('agent stopping');
    if (opts.stopPostgres) {
      await this.d.ops.stop('fast', 60_000).catch((err: unknown) => this.log.warn({ err }, 'stopping postgres failed'));
    }
    // etcd may be gone at shutdown: the key then expires with our lease.
    await this.d.store.deleteIfValue(this.keys.leader, this.d.config.name)
      .catch((err: unknown) => this.log.warn({ err }, 'releasing the leader key at shutdown failed'));
    await this.lease.revoke();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = this.now();
      try {
        await this.tick();
      } catch (err) {
        this.log.error({ err }, 'HA cycle failed');
      }
      const waitMs = Math.max(0, this.dynamic.loopWaitSeconds * 1000 - (this.now() - started));
      if (this.wakePending || this.stopped) {
        this.wakePending = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = this.scheduler.setTimer(resolve, waitMs);
        this.wake = () => {
          this.scheduler.clearTimer(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** One HA cycle. */
  async tick(): Promise<void> {
    // The task is read before etcd: a task that ends while this tick observes (bootstrap writes the leader key, then
    // finishes) must not meet a view read before its writes, or the tick races for a key it already holds and
    // publishes an unlocked cluster for a whole loop_wait. Its end wakes the next tick at once (wakePending).
    const promotionsBefore = this.state.promotions;
    const task = this.tasks.current;
    const finishedTask = task ? undefined : this.tasks.takeOutcome();
    const dcs = this.tolerateBriefOutage(await observeDcs(this.d.store, this.keys, this.state.lastView));
    if (dcs.ok) this.adoptView(dcs.view);
    const postgres = await observePostgres(this.d.ops, this.state.systemId, this.log);
    if (postgres.systemId) this.state.systemId = postgres.systemId;
    const view = dcs.ok ? dcs.view : undefined;
    const peers = view && planAskPeers(view, this.d.config.name, postgres.running).ask ? await askPeers(this.d.config.name, view, this.state.lastLeaderView, this.d.peerFetch) : undefined;
    if (finishedTask && !finishedTask.ok) this.log.warn({ task: finishedTask.kind, err: finishedTask.error }, 'task failed');
    if (finishedTask && this.state.requestTask) this.settleRequest(this.state.requestTask, finishedTask.ok, finishedTask.error);
    const request = this.d.requests?.peek();
    const obs: Observation = {
      nowMs: this.now(),
      wallMs: this.scheduler.wallNow(),
      ...(request ? { request } : {}),
      name: this.d.config.name,
      dynamic: this.dynamic,
      dcs,
      postgres,
      lock: {
        validUntilMs: this.lease.validUntilMs(),
        haveLease: this.lease.leaseId !== undefined,
        ...(this.lease.leaseId !== undefined ? { leaseId: String(this.lease.leaseId) } : {}),
      },
      tags: this.d.config.tags,
      ...(this.d.methods && canCreateReplicaWithoutLeader(this.d.config.postgresql.replicaMethods ?? []) ? { replicaWithoutLeader: true } : {}),
      ...(task ? { task } : {}),
      ...(finishedTask ? { finishedTask } : {}),
      ...(peers ? { peers } : {}),
      failsafe: this.failsafe.state(),
    };
    const decision = this.safeDecide(obs);
    this.state.memory = decision.memory;
    this.logReason(decision.reason);
    this.d.metrics?.countCycle();
    // Armed before the actions run: a promote in this cycle finds its fence already renewed (arm-plan.ts).
    armFence(this.d.fence, armFacts(obs, decision.actions), this.lease.validUntilMs(), this.lease.fenceMarginMs);
    await this.act(decision.actions, view);
    this.state.wasRunning = postgres.running;
    await this.publish(obs, postgres, decision.reason, promotionsBefore);
    // Not while a task (initdb, basebackup, rewind) may be writing into the data directory.
    if (postgres.dataDir === 'initialized' && !this.tasks.current) {
      await this.dynamicSource.saveCache();
      if (postgres.running && this.dynamicSource.postgresChanged()) await this.applyPostgresChange(view);
    }
  }

  /** A failed etcd read counts; the last view stands in while the outage is brief (plan-outage.ts). */
  private tolerateBriefOutage(dcs: Observation['dcs']): Observation['dcs'] {
    if (!dcs.ok) this.d.metrics?.countDcsError('read_cluster');
    const plan = planOutage({
      dcs, nowMs: this.now(), retryTimeoutMs: this.dynamic.retryTimeoutSeconds * 1000,
      failingSinceMs: this.state.dcsFailingSinceMs, lastView: this.state.lastView,
    });
    this.state.dcsFailingSinceMs = plan.failingSinceMs;
    return plan.dcs;
  }

  private safeDecide(obs: Observation): Decision {
    try {
      return decide(obs, this.state.memory);
    } catch (err) {
      this.log.error({ err }, 'decide failed; taking the safe action');
      return { actions: actionsWhenDecideFails(obs), reason: `internal error in decide: ${describe(err)}`, memory: this.state.memory };
    }
  }

  private adoptView(view: ClusterView): void {
    this.state.lastView = view;
    if (view.leader) this.state.lastLeaderView = view;
    if (view.config?.valid && this.dynamicSource.adopt(view.config.value)) {
      const next = this.dynamicSource.config;
      if (next.ttlSeconds !== this.dynamic.ttlSeconds) this.lease.setTtl(next.ttlSeconds);
      this.dynamic = next;
      this.d.ops.useDynamic(this.dynamic);
    }
  }

  private logReason(reason: string): void {
    if (reason !== this.state.lastReason) {
      this.log.info({ reason }, 'ha decision');
      this.state.lastReason = reason;
    }
  }

  private async act(actions: Action[], view: ClusterView | undefined): Promise<void> {
    const ctx = { view, dynamic: this.dynamic };
    for (const action of actions) {
      this.d.metrics?.countAction(action.type);
      const forRequest = REQUEST_ACTIONS.has(action.type) && this.d.requests?.take() !== undefined;
      if (LONG_ACTIONS.has(action.type)) {
        if (forRequest) this.state.requestTask = action.type;
        this.tasks.start(TASK_KIND[action.type]!, () => this.exec.runLong(action, ctx));
        // Like Patroni, a reinitialize is answered once it has started; a restart once postgres is back.
        if (forRequest && action.type === 'reinitialize') this.settleRequest(action.type, true);
        return;
      }
      try {
        const go = await this.exec.runShort(action, ctx);
        if (forRequest) this.settleRequest(action.type, true, undefined, action.type === 'refuse_request' ? action.message : undefined);
        if (!go) return;
      } catch (err) {
        if (forRequest) this.settleRequest(action.type, false, describe(err));
        this.lease.noteWriteError(err);
        this.log.warn({ action: action.type, err }, 'action failed');
        return;
      }
    }
  }

  /** New parameters or pg_hba from the `config` key: rewrite postgres' files and reload it (retried next tick on failure). */
  private async applyPostgresChange(view: ClusterView | undefined): Promise<void> {
    try {
      await this.exec.runShort({ type: 'reload' }, { view, dynamic: this.dynamic });
      this.dynamicSource.postgresApplied();
      this.log.info('postgres configuration rewritten and reloaded after a dynamic config change');
    } catch (err) {
      this.log.warn({ err }, 'applying the dynamic config to postgres failed');
    }
  }

  private settleRequest(type: Action['type'], ok: boolean, error?: string, refusal?: string): void {
    this.state.requestTask = undefined;
    const [good, bad] = REQUEST_DONE[type] ?? ['done', 'failed'];
    const outcome = refusal !== undefined ? { ok: false, message: refusal } : { ok, message: ok ? good : `${bad}${error ? `: ${error}` : ''}` };
    this.log.info({ request: type, ...outcome }, 'operator request settled');
    this.d.requests?.settle(outcome);
  }

  /** Self-fencing: the lock validity ran out without a renewal; stop taking writes now, outside the loop (plan-fence.ts). */
  private async fence(): Promise<void> {
    if (this.state.fencing) return this.wakeUp();
    this.state.fencing = true;
    const plan = await planFenceOnLiveState(this.d.ops, this.snapshot.role, this.log);
    if (plan.step === 'spare') {
      this.state.fencing = false;
      return this.wakeUp();
    }
    this.log.warn({ validUntilMs: this.lease.validUntilMs(), reason: plan.reason }, 'leader lock validity expired; stopping postgres (self-fencing)');
    try {
      await this.exec.fence(this.lease.fenceMarginMs / 2);
    } finally {
      this.state.fencing = false;
      this.wakeUp();
    }
  }

  /** `pg_ctl promote` returned: role master is published now, not after a whole tick (promoted-status.ts says why). */
  private publishPromoted(): void {
    this.state.promotions++;
    this.snapshot = statusAfterPromote(this.snapshot);
    void this.touchMember();
    this.wakeUp();
  }

  private async publish(obs: Observation, postgres: LocalPostgres, reason: string, promotionsBefore: number): Promise<void> {
    const plan = publishPlan({ promotionsBefore, promotionsNow: this.state.promotions });
    if (!plan.publish) return this.log.info({ reason: plan.reason }, 'tick status not published');
    this.snapshot = statusAfterTick({
      previous: this.snapshot,
      obs,
      postgres,
      reason,
      view: this.state.lastView,
      dynamic: this.dynamic,
      task: this.tasks.current,
      wasRunning: this.state.wasRunning,
      checkpointPending: this.exec.checkpointPending,
      draining: this.exec.draining,
      leaderValidUntilMs: publishedLeaderValidity(obs, this.lease.validUntilMs()),
      nextCycleDueMs: this.now() + this.dynamic.loopWaitSeconds * 1000,
      tags: this.d.config.tags,
    });
    this.d.metrics?.setLeader(this.snapshot.leaderValidUntilMs > this.now(), (this.snapshot.leaderValidUntilMs - this.now()) / 1000);
    if (obs.dcs.ok) await this.touchMember();
  }

  /** Writes members/<name> on our lease when the document or the lease changed (reference §1.3). */
  private async touchMember(): Promise<void> {
    try {
      const lease = await this.lease.ensureLease();
      const json = JSON.stringify(memberDocument(this.snapshot));
      if (json === this.state.memberJson && lease === this.state.memberLease) return;
      await this.d.store.put(this.keys.member(this.d.config.name), json, lease);
      this.state.memberJson = json;
      this.state.memberLease = lease;
    } catch (err) {
      this.lease.noteWriteError(err);
      this.d.metrics?.countDcsError('touch_member');
      this.log.warn({ err }, 'writing member key failed');
    }
  }
}
