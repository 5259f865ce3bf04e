/**
 * The rejoin check's effects: read where the shutdown checkpoint ends (pg_waldump) and the leader's timeline and
 * history from the view, then ask decideRejoin. Used before a stopped former primary starts as a replica: pg_rewind
 * (or a re-clone) only when its WAL went past the point where the new leader left its timeline.
 */
import { clusterTimeline, type ClusterView } from '../model/cluster';
import type { Logger } from '../log/logger';
import { decideRejoin } from './decide-rejoin';
import type { ControlData, PostgresOps } from './postgres-ops';

export async function formerPrimaryNeedsRewind(
  ops: PostgresOps, control: ControlData, view: ClusterView | undefined, leader: string, logger: Logger,
): Promise<boolean> {
  if (control.checkpointLsn === undefined || control.minRecoveryEndLsn === undefined || control.minRecoveryEndTimeline === undefined) return true;
  const leaderTimeline = view ? Math.max(clusterTimeline(view), Number(view.members.get(leader)?.doc.timeline ?? 0) || 0) : 0;
  const checkpointEndLsn = control.clusterState === 'shut down' || control.minRecoveryEndLsn === 0
    ? await ops.checkpointEnd?.(control.timeline, control.checkpointLsn).catch((err: unknown) => {
      // decideRejoin then rewinds: the safe answer when the shutdown checkpoint's end is unknown.
      logger.warn({ err, leader }, 'reading where the shutdown checkpoint ends failed');
      return undefined;
    })
    : undefined;
  const decision = decideRejoin({
    control: {
      clusterState: control.clusterState, timeline: control.timeline, checkpointLsn: control.checkpointLsn,
      minRecoveryEndLsn: control.minRecoveryEndLsn, minRecoveryEndTimeline: control.minRecoveryEndTimeline,
    },
    ...(checkpointEndLsn !== undefined ? { checkpointEndLsn } : {}),
    leaderTimeline,
    history: view?.history,
  });
  logger.info({ leader, rewind: decision.rewind, reason: decision.reason }, 'rejoin check');
  return decision.rewind;
}
