/**
 * Timeline-history planning for a promotion (pure): which history files a promoting replica gives postgres first so
 * that it picks a timeline number no member used, which line the `history` key learns before `pg_ctl promote`, and
 * what the key says afterwards (Patroni's update_cluster_history). The Executor reads and writes; these decide.
 */
import type { HistoryLine } from '../model/cluster';
import type { PostgresProbe } from '../model/postgres-state';

/**
 * The history files a promoting replica needs so that postgres picks a timeline no member used (avoidTimelineCollision):
 * one for each timeline after mine up to the cluster's newest (its history's, or a member key's `newestKnown`); postgres
 * counts them all, and takes the newest as its recovery target when its history left my timeline at or after my
 * position. Empty unless the cluster's history left my timeline.
 * - Left before my position: the cluster's chain of switches before each timeline. No file can become the target
 *   (each left my timeline before my position); postgres switches from my timeline, at my position, to a free number.
 * - Left at or after my position: a file saying what the cluster's does after my position would become the target
 *   with a history my WAL does not have; stopping short of the newest would promote to a number in use with another
 *   history (a number skipped by a member ahead of its fork, reused by one at the fork point), and a replica on that
 *   timeline streams from any position with no history check.
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
  // timeline of my number may be another one (a number it skipped), so a file built from the key could claim a
  // switch point my WAL never had and let a replica of the other lineage follow me. Unknown: nothing to write.
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

/** Where a promotion happened, for the `history` key's line of the timeline it left. */
export interface PromotionRecord {
  /** postgres' own history file of the new timeline after the promotion (empty when it could not be read). */
  own: ReadonlyArray<readonly [number, number, string]>;
  /** The `history` key as read after the promotion. */
  current: readonly HistoryLine[];
  /** The timeline before the promotion and the one postgres runs on now. */
  oldTimeline: number;
  newTimeline: number;
  /** The replay (else receive) position seen before promoting. */
  positionBefore: number;
  reason: string;
  /** ISO time and member name written on the promotion's line. */
  at: string;
  member: string;
}

/**
 * The `history` key after a promotion. The new timeline's history file says where postgres really left its timeline
 * (a file given to skip numbers in use moves that point); without the file, the position seen before promoting is
 * appended to the key as it was.
 */
export function historyAfterPromotion(p: PromotionRecord): unknown[] {
  const last = p.own[p.own.length - 1];
  const promotion: [number, number, string, string, string] = [last ? last[0] : p.oldTimeline, last ? last[1] : p.positionBefore, p.reason, p.at, p.member];
  if (!last) return [...p.current, promotion];
  return historyKeyLines(p.own.slice(0, -1), last[0], p.current).concat([promotion], skippedLines(promotion[0], p.newTimeline, promotion[1]));
}

/**
 * The `history` key announcing a promotion before `pg_ctl promote` (promotionAnnouncement says which timeline it
 * leaves), or undefined when the key already counts that number in use.
 */
export function announcedHistory(
  current: readonly unknown[], files: ReadonlyArray<readonly [number, unknown]>, timeline: number, position: number, reason: string, at: string, member: string,
): unknown[] | undefined {
  const ends = promotionAnnouncement(current as HistoryLine[], files, timeline);
  return ends === undefined ? undefined : [...current, [ends, position, reason, at, member]];
}
