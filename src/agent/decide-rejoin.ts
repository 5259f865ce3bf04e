/**
 * Does a stopped former primary need pg_rewind before it follows the new leader? Pure; Patroni's rewind check
 * (rewind.py _check_timeline_and_lsn, on pg_controldata as _get_local_timeline_lsn_from_controldata reads it):
 * - cleanly shut down as a primary: the position is the shutdown checkpoint (`Latest checkpoint location` and its
 *   timeline); a replica that received everything promoted exactly at the end of that record, so when the leader's
 *   history left my timeline there, nothing diverged and the node just starts as a replica;
 * - shut down in recovery: the position is `Minimum recovery ending location`; no rewind unless it is past the
 *   switch point;
 * - anything else (a crashed primary), an unknown leader timeline or a history without my timeline: rewind.
 * pgha reads the leader's history from the `history` key rather than over a replication connection.
 */
import type { HistoryLine } from '../model/cluster';
import type { Lsn } from '../model/lsn';

export interface RejoinInput {
  /** pg_controldata, as ControlData lifts it. */
  control: { clusterState: string; timeline: number; checkpointLsn: Lsn; minRecoveryEndLsn: Lsn; minRecoveryEndTimeline: number };
  /** Where the checkpoint record at `checkpointLsn` ends (pg_waldump); undefined when it could not be read. */
  checkpointEndLsn?: Lsn;
  /** The leader's timeline (0: unknown). */
  leaderTimeline: number;
  /** The `history` key: [timeline it left, switch LSN, reason, ...], oldest first. */
  history: readonly HistoryLine[] | undefined;
}

export interface RejoinDecision {
  rewind: boolean;
  reason: string;
}

export function decideRejoin(input: RejoinInput): RejoinDecision {
  const c = input.control;
  let inRecovery = c.clusterState === 'shut down in recovery' || c.clusterState === 'in archive recovery';
  // A primary that crashed after being a replica keeps recovery state with no minimum recovery point (Patroni's rule).
  if (inRecovery && (c.minRecoveryEndLsn === 0 || c.minRecoveryEndTimeline === 0)) inRecovery = false;
  const cleanPrimary = !inRecovery && (c.clusterState === 'shut down' || c.clusterState === 'shut down in recovery' || c.clusterState === 'in archive recovery');
  if (!inRecovery && !cleanPrimary) return { rewind: true, reason: `rewind needed: postgres was not shut down cleanly (${c.clusterState})` };
  const timeline = inRecovery ? c.minRecoveryEndTimeline : c.timeline;
  const lsn = inRecovery ? c.minRecoveryEndLsn : c.checkpointLsn;
  const leaderTl = input.leaderTimeline;
  if (!leaderTl) return { rewind: true, reason: 'rewind needed: the leader\'s timeline is unknown' };
  if (timeline > leaderTl) return { rewind: true, reason: `rewind needed: my timeline ${timeline} is ahead of the leader's timeline ${leaderTl}` };
  if (timeline === leaderTl) return { rewind: false, reason: `no rewind needed: I am on the leader's timeline ${leaderTl}` };
  for (const line of input.history ?? []) {
    const parent = Number(line[0]);
    const switchLsn = Number(line[1]);
    if (parent > timeline) break;
    if (parent !== timeline || !Number.isFinite(switchLsn)) continue;
    if (inRecovery) {
      return lsn > switchLsn
        ? { rewind: true, reason: `rewind needed: my WAL on timeline ${timeline} goes past the switch point (${lsn} > ${switchLsn})` }
        : { rewind: false, reason: `no rewind needed: my WAL on timeline ${timeline} stops at or before the switch point (${lsn} <= ${switchLsn})` };
    }
    if (lsn >= switchLsn) return { rewind: true, reason: `rewind needed: my shutdown checkpoint on timeline ${timeline} is at or past the switch point (${lsn} >= ${switchLsn})` };
    if (input.checkpointEndLsn === switchLsn) {
      return { rewind: false, reason: `no rewind needed: the leader left timeline ${timeline} where my shutdown checkpoint ends (${switchLsn})` };
    }
    return { rewind: true, reason: `rewind needed: my shutdown checkpoint ends at ${input.checkpointEndLsn ?? 'an unknown position'}, the leader left timeline ${timeline} at ${switchLsn}` };
  }
  return { rewind: true, reason: `rewind needed: timeline ${timeline} is not in the leader's history` };
}
