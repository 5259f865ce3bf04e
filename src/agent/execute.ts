/**
 * Executors: each action of decide() becomes a few effects with deadlines. Short actions run inline in the tick;
 * long ones run as the single-flight task of TaskSlot while the loop keeps ticking and the lease stays renewed.
 */
import type { ClusterStore } from '../dcs/store';
import type { ClusterView } from '../model/cluster';
import { formerPrimaryNeedsRewind } from './rejoin';
import type { ClusterKeys } from '../model/keys';
import type { AgentConfig, DynamicConfig } from '../config/types';
import type { Logger } from '../log/logger';
import { PghaError } from '../lib/errors';
import type { Action } from './actions';
import type { LeaseKeeper } from './lease-keeper';
import type { CopyStep, PostgresOps, Upstream } from './postgres-ops';
import type { MethodOps } from './method-ops';
import { buildReplica } from './create-replica';
import { makeNewCluster } from './new-cluster';
import type { ProgressReport } from '../lib/progress';
import { realScheduler, type Scheduler } from '../lib/clock';
import { initialExecutorMemory, type ExecutorMemory } from './shell-state';
import { planDivergedReplica, planRejoin, type RejoinSettings } from './plan-rejoin';
import { planSync } from './plan-sync';
import { promote } from './execute-promote';
import { publishStatus } from './execute-publish';
import { DEFAULT_DRAIN_TIMEOUT_MS, drainRouters } from './drain-wait';

// Kept importable from here for the simulator's executor (test/support/sim), which lane sim replaces.
export { historyKeyLines, promotionAnnouncement, skippedLines, timelineFilesToWrite } from './timeline-history';

export interface ExecContext {
  view: ClusterView | undefined;
  dynamic: DynamicConfig;
}

export interface ExecutorDeps {
  config: AgentConfig;
  keys: ClusterKeys;
  store: ClusterStore;
  lease: LeaseKeeper;
  ops: PostgresOps;
  /** Replica methods and custom bootstrap commands (absent: basebackup and initdb only). */
  methods?: MethodOps;
  logger: Logger;
  /** Only the CLI may exit the process: it passes this in. */
  exit: (code: number, message: string, why: string) => void;
  /** Wall time of slot retention and history lines (default: the real clock). */
  scheduler?: Scheduler;
  /** Told when a copy step of the running task starts (no report yet), reports progress, and ends (undefined). */
  onProgress?: (step: CopyStep | undefined, report?: ProgressReport) => void;
  /** Told as soon as postgres left recovery, while the promote task goes on (the runner wakes its loop). */
  onPromoted?: () => void;
}

/** Carries out decide's actions and the plans' steps; its bookkeeping between ticks lives in `mem` (shell-state.ts). */
export class Executor {
  constructor(private readonly d: ExecutorDeps, private readonly mem: ExecutorMemory = initialExecutorMemory()) {}

  /** Set while a promote runs and until its CHECKPOINT is done (published as checkpoint_after_promote: false). */
  get checkpointPending(): boolean {
    return this.mem.checkpointPending;
  }

  /** Set while a graceful demote waits for the routers' drain (published as state running). */
  get draining(): boolean {
    return this.mem.draining;
  }

