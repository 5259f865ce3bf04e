/**
 * How a node whose WAL may have diverged from the leader's gets back in line (pure): pg_rewind, a wipe and re-clone,
 * moving the data directory aside and re-cloning, or following as it is. The Executor carries the plan out; whether a
 * stopped former primary needs any of this at all is decideRejoin's question (decide-rejoin.ts).
 */

export interface RejoinSettings {
  /** use_pg_rewind (the node's, else the dynamic configuration's). */
  usePgRewind: boolean;
  removeDataDirectoryOnRewindFailure: boolean;
  removeDataDirectoryOnDivergedTimelines: boolean;
}

/** What to do with the data directory when pg_rewind is not tried or did not succeed. */
export type RejoinFallback = 'wipe' | 'move_aside' | 'start_as_is';

export type RejoinPlan =
  | { step: 'wait_for_checkpoint'; reason: string }
  | { step: 'rejoin'; tryRewind: boolean; fallback: RejoinFallback; reason: string };

/**
 * A former primary about to start as the leader's replica, found to need a rewind. The leader's first checkpoint
 * after its promotion comes first: pg_rewind reads the leader's control file, which names the new timeline only then.
 * When the rewind fails, `remove_data_directory_on_rewind_failure` (or `..._on_diverged_timelines`) wipes and
 * re-clones (Patroni); otherwise pgha moves the diverged directory aside (kept for inspection, never deleted) and
 * re-clones, so the node heals without a manual step. Without use_pg_rewind, only
 * `remove_data_directory_on_diverged_timelines` allows a re-clone; else the node starts as it is (Patroni logs the
 * same and waits for an operator).
 */
export function planRejoin(s: RejoinSettings, leaderCheckpointPending: boolean): RejoinPlan {
  if (leaderCheckpointPending) return { step: 'wait_for_checkpoint', reason: 'the leader has not finished its checkpoint after promoting' };
  const wipeOnFailure = s.removeDataDirectoryOnRewindFailure || s.removeDataDirectoryOnDivergedTimelines;
  if (s.usePgRewind) {
    return {
      step: 'rejoin', tryRewind: true, fallback: wipeOnFailure ? 'wipe' : 'move_aside',
      reason: wipeOnFailure ? 'pg_rewind, else wipe the data directory and clone again' : 'pg_rewind, else move the data directory aside and clone again',
    };
  }
  if (s.removeDataDirectoryOnDivergedTimelines) {
    return { step: 'rejoin', tryRewind: false, fallback: 'wipe', reason: 'use_pg_rewind is off: wipe the data directory and clone again' };
  }
  return { step: 'rejoin', tryRewind: false, fallback: 'start_as_is', reason: 'use_pg_rewind is off and re-cloning is not allowed: start as it is' };
}

export type DivergedReplicaPlan =
  | { step: 'follow_as_is'; reason: string }
  | { step: 'wait_for_checkpoint'; reason: string }
  | { step: 'stop_and_rejoin'; reason: string };

/**
 * A running replica whose WAL went past the leader's timeline switch (decide's rewind action). When neither a rewind
 * nor a re-clone is allowed it only follows, without stopping; otherwise it waits for the leader's checkpoint, then
 * is stopped and rejoins (planRejoin) — the Executor first checks that the leader answers as a primary, since a
 * rewind or a re-clone from a dead one could only fail.
 */
export function planDivergedReplica(s: RejoinSettings, leaderCheckpointPending: boolean): DivergedReplicaPlan {
  if (!s.usePgRewind && !s.removeDataDirectoryOnDivergedTimelines) {
    return { step: 'follow_as_is', reason: 'WAL diverged from the leader but use_pg_rewind is off: following without a rewind' };
  }
  if (leaderCheckpointPending) return { step: 'wait_for_checkpoint', reason: 'the leader has not finished its checkpoint after promoting' };
  return { step: 'stop_and_rejoin', reason: 'WAL diverged from the leader: stop and rejoin' };
}
