/**
 * Executors: each action of decide() becomes a few effects with deadlines. Short actions run inline in the tick;
 * long ones run as the single-flight task of TaskSlot while the loop keeps ticking and the lease stays renewed.
 */
import type { ClusterStore } from '../dcs/store';
import type { ClusterView, HistoryLine } from '../model/cluster';
import { formatLsn } from '../model/lsn';
import { formerPrimaryNeedsRewind } from './rejoin';
import type { PostgresProbe } from '../model/postgres-state';
import type { ClusterKeys } from '../model/keys';
import { slotNameFromMemberName } from '../model/keys';
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
}

export class Executor {
  /** Set while a promote runs and until its CHECKPOINT is done (published as checkpoint_after_promote: false). */
  checkpointPending = false;
  private lastStatus = '';
  /** `<timeline>:<history key>` last found to match postgres' own timeline history (no read needed while it holds). */
  private historyChecked = '';
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
    } catch {
      await this.d.ops.stop('immediate', 5000, { fencing: true });
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
      logger.error({ err: String(err) }, 'bootstrap failed; removing the initialize key and the data directory');
      await ops.stop('immediate', 10_000).catch(() => undefined);
      await store.deleteIfValue(keys.initialize, '').catch(() => undefined);
      await ops.wipeDataDir().catch(() => undefined);
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

  /**
   * A former primary may hold WAL the new leader never had: rewind it before it follows. When the rewind fails,
   * `remove_data_directory_on_rewind_failure` wipes and re-clones (Patroni); otherwise pgha moves the diverged data
   * directory aside (kept for inspection, never deleted) and re-clones with the create_replica_methods chain (as
   * Patroni does), so the node heals without a manual step.
   */
  private async rejoinAsReplica(ctx: ExecContext, upstream: Upstream): Promise<void> {
    const { ops, logger, config } = this.d;
    const leaderDoc = ctx.view?.members.get(upstream.name)?.doc;
    if (leaderDoc?.checkpoint_after_promote === false) {
      throw new PghaError('waiting_for_checkpoint', `waiting for checkpoint on ${upstream.name} before rewind`, true);
    }
    const useRewind = config.postgresql.usePgRewind ?? ctx.dynamic.postgresql.usePgRewind;
    if (useRewind && (await this.rewind(upstream))) {
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
    // Patroni re-clones through create_replica too: a pgBackRest/WAL-G restore spares the leader a full copy.
    await buildReplica(this.d, upstream, (from) => this.basebackup(from));
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

  /**
   * A running replica whose WAL diverged from the leader's (decide saw it past the leader's timeline switch): stop it,
   * rewind it (or re-clone, as rejoinAsReplica decides) and start it as the leader's replica. When neither rewind nor
   * re-cloning is allowed, it only follows (Patroni logs the same and waits for an operator).
   */
  private async rewindAndFollow(ctx: ExecContext, leader: string): Promise<void> {
    const { ops, logger, config } = this.d;
    const upstream = this.upstreamOf(ctx.view, leader);
    const useRewind = config.postgresql.usePgRewind ?? ctx.dynamic.postgresql.usePgRewind;
    if (!useRewind && !config.postgresql.removeDataDirectoryOnDivergedTimelines) {
      logger.warn({ leader }, 'WAL diverged from the leader but use_pg_rewind is off: following without a rewind');
      await ops.configure({ role: 'replica', upstream });
      ops.intend?.('follow');
      await ops.reload();
      return;
    }
    if (ctx.view?.members.get(leader)?.doc.checkpoint_after_promote === false) {
      throw new PghaError('waiting_for_checkpoint', `waiting for checkpoint on ${leader} before rewind`, true);
    }
    // Nothing is stopped unless the leader answers as a primary: a rewind (or a re-clone) from a dead one could only fail.
    if (!(await ops.upstreamIsPrimary(upstream).catch(() => false))) {
      throw new PghaError('leader_unreachable', `${leader} does not answer as a primary; not rewinding now`, true);
    }
    await ops.stop('fast', 60_000).catch(() => ops.stop('immediate', 10_000));
    await this.rejoinAsReplica(ctx, upstream);
    await ops.configure({ role: 'replica', upstream });
    await ops.start();
  }

  private async promote(ctx: ExecContext, reason: string): Promise<void> {
    const { ops, store, keys, config, logger } = this.d;
    if (ops.prePromote && !(await ops.prePromote())) {
      throw new PghaError('pre_promote_failed', 'the pre_promote script did not exit 0: not promoting', true);
    }
    // Patroni cancels a pre_promote when the lock is lost meanwhile; the script may have run for minutes: look again.
    if (ops.prePromote && (await store.get(keys.leader))?.value !== config.name) {
      throw new PghaError('lost_leader_before_promote', 'the leader key is no longer mine after pre_promote: not promoting', true);
    }
    const before = await ops.probe();
    this.checkpointPending = true;
    try {
      const files = await this.announcePromotion(ctx, before, reason);
      await this.avoidTimelineCollision(files);
      await ops.promote();
      await ops.configure({ role: 'primary' });
      const current = await this.readHistory();
      const oldTimeline = before.timeline ?? 1;
      const after = await ops.probe().catch(() => undefined);
      const newTimeline = after?.timeline && after.timeline > oldTimeline ? after.timeline : oldTimeline + 1;
      // The new timeline's history file says where postgres really left its timeline; without it, the position seen
      // before promoting, appended to the key as it was.
      const own = await ops.timelineHistory(newTimeline).catch(() => []);
      const last = own[own.length - 1];
      const promotion = [last ? last[0] : oldTimeline, last ? last[1] : before.replayLsn ?? before.receiveLsn ?? 0, reason, this.wallIso(), config.name];
      const history = own.length
        ? historyKeyLines(own.slice(0, -1), own[own.length - 1]![0], current as HistoryLine[]).concat([promotion], skippedLines(promotion[0] as number, newTimeline, promotion[1] as number))
        : [...current, promotion];
      await store.put(keys.history, JSON.stringify(history));
      await ops.checkpoint();
      logger.info({ timeline: newTimeline, reason }, 'promoted');
    } finally {
      this.checkpointPending = false;
    }
  }

  /**
   * Finding E (test/support/sim/FINDINGS.md): when the cluster already left my timeline k at or before my position X
   * (a leader promoted from k and was lost), `pg_ctl promote` would pick timeline k+1 again, and at X with the same
   * history, so that leader's diverged data could never be told apart. Give postgres history files of the timelines
   * after k first (timelineFilesToWrite), as an archive would: it then selects a timeline no member used, which the
   * rewind check and pg_rewind handle. Tested on PostgreSQL 15: with 00000002.history forking at its position, a
   * timeline-1 replica logs "new target timeline is 2" and promotes to 3 with history [1, X], [2, X]. A file whose
   * history forks off later than my position would become the recovery target and give an inconsistent history:
   * never written (finding G: when the cluster left k at or after my position, the files switch at my position).
   */
  private async avoidTimelineCollision(files: ReadonlyArray<readonly [number, ReadonlyArray<readonly [number, number]>]>): Promise<void> {
    for (const [timeline, lines] of files) {
      const text = lines.map(([tl, lsn]) => `${tl}\t${formatLsn(lsn)}\tno recovery target specified\n`).join('');
      if (await this.d.ops.writeTimelineHistory(timeline, text)) {
        this.d.logger.info({ timeline }, 'wrote the cluster\'s history file of a timeline already used, before promoting');
      }
    }
  }

  /**
   * Before `pg_ctl promote`, the history key learns the timeline number this promotion takes (findings E, G): a
   * promotion the cluster never heard of (its history write lost when the new leader was cut off at once) would let
   * the next one, from the same position, reuse the same number and history. The line is the one for the timeline
   * postgres leaves (promotionAnnouncement): mine, or the newest of the files it is given to skip the numbers in use.
   * A failed write fails the promotion (the leader retries next cycle). The key is rewritten from the new history
   * file after the promotion. Returns the files to write (timelineFilesToWrite), from the key read here.
   */
  private async announcePromotion(ctx: ExecContext, before: PostgresProbe, reason: string): Promise<Array<[number, Array<[number, number]>]>> {
    const timeline = before.timeline;
    if (!timeline || before.inRecovery !== true) return [];
    const current = await this.readHistory();
    const members = [...(ctx.view?.members.values() ?? [])].map((m) => Number(m.doc.timeline ?? 0) || 0);
    const own = await this.d.ops.timelineHistory(timeline).catch(() => undefined);
    const files = timelineFilesToWrite(current as HistoryLine[], before, Math.max(0, ...members), own);
    const ends = promotionAnnouncement(current as HistoryLine[], files, timeline);
    if (ends === undefined) return files;
    const lsn = before.replayLsn ?? before.receiveLsn ?? 0;
    await this.d.store.put(this.d.keys.history, JSON.stringify([...current, [ends, lsn, reason, this.wallIso(), this.d.config.name]]));
    return files;
  }

  private async readHistory(): Promise<unknown[]> {
    const kv = await this.d.store.get(this.d.keys.history);
    try {
      const parsed: unknown = kv ? JSON.parse(kv.value) : [];
      // Lines that are not lists (garbage written by hand) are dropped; the key is rewritten from postgres' history.
      return Array.isArray(parsed) ? parsed.filter((l) => Array.isArray(l)) : [];
    } catch {
      return [];
    }
  }

  /** Operator restart: stop fast (immediate when that times out) and start again in the role postgres had. */
  private async restart(ctx: ExecContext, leader: string | undefined): Promise<void> {
    const { ops } = this.d;
    const replica = await ops.hasStandbySignal();
    ops.intend?.('restart');
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
    else if (mode === 'graceful') {
      ops.intend?.('graceful_demote');
      await ops.stop('fast', 60_000).catch(() => ops.stop('immediate', 10_000));
    } else await this.fence(this.d.lease.fenceMarginMs);
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
    if (probe.reachable && probe.inRecovery === false && probe.timeline && ctx.view) {
      await this.syncHistory(ctx.view, probe.timeline).catch((err) => this.d.logger.warn({ err: String(err) }, 'updating the history key failed'));
    }
    if (ctx.dynamic.postgresql.useSlots && ctx.view) await this.syncSlots(ctx.view);
  }

  /**
   * Patroni's update_cluster_history: the `history` key follows the leader's own timeline history file, so that a
   * promotion whose history write failed, or an LSN recorded before the switch, is corrected on the next cycle.
   * Replicas check divergence against it (decide's whyDiverged). A line's reason, time and member are kept.
   */
  private async syncHistory(view: ClusterView, timeline: number): Promise<void> {
    const current = view.history ?? [];
    const signature = `${timeline}:${JSON.stringify(current)}`;
    if (signature === this.historyChecked) return;
    const wanted = historyKeyLines(await this.d.ops.timelineHistory(timeline), timeline, current);
    const text = JSON.stringify(wanted);
    if (view.history === undefined || text !== JSON.stringify(current)) {
      await this.d.store.put(this.d.keys.history, text);
      this.d.logger.info({ timeline, history: text }, 'history key updated from the timeline history');
    }
    this.historyChecked = `${timeline}:${text}`;
  }

  /**
   * A physical slot per other member, so a slow replica never loses WAL. Slots of members whose keys vanished are
   * kept for MEMBER_SLOT_RETENTION_MS (a restarted node resumes without a new basebackup), then dropped.
   */
  private async syncSlots(view: ClusterView): Promise<void> {
    const now = (this.d.scheduler ?? realScheduler).wallNow();
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

  private wallIso(): string {
    return new Date((this.d.scheduler ?? realScheduler).wallNow()).toISOString();
  }

  upstreamOf(view: ClusterView | undefined, name: string): Upstream {
    const m = view?.members.get(name);
    if (!m?.host || !m.port) throw new PghaError('no_upstream', `member ${name} has no usable conn_url`, true);
    return { name, host: m.host, port: m.port };
  }
}

/** Patroni 4's member_slots_ttl default (30 min). */
const MEMBER_SLOT_RETENTION_MS = 30 * 60 * 1000;

/**
 * The history files a promoting replica needs so that postgres picks a timeline no member used (avoidTimelineCollision):
 * one for each timeline after mine up to the cluster's newest (its history's, or a member key's `newestKnown`); postgres
 * counts them all, and takes the newest as its recovery target when its history left my timeline at or after my
 * position. Empty unless the cluster's history left my timeline.
 * - Left before my position: the cluster's chain of switches before each timeline. No file can become the target
 *   (each left my timeline before my position); postgres switches from my timeline, at my position, to a free number.
 * - Left at or after my position: a file saying what the cluster's does after my position would become the target
 *   with a history my WAL does not have; stopping short of the newest (as the first version did) promoted to a number
 *   in use with another history, and a replica on that timeline streams from any position with no history check
 *   (simulator seeds 8549, 9684: a number skipped by a member ahead of its fork, reused by one at the fork point).
 *   So every file is my own history (`own`, the file of my timeline) then leaves my timeline, and each later one, at
 *   my position: postgres promotes to the first free number with my timeline up to my position, then empty
 *   timelines. pg_rewind and the rewind check compare that history with the other members' as with any other: it
 *   forks at my position.
 */
export function timelineFilesToWrite(
  history: readonly HistoryLine[] | undefined, before: PostgresProbe, newestKnown = 0,
  own?: ReadonlyArray<readonly [number, number, ...unknown[]]>,
): Array<[number, Array<[number, number]>]> {
  const timeline = before.timeline;
  if (!history || !timeline || before.inRecovery !== true) return [];
  // Postgres compares a fork point with its replay position.
  const mine = before.replayLsn ?? before.receiveLsn ?? 0;
  const chain = new Map<number, number>();
  for (const line of history) if (Array.isArray(line)) chain.set(Number(line[0]), Number(line[1]));
  const left = chain.get(timeline);
  if (left === undefined || !Number.isFinite(left)) return [];
  const sorted = [...chain].filter(([tl, lsn]) => tl > 0 && Number.isFinite(lsn)).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, Array<[number, number]>]> = [];
  // The newest timeline in use: after the last switch, or a member's (a timeline can skip numbers).
  const newest = Math.max(newestKnown, ...sorted.map(([tl]) => tl + 1));
  // My own history before my timeline, never the key's: the key follows the lineage of the last leader, whose
  // timeline of my number may be another one (a number it skipped: seed 9261 wrote [3, 445000] from the key where its
  // own timeline 4 left 3 at 397000, and a replica of 3 at 398000 then followed it). Unknown: nothing to write.
  const ancestors = timeline === 1 ? [] : own?.map(([tl, lsn]): [number, number] => [tl, lsn]);
  if (left >= mine && !ancestors) return [];
  for (let next = timeline + 1; next <= newest; next++) {
    if (left < mine) {
      out.push([next, sorted.filter(([tl]) => tl < next)]);
    } else {
      const atMine: Array<[number, number]> = [];
      for (let tl = timeline; tl < next; tl++) atMine.push([tl, mine]);
      out.push([next, [...(ancestors ?? []), ...atMine]]);
    }
  }
  return out;
}

/**
 * The timeline whose line a promotion adds to the history key before `pg_ctl promote` (announcePromotion): the one
 * postgres will leave, so that the number it takes (the next one) counts as in use: the newest of `files` when there
 * are some (postgres counts them and takes the number after), else mine. Undefined when the key already has a line
 * for it or a later one.
 */
export function promotionAnnouncement(current: readonly HistoryLine[], files: ReadonlyArray<readonly [number, unknown]>, timeline: number): number | undefined {
  const ends = files.length ? files[files.length - 1]![0] : timeline;
  return current.some((l) => Array.isArray(l) && Number(l[0]) >= ends) ? undefined : ends;
}

const SKIPPED = 'skipped: the number was used by another member';

/** Lines for timelines `from`+1 … `to`−1 that a promotion skipped (avoidTimelineCollision), left where it forked. */
export function skippedLines(from: number, to: number, lsn: number): unknown[][] {
  const out: unknown[][] = [];
  for (let t = from + 1; t < to; t++) out.push([t, lsn, SKIPPED]);
  return out;
}

/**
 * The `history` key for a leader on `timeline` from its timeline history file (Patroni's update_cluster_history):
 * each line keeps the reason, time and member the key had for that timeline; a timeline number the history skipped
 * (avoidTimelineCollision) gets a line too, so the cluster's newest timeline stays known after its member is gone.
 */
export function historyKeyLines(file: ReadonlyArray<readonly [number, number, string]>, timeline: number, current: readonly HistoryLine[]): unknown[][] {
  const byTimeline = new Map(current.filter((l) => Array.isArray(l)).map((l) => [Number(l[0]), l] as const));
  const out: unknown[][] = [];
  file.forEach(([tl, lsn, reason], i) => {
    const known = byTimeline.get(tl);
    out.push(known ? [tl, lsn, ...known.slice(2)] : [tl, lsn, reason]);
    out.push(...skippedLines(tl, i + 1 < file.length ? file[i + 1]![0] : timeline, lsn));
  });
  return out;
}