  /** Runs a short action. Returns false when the list must stop (a lost race). */
  async runShort(action: Action, ctx: ExecContext): Promise<boolean> {
    const { store, keys, config } = this.d;
    switch (action.type) {
      case 'acquire_leader': {
        const lease = await this.d.lease.ensureLease();
        const won = await store.createIfAbsent(keys.leader, config.name, lease);
        this.d.logger.info({ won, lease }, won ? 'acquired leader key' : 'lost the leader race');
        if (won) await this.d.lease.keepAliveOnce();
        return won;
      }
      case 'reattach_leader': {
        // Patroni's update_leader: the key is still ours by value but lives on a lease we no longer renew.
        const lease = await this.d.lease.ensureLease();
        const moved = await store.putIfValue(keys.leader, config.name, config.name, lease);
        this.d.logger.info({ moved, lease }, moved ? 're-attached the leader key to our lease' : 'the leader key is no longer ours');
        return moved;
      }
      case 'claim_sync': {
        const value = JSON.stringify({ leader: config.name, sync_standby: null });
        const claimed = action.keyModRevision === undefined
          ? await store.createIfAbsent(keys.sync, value)
          : await store.putIfModRevision(keys.sync, value, action.keyModRevision);
        if (!claimed) {
          this.d.logger.warn('postponing promotion: the sync key was updated by somebody else');
          return false;
        }
        await this.d.ops.setSyncStandbyNames(action.guc);
        return true;
      }
      case 'release_leader':
        await store.deleteIfValue(keys.leader, config.name);
        return true;
      case 'follow':
        await this.d.ops.configure({ role: 'replica', upstream: this.upstreamOf(ctx.view, action.leader) });
        this.d.ops.intend?.('follow');
        await this.d.ops.reload();
        return true;
      case 'write_initialize': {
        const created = await store.createIfAbsent(keys.initialize, action.systemId);
        if (!created) await store.put(keys.initialize, action.systemId);
        return true;
      }
      case 'write_config':
        // The configuration this agent runs on: the last `config` key or its patroni.dynamic.json copy (Patroni's).
        await store.put(keys.config, JSON.stringify(ctx.dynamic.raw ?? config.bootstrap.dcs));
        return true;
      case 'write_failsafe':
        // Written as Patroni does (a plain put): members read it only while failsafe mode is on, to know who may race.
        await store.put(keys.failsafe, JSON.stringify(action.members));
        return true;
      case 'publish_status':
        await publishStatus(this.d, this.mem, ctx);
        return true;
      case 'sync':
        await this.applySync(action, ctx);
        return true;
      case 'clear_failover':
        await store.putIfModRevision(keys.failover, '{}', action.modRevision);
        return true;
      case 'reload': {
        const leader = ctx.view?.leader?.name;
        const primary = leader === config.name && !(await this.d.ops.hasStandbySignal());
        await this.d.ops.configure(primary ? { role: 'primary' } : { role: 'replica', ...(leader && leader !== config.name ? { upstream: this.upstreamOf(ctx.view, leader) } : {}) });
        if (await this.d.ops.isRunning()) await this.d.ops.reload();
        return true;
      }
      case 'refuse_request':
        return true;
      case 'exit':
        this.d.exit(action.code, action.message, action.why);
        return false;
      default:
        throw new PghaError('internal', `action ${action.type} is not a short action`);
    }
  }

  /** Runs a long action to completion (called inside the task slot). */
  async runLong(action: Action, ctx: ExecContext): Promise<void> {
    switch (action.type) {
      case 'bootstrap':
        return this.bootstrap();
      case 'create_replica':
        return this.createReplica(ctx, action.source);
      case 'start_primary':
        await this.d.ops.configure({ role: 'primary' });
        return this.d.ops.start();
      case 'start_replica':
        return this.startReplica(ctx, action.leader);
      case 'promote':
        return promote(this.d, this.mem, ctx, action.reason);
      case 'demote':
        return this.demote(ctx, action.mode, action.leader);
      case 'rewind':
        return this.rewindAndFollow(ctx, action.leader);
      case 'restart':
        return this.restart(ctx, action.leader);
      case 'reinitialize':
        return this.reinitialize(ctx, action.source);
      default:
        throw new PghaError('internal', `action ${action.type} is not a long action`);
    }
  }

  /** Stops postgres now: the self-fencing path, run outside the HA loop when the lock validity runs out. */
  async fence(budgetMs: number): Promise<void> {
    try {
      await this.d.ops.stop('fast', Math.max(500, budgetMs), { fencing: true });
    } catch (err) {
      this.d.logger.warn({ err, budgetMs }, 'fast stop while fencing failed; stopping postgres immediately');
      await this.d.ops.stop('immediate', 5000, { fencing: true });
    }
  }

  /** Stops postgres fast, immediately when that fails or times out (a restart, a demotion, before a rewind). */
  private async stopFastElseImmediate(why: string): Promise<void> {
    try {
      await this.d.ops.stop('fast', 60_000);
    } catch (err) {
      this.d.logger.warn({ err, why }, 'fast stop failed; stopping postgres immediately');
      await this.d.ops.stop('immediate', 10_000);
    }
  }

  /** A cleanup step after a failure that is already being reported: its own failure is logged, not thrown. */
  private async cleanup(step: string, run: () => Promise<unknown>): Promise<void> {
    await run().catch((err: unknown) => this.d.logger.warn({ err, step }, 'cleanup step failed'));
  }

  private async bootstrap(): Promise<void> {
    const { store, keys, config, ops, logger } = this.d;
    if (!(await store.createIfAbsent(keys.initialize, ''))) {
      logger.info('lost the initialize race; another member bootstraps');
      return;
    }
    try {
      await ops.wipeDataDir();
      await makeNewCluster(this.d);
      const control = await ops.controlData();
      if (!control) throw new PghaError('bootstrap_failed', 'pg_controldata gave no system identifier after initdb');
      const lease = await this.d.lease.ensureLease();
      await store.put(keys.initialize, control.systemId);
      await store.put(keys.config, JSON.stringify(config.bootstrap.dcs));
      await store.put(keys.leader, config.name, lease);
      await this.d.lease.keepAliveOnce();
      await store.put(keys.history, '[]');
      logger.info({ systemId: control.systemId }, 'initialized a new cluster');
    } catch (err) {
      logger.error({ err }, 'bootstrap failed; removing the initialize key and the data directory');
      await this.cleanup('stop postgres', () => ops.stop('immediate', 10_000));
      await this.cleanup('delete the initialize key', () => store.deleteIfValue(keys.initialize, ''));
      await this.cleanup('wipe the data directory', () => ops.wipeDataDir());
      throw err;
    }
  }

