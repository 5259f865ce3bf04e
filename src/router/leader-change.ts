/**
 * Writes fail closed on a leader change: every write-listener session whose backend is not the new table's
 * confirmed leader is closed at once (stolon's proxy does the same), except one that nothing has reached the
 * client from yet (connect in flight, or startup sent and no reply): that one is routed again, as a connection
 * arriving during the election would be.
 */
import type { Session } from './session';
import { sameBackend } from './routing';
import type { RoutingTable } from './types';

/** The part of a listener this step reads. */
export interface WriteListener {
  config: { role: string };
  sessions: Set<Session>;
}

export interface LeaderChangeEffects {
  /** Routes `s` again when nothing of its backend reached the client; true when it did. */
  reroute(s: Session, generation: number): boolean;
  kill(s: Session): void;
}

/** Applies the new leader to one listener's sessions; returns how many were closed (0 for a non-write listener). */
export function closeOldLeaderSessions(rt: WriteListener, table: RoutingTable, fx: LeaderChangeEffects): number {
  if (rt.config.role !== 'primary') return 0;
  let n = 0;
  for (const s of [...rt.sessions]) {
    // A session killed before (and not yet closed) is not counted again.
    if (!s.backend || s.killed || sameBackend(s.backend, table.leader)) continue;
    if (fx.reroute(s, table.generation)) continue;
    fx.kill(s);
    n++;
  }
  return n;
}
