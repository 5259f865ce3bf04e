/**
 * The promotion's effects and the `history` key's upkeep: read what timeline-history.ts needs, write what it plans.
 * Run by the Executor (a promote action; publish_status on the leader).
 */
import type { ClusterView, HistoryLine } from '../model/cluster';
import { formatLsn } from '../model/lsn';
import type { PostgresProbe } from '../model/postgres-state';
import { PghaError } from '../lib/errors';
import { realScheduler } from '../lib/clock';
import type { ExecContext, ExecutorDeps } from './execute';
import type { ExecutorMemory } from './shell-state';
import { announcedHistory, historyAfterPromotion, historyKeyLines, timelineFilesToWrite } from './timeline-history';

type Files = Array<[number, Array<[number, number]>]>;

export async function promote(d: ExecutorDeps, mem: ExecutorMemory, ctx: ExecContext, reason: string): Promise<void> {
  const { ops, store, keys, config, logger } = d;
  if (ops.prePromote && !(await ops.prePromote())) {
    throw new PghaError('pre_promote_failed', 'the pre_promote script did not exit 0: not promoting', true);
  }
  // Patroni cancels a pre_promote when the lock is lost meanwhile; the script may have run for minutes: look again.
  if (ops.prePromote && (await store.get(keys.leader))?.value !== config.name) {
    throw new PghaError('lost_leader_before_promote', 'the leader key is no longer mine after pre_promote: not promoting', true);
  }
  const before = await ops.probe();
  mem.checkpointPending = true;
  try {
    const files = await announcePromotion(d, ctx, before, reason);
    await avoidTimelineCollision(d, files);
    await ops.promote();
    // The history key and the CHECKPOINT below take a second or so; routers confirm a new leader only once its agent
    // publishes role master, which the loop can do now (Patroni reports master during its after-promote checkpoint too).
    d.onPromoted?.();
    await ops.configure({ role: 'primary' });
    const current = await readHistory(d);
    const oldTimeline = before.timeline ?? 1;
    const after = await ops.probe().catch((err: unknown) => {
      logger.warn({ err }, 'probing postgres after promoting failed; taking the next timeline number');
      return undefined;
    });
    const newTimeline = after?.timeline && after.timeline > oldTimeline ? after.timeline : oldTimeline + 1;
    const own = await ops.timelineHistory(newTimeline).catch((err: unknown) => {
      logger.warn({ err, timeline: newTimeline }, 'reading the new timeline history file failed; the history key gets the position seen before promoting');
      return [];
    });
    const history = historyAfterPromotion({
      own, current: current as HistoryLine[], oldTimeline, newTimeline, positionBefore: before.replayLsn ?? before.receiveLsn ?? 0,
      reason, at: wallIso(d), member: config.name,
    });
    await store.put(keys.history, JSON.stringify(history));
    await ops.checkpoint();
    logger.info({ timeline: newTimeline, reason }, 'promoted');
  } finally {
    mem.checkpointPending = false;
  }
}

/**
 * When the cluster already left my timeline k at or before my position X (a leader promoted from k and was lost),
 * `pg_ctl promote` would pick timeline k+1 again, and at X with the same history, so that leader's diverged data could
 * never be told apart. Give postgres history files of the timelines after k first (timelineFilesToWrite), as an
 * archive would: it then selects a timeline no member used, which the rewind check and pg_rewind handle. Tested on
 * PostgreSQL 15: with 00000002.history forking at its position, a timeline-1 replica logs "new target timeline is 2"
 * and promotes to 3 with history [1, X], [2, X]. A file whose history forks off later than my position would become
 * the recovery target and give an inconsistent history: never written (when the cluster left k at or after my
 * position, the files switch at my position).
 */
async function avoidTimelineCollision(d: ExecutorDeps, files: Files): Promise<void> {
  for (const [timeline, lines] of files) {
    const text = lines.map(([tl, lsn]) => `${tl}\t${formatLsn(lsn)}\tno recovery target specified\n`).join('');
    if (await d.ops.writeTimelineHistory(timeline, text)) {
      d.logger.info({ timeline }, 'wrote the cluster\'s history file of a timeline already used, before promoting');
    }
  }
}

/**
 * Before `pg_ctl promote`, the history key learns the timeline number this promotion takes: a promotion the cluster
 * never heard of (its history write lost when the new leader was cut off at once) would let the next one, from the
 * same position, reuse the same number and history. The line is the one for the timeline postgres leaves
 * (promotionAnnouncement): mine, or the newest of the files it is given to skip the numbers in use. A failed write
 * fails the promotion (the leader retries next cycle). The key is rewritten from the new history file after the
 * promotion. Returns the files to write (timelineFilesToWrite), from the key read here.
 */
async function announcePromotion(d: ExecutorDeps, ctx: ExecContext, before: PostgresProbe, reason: string): Promise<Files> {
  const timeline = before.timeline;
  if (!timeline || before.inRecovery !== true) return [];
  const current = await readHistory(d);
  const members = [...(ctx.view?.members.values() ?? [])].map((m) => Number(m.doc.timeline ?? 0) || 0);
  const own = await d.ops.timelineHistory(timeline).catch((err: unknown) => {
    // Without my own history, timelineFilesToWrite writes no file that would need it.
    d.logger.warn({ err, timeline }, 'reading my timeline history before promoting failed');
    return undefined;
  });
  const files = timelineFilesToWrite(current as HistoryLine[], before, Math.max(0, ...members), own);
  const next = announcedHistory(current, files, timeline, before.replayLsn ?? before.receiveLsn ?? 0, reason, wallIso(d), d.config.name);
  if (next) await d.store.put(d.keys.history, JSON.stringify(next));
  return files;
}

async function readHistory(d: ExecutorDeps): Promise<unknown[]> {
  const kv = await d.store.get(d.keys.history);
  try {
    const parsed: unknown = kv ? JSON.parse(kv.value) : [];
    // Lines that are not lists (garbage written by hand) are dropped; the key is rewritten from postgres' history.
    return Array.isArray(parsed) ? parsed.filter((l) => Array.isArray(l)) : [];
  } catch (err) {
    d.logger.warn({ err }, 'the history key is not JSON; it is rewritten from the timeline history');
    return [];
  }
}

/**
 * Patroni's update_cluster_history: the `history` key follows the leader's own timeline history file, so that a
 * promotion whose history write failed, or an LSN recorded before the switch, is corrected on the next cycle.
 * Replicas check divergence against it (decide's whyDiverged). A line's reason, time and member are kept.
 */
export async function syncHistory(d: ExecutorDeps, mem: ExecutorMemory, view: ClusterView, timeline: number): Promise<void> {
  const current = view.history ?? [];
  const signature = `${timeline}:${JSON.stringify(current)}`;
  if (signature === mem.historyChecked) return;
  const wanted = historyKeyLines(await d.ops.timelineHistory(timeline), timeline, current);
  const text = JSON.stringify(wanted);
  if (view.history === undefined || text !== JSON.stringify(current)) {
    await d.store.put(d.keys.history, text);
    d.logger.info({ timeline, history: text }, 'history key updated from the timeline history');
  }
  mem.historyChecked = `${timeline}:${text}`;
}

/** The time written on a history line: the scheduler's wall clock (simulated time in the simulator). */
function wallIso(d: ExecutorDeps): string {
  return new Date((d.scheduler ?? realScheduler).wallNow()).toISOString();
}
