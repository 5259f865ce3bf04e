/**
 * Transaction pooling's state of each server connection (the statements prepared on it, the parameters it
 * reported: txn-rewriter.ts's ServerSide), kept beside the connection for as long as it lives, whichever client
 * holds it, and read by the pool figures.
 */
import type { ServerConnection } from './server-conn';
import { ServerSide } from './txn-rewriter';

const SIDES = new WeakMap<ServerConnection, ServerSide>();

export function sideOf(conn: ServerConnection): ServerSide {
  let side = SIDES.get(conn);
  if (!side) {
    // The parameters it reported at login: what it holds before any client changed one.
    side = new ServerSide(Object.fromEntries(conn.params));
    SIDES.set(conn, side);
  }
  return side;
}

/** The named statements prepared on these server connections (PgBouncer's SHOW SERVERS prepared_statements, summed). */
export function preparedOn(conns: Iterable<ServerConnection>): number {
  let n = 0;
  for (const c of conns) n += SIDES.get(c)?.statements.size ?? 0;
  return n;
}