  private async createReplica(ctx: ExecContext, source: string | undefined): Promise<void> {
    const { ops } = this.d;
    await buildReplica(this.d, source === undefined ? undefined : this.upstreamOf(ctx.view, source), (from) => this.basebackup(from));
    const leader = ctx.view?.leader?.name;
    await ops.configure({ role: 'replica', ...(leader ? { upstream: this.upstreamOf(ctx.view, leader) } : {}) });
    await ops.start();
  }

  private async startReplica(ctx: ExecContext, leader: string | undefined): Promise<void> {
    const { ops } = this.d;
    if (!leader) {
      await ops.configure({ role: 'replica' });
      return ops.start();
    }
    const upstream = this.upstreamOf(ctx.view, leader);
    const control = await ops.controlData();
    const formerPrimary = control !== undefined && !/recovery/.test(control.clusterState) && !(await ops.hasStandbySignal());
    // Patroni's rewind check: a cleanly stopped former primary whose WAL ends where the leader left its timeline just
    // starts as a replica (no pg_rewind, no re-clone: its unmanaged slots and files stay).
    if (formerPrimary && (await formerPrimaryNeedsRewind(ops, control, ctx.view, leader, this.d.logger))) await this.rejoinAsReplica(ctx, upstream);
    await ops.configure({ role: 'replica', upstream });
    await ops.start();
  }

  /** Rewind, wipe or move aside as planRejoin says, then clone again unless the plan starts the node as it is. */
  private async rejoinAsReplica(ctx: ExecContext, upstream: Upstream): Promise<void> {
    const { ops, logger } = this.d;
    const plan = planRejoin(this.rejoinSettings(ctx), ctx.view?.members.get(upstream.name)?.doc.checkpoint_after_promote === false);
    if (plan.step === 'wait_for_checkpoint') {
      throw new PghaError('waiting_for_checkpoint', `waiting for checkpoint on ${upstream.name} before rewind`, true);
    }
    if (plan.tryRewind && (await this.rewind(upstream))) {
      logger.info({ leader: upstream.name }, 'rewound former primary');
      return;
    }
    if (plan.fallback === 'start_as_is') return;
    if (plan.fallback === 'wipe') {
      logger.warn({ leader: upstream.name, reason: plan.reason }, 'rewind failed; removing the data directory and cloning again');
      await ops.wipeDataDir();
    } else {
      const aside = await ops.moveDataDirAside();
      logger.warn({ leader: upstream.name, movedTo: aside, reason: plan.reason }, 'rewind failed; moved the diverged data directory aside and cloning again');
    }
    // Patroni re-clones through create_replica too: a pgBackRest/WAL-G restore spares the leader a full copy.
    await buildReplica(this.d, upstream, (from) => this.basebackup(from));
  }

  private rejoinSettings(ctx: ExecContext): RejoinSettings {
    const pg = this.d.config.postgresql;
    return {
      usePgRewind: Boolean(pg.usePgRewind ?? ctx.dynamic.postgresql.usePgRewind),
      removeDataDirectoryOnRewindFailure: Boolean(pg.removeDataDirectoryOnRewindFailure),
      removeDataDirectoryOnDivergedTimelines: Boolean(pg.removeDataDirectoryOnDivergedTimelines),
    };
  }

  private basebackup(from: Upstream): Promise<void> {
    return this.copying('basebackup', (onProgress) => this.d.ops.basebackup(from, onProgress));
  }

  private rewind(from: Upstream): Promise<boolean> {
    return this.copying('rewind', (onProgress) => this.d.ops.rewind(from, onProgress));
  }

  /** Runs one copy step, telling onProgress when it starts, how it goes, and that it ended (however it ended). */
  private async copying<T>(step: CopyStep, run: (onProgress: (report: ProgressReport) => void) => Promise<T>): Promise<T> {
    const tell = this.d.onProgress;
    tell?.(step);
    try {
      return await run((report) => tell?.(step, report));
    } finally {
      tell?.(undefined);
    }
  }

