/**
 * Executors: each action of decide() becomes a few effects with deadlines. Short actions run inline in the tick;
 * long ones run as the single-flight task of TaskSlot while the loop keeps ticking and the lease stays renewed.
 */
import type { ClusterStore } from '../dcs/store';
import type { ClusterView } from '../model/cluster';
import type { ClusterKeys } from '../model/keys';
import { slotNameFromMemberName } from '../model/keys';
import type { AgentConfig, DynamicConfig } from '../config/types';
import type { Logger } from '../log/logger';
import { PghaError } from '../lib/errors';
import type { Action } from './actions';
import type { LeaseKeeper } from './lease-keeper';
import type { PostgresOps, Upstream } from './postgres-ops';

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
  logger: Logger;
  /** Only the CLI may exit the process: it passes this in. */
  exit: (code: number, message: string, why: string) => void;
}

export class Executor {
  /** Set while a promote runs and until its CHECKPOINT is done (published as checkpoint_after_promote: false). */
  checkpointPending = false;
  private lastStatus = '';
  private managedSlots = new Map<string, number>();

  constructor(private readonly d: ExecutorDeps) {}

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
      case 'release_leader':
        await store.deleteIfValue(keys.leader, config.name);
        return true;
      case 'follow':
        await this.d.ops.configure({ role: 'replica', upstream: this.upstreamOf(ctx.view, action.leader) });
        await this.d.ops.reload();
        return true;
      case 'write_initialize': {
        const created = await store.createIfAbsent(keys.initialize, action.systemId);
        if (!created) await store.put(keys.initialize, action.systemId);
        return true;
      }
      case 'write_config':
        await store.put(keys.config, JSON.stringify(config.bootstrap.dcs));
        return true;
      case 'publish_status':
        await this.publishStatus(ctx);
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
        return this.promote(ctx, action.reason);
      case 'demote':
        return this.demote(ctx, action.mode, action.leader);
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
      await this.d.ops.stop('fast', Math.max(500, budgetMs));
    } catch {
      await this.d.ops.stop('immediate', 5000);
    }
  }

  private async bootstrap(): Promise<void> {
    const { store, keys, config, ops, logger } = this.d;
    if (!(await store.createIfAbsent(keys.initialize, ''))) {
      logger.info('lost the initialize race; another member bootstraps');
      return;
    }
    try {
      await ops.wipeDataDir();
      await ops.initdb();
      await ops.configure({ role: 'primary' });
      await ops.start();
      await ops.createRoles();
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
      logger.error({ err: String(err) }, 'bootstrap failed; removing the initialize key and the data directory');
      await ops.stop('immediate', 10_000).catch(() => undefined);
      await store.deleteIfValue(keys.initialize, '').catch(() => undefined);
      await ops.wipeDataDir().catch(() => undefined);
      throw err;
    }
  }

  private async createReplica(ctx: ExecContext, source: string): Promise<void> {
    const { ops } = this.d;
    await ops.wipeDataDir();
    try {
      await ops.basebackup(this.upstreamOf(ctx.view, source));
    } catch (err) {
      await ops.wipeDataDir().catch(() => undefined);
      throw err;
    }
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
    if (formerPrimary) await this.rejoinAsReplica(ctx, upstream);
    await ops.configure({ role: 'replica', upstream });
    await ops.start();
  }

  /**
   * A former primary may hold WAL the new leader never had: rewind it before it follows. When the rewind fails,
   * `remove_data_directory_on_rewind_failure` wipes and re-clones (Patroni); otherwise pgha moves the diverged data
   * directory aside (kept for inspection, never deleted) and re-clones, so the node heals without a manual step.
   */
  private async rejoinAsReplica(ctx: ExecContext, upstream: Upstream): Promise<void> {
    const { ops, logger, config } = this.d;
    const leaderDoc = ctx.view?.members.get(upstream.name)?.doc;
    if (leaderDoc?.checkpoint_after_promote === false) {
      throw new PghaError('waiting_for_checkpoint', `waiting for checkpoint on ${upstream.name} before rewind`, true);
    }
    const useRewind = config.postgresql.usePgRewind ?? ctx.dynamic.postgresql.usePgRewind;
    if (useRewind && (await ops.rewind(upstream))) {
      logger.info({ leader: upstream.name }, 'rewound former primary');
      return;
    }
    if (!useRewind && !config.postgresql.removeDataDirectoryOnDivergedTimelines) return;
    if (config.postgresql.removeDataDirectoryOnRewindFailure || config.postgresql.removeDataDirectoryOnDivergedTimelines) {
      logger.warn({ leader: upstream.name }, 'rewind failed; removing the data directory and cloning again');
      await ops.wipeDataDir();
    } else {
      const aside = await ops.moveDataDirAside();
      logger.warn({ leader: upstream.name, movedTo: aside }, 'rewind failed; moved the diverged data directory aside and cloning again');
    }
    await ops.basebackup(upstream);
  }

  private async promote(ctx: ExecContext, reason: string): Promise<void> {
    const { ops, store, keys, config, logger } = this.d;
    const before = await ops.probe();
    this.checkpointPending = true;
    try {
      await ops.promote();
      await ops.configure({ role: 'primary' });
      const history = await this.readHistory();
      const oldTimeline = before.timeline ?? 1;
      const switchLsn = before.replayLsn ?? before.receiveLsn ?? 0;
      history.push([oldTimeline, switchLsn, reason, new Date().toISOString(), config.name]);
      await store.put(keys.history, JSON.stringify(history));
      await ops.checkpoint();
      logger.info({ timeline: oldTimeline + 1, reason }, 'promoted');
    } finally {
      this.checkpointPending = false;
    }
    void ctx;
  }

  private async readHistory(): Promise<unknown[]> {
    const kv = await this.d.store.get(this.d.keys.history);
    try {
      const parsed: unknown = kv ? JSON.parse(kv.value) : [];
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  }

  /** Operator restart: stop fast (immediate when that times out) and start again in the role postgres had. */
  private async restart(ctx: ExecContext, leader: string | undefined): Promise<void> {
    const { ops } = this.d;
    const replica = await ops.hasStandbySignal();
    await ops.stop('fast', 60_000).catch(() => ops.stop('immediate', 10_000));
    if (!replica) await ops.configure({ role: 'primary' });
    else await ops.configure({ role: 'replica', ...(leader ? { upstream: this.upstreamOf(ctx.view, leader) } : {}) });
    await ops.start();
  }

  /** Operator reinit: stop, wipe the data directory and clone again from the leader. */
  private async reinitialize(ctx: ExecContext, source: string): Promise<void> {
    await this.d.ops.stop('immediate', 10_000).catch(() => undefined);
    await this.createReplica(ctx, source);
  }

  private async demote(ctx: ExecContext, mode: 'offline' | 'immediate-nolock' | 'graceful', leader?: string): Promise<void> {
    const { ops } = this.d;
    if (mode === 'immediate-nolock') await ops.stop('immediate', 10_000);
    else if (mode === 'graceful') await ops.stop('fast', 60_000).catch(() => ops.stop('immediate', 10_000));
    else await this.fence(this.d.lease.fenceMarginMs);
    if (mode === 'graceful') await this.d.store.deleteIfValue(this.d.keys.leader, this.d.config.name);
    if (leader && ctx.view?.members.has(leader)) return this.startReplica(ctx, leader);
    await ops.configure({ role: 'replica' });
    await ops.start();
  }

  /**
   * Sync mode order (reference §7.4): a standby leaves the `sync` key before it leaves synchronous_standby_names,
   * and enters the key only after postgres reports it synchronous (decide publishes only confirmed ones).
   */
  private async applySync(a: Extract<Action, { type: 'sync' }>, ctx: ExecContext): Promise<void> {
    const { store, keys, config, ops } = this.d;
    if (a.off) {
      if (a.keyModRevision !== undefined) await store.deleteIfModRevision(keys.sync, a.keyModRevision);
      await ops.setSyncStandbyNames(undefined);
      return;
    }
    const old = ctx.view?.sync?.leader === config.name ? ctx.view.sync.syncStandby : [];
    const next = [...a.standbys].sort();
    const keyValue = JSON.stringify({ leader: config.name, sync_standby: next.length ? next.join(',') : null });
    const keyChanged = ctx.view?.sync?.leader !== config.name || old.slice().sort().join(',') !== next.join(',');
    const writeKey = async () => {
      if (!keyChanged) return;
      const ok = a.keyModRevision === undefined
        ? await store.createIfAbsent(keys.sync, keyValue)
        : await store.putIfModRevision(keys.sync, keyValue, a.keyModRevision);
      if (!ok) throw new PghaError('sync_key_conflict', 'the sync key changed under us; retrying next cycle', true);
    };
    const removed = old.some((n) => !next.includes(n));
    if (removed) {
      await writeKey();
      await ops.setSyncStandbyNames(a.guc);
    } else {
      await ops.setSyncStandbyNames(a.guc);
      await writeKey();
    }
  }

  private async publishStatus(ctx: ExecContext): Promise<void> {
    const probe = await this.d.ops.probe();
    if (probe.flushLsn !== undefined) {
      const status = JSON.stringify({ optime: probe.flushLsn });
      if (status !== this.lastStatus) {
        await this.d.store.put(this.d.keys.status, status);
        this.lastStatus = status;
      }
    }
    if (ctx.dynamic.postgresql.useSlots && ctx.view) await this.syncSlots(ctx.view);
  }

  /**
   * A physical slot per other member, so a slow replica never loses WAL. Slots of members whose keys vanished are
   * kept for MEMBER_SLOT_RETENTION_MS (a restarted node resumes without a new basebackup), then dropped.
   */
  private async syncSlots(view: ClusterView): Promise<void> {
    const now = Date.now();
    for (const m of view.members.values()) {
      if (m.name !== this.d.config.name) this.managedSlots.set(slotNameFromMemberName(m.name), now);
    }
    const wanted = [...this.managedSlots].filter(([, seen]) => now - seen < MEMBER_SLOT_RETENTION_MS).map(([s]) => s);
    const expired = [...this.managedSlots].filter(([, seen]) => now - seen >= MEMBER_SLOT_RETENTION_MS).map(([s]) => s);
    await this.d.ops.ensureSlots(wanted);
    if (expired.length) {
      await this.d.ops.dropSlots(expired);
      for (const s of expired) this.managedSlots.delete(s);
    }
  }

  upstreamOf(view: ClusterView | undefined, name: string): Upstream {
    const m = view?.members.get(name);
    if (!m?.host || !m.port) throw new PghaError('no_upstream', `member ${name} has no usable conn_url`, true);
    return { name, host: m.host, port: m.port };
  }
}

/** Patroni 4's member_slots_ttl default (30 min). */
const MEMBER_SLOT_RETENTION_MS = 30 * 60 * 1000;