  /** A running replica whose WAL diverged from the leader's (decide saw it past the leader's timeline switch). */
  private async rewindAndFollow(ctx: ExecContext, leader: string): Promise<void> {
    const { ops, logger } = this.d;
    const upstream = this.upstreamOf(ctx.view, leader);
    const plan = planDivergedReplica(this.rejoinSettings(ctx), ctx.view?.members.get(leader)?.doc.checkpoint_after_promote === false);
    if (plan.step === 'follow_as_is') {
      logger.warn({ leader }, 'WAL diverged from the leader but use_pg_rewind is off: following without a rewind');
      await ops.configure({ role: 'replica', upstream });
      ops.intend?.('follow');
      await ops.reload();
      return;
    }
    if (plan.step === 'wait_for_checkpoint') {
      throw new PghaError('waiting_for_checkpoint', `waiting for checkpoint on ${leader} before rewind`, true);
    }
    // Nothing is stopped unless the leader answers as a primary: a rewind (or a re-clone) from a dead one could only fail.
    const primary = await ops.upstreamIsPrimary(upstream).catch((err: unknown) => {
      logger.warn({ err, leader }, 'asking the leader whether it is a primary failed');
      return false;
    });
    if (!primary) throw new PghaError('leader_unreachable', `${leader} does not answer as a primary; not rewinding now`, true);
    await this.stopFastElseImmediate('rewind');
    await this.rejoinAsReplica(ctx, upstream);
    await ops.configure({ role: 'replica', upstream });
    await ops.start();
  }

  /** Operator restart: stop fast (immediate when that times out) and start again in the role postgres had. */
  private async restart(ctx: ExecContext, leader: string | undefined): Promise<void> {
    const { ops } = this.d;
    const replica = await ops.hasStandbySignal();
    ops.intend?.('restart');
    await this.stopFastElseImmediate('restart');
    if (!replica) await ops.configure({ role: 'primary' });
    else await ops.configure({ role: 'replica', ...(leader ? { upstream: this.upstreamOf(ctx.view, leader) } : {}) });
    await ops.start();
  }

  /** Operator reinit: stop, wipe the data directory and clone again from the leader. */
  private async reinitialize(ctx: ExecContext, source: string): Promise<void> {
    // Postgres may already be down (the usual reason to reinitialize); the wipe that follows needs it stopped.
    await this.d.ops.stop('immediate', 10_000).catch((err: unknown) => this.d.logger.info({ err }, 'stopping postgres before reinitializing failed'));
    await this.createReplica(ctx, source);
  }

  private async demote(ctx: ExecContext, mode: 'offline' | 'immediate-nolock' | 'graceful', leader?: string): Promise<void> {
    const { ops } = this.d;
    if (mode === 'immediate-nolock') await ops.stop('immediate', 10_000);
    else if (mode === 'graceful') {
      // A planned switchover: the routers drain this member first (drain-wait.ts), then postgres stops as before.
      this.mem.draining = true;
      const undrain = await drainRouters({ ...this.d, name: this.d.config.name, scheduler: this.d.scheduler ?? realScheduler }, ctx.view, this.d.config.switchoverDrain?.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS)
        .finally(() => (this.mem.draining = false));
      ops.intend?.('graceful_demote');
      await this.stopFastElseImmediate('graceful demote');
      await this.d.store.deleteIfValue(this.d.keys.leader, this.d.config.name);
      await undrain?.();
    } else await this.fence(this.d.lease.fenceMarginMs);
    if (leader && ctx.view?.members.has(leader)) return this.startReplica(ctx, leader);
    await ops.configure({ role: 'replica' });
    await ops.start();
  }

  /** Carries out planSync's steps in order (plan-sync.ts says why the order matters). */
  private async applySync(a: Extract<Action, { type: 'sync' }>, ctx: ExecContext): Promise<void> {
    const { store, keys, config, ops } = this.d;
    for (const step of planSync(a, ctx.view?.sync, config.name)) {
      if (step.type === 'set_guc') await ops.setSyncStandbyNames(step.value);
      else if (step.type === 'delete_key') await store.deleteIfModRevision(keys.sync, step.modRevision);
      else {
        const ok = step.modRevision === undefined
          ? await store.createIfAbsent(keys.sync, step.value)
          : await store.putIfModRevision(keys.sync, step.value, step.modRevision);
        if (!ok) throw new PghaError('sync_key_conflict', 'the sync key changed under us; retrying next cycle', true);
      }
    }
  }

  upstreamOf(view: ClusterView | undefined, name: string): Upstream {
    const m = view?.members.get(name);
    if (!m?.host || !m.port) throw new PghaError('no_upstream', `member ${name} has no usable conn_url`, true);
    return { name, host: m.host, port: m.port };
  }
}
