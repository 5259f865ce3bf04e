/**
 * A pooled client left while holding a server connection: a clean one (no statement in flight, no transaction
 * open) goes back to its pool — in session mode after reset_query (PgBouncer's server_reset_query, DISCARD ALL by
 * default) has run on it —, anything else is closed: a half-done transaction must never reach the next client.
 */
import type { ServerConnection } from './server-conn';
import type { ServerPool } from './server-pool';
import { MSG, encodeMessage } from './messages';

export function giveBack(conn: ServerConnection, pool: ServerPool<ServerConnection>, clean: boolean, resetQuery: string): void {
  conn.handler = undefined;
  // Not while a cancel for its last query may still reach it (cancel-guard.ts).
  conn.cancels.whenSettled(() => (conn.closed ? pool.lost(conn) : reset(conn, pool, clean, resetQuery)));
}

function reset(conn: ServerConnection, pool: ServerPool<ServerConnection>, clean: boolean, resetQuery: string): void {
  if (!clean || resetQuery === '') {
    pool.release(conn, clean);
    return;
  }
  conn.handler = {
    serverMessage: (_c, m) => {
      if (m.type !== MSG.readyForQuery) return;
      conn.handler = undefined;
      // Reusable only when the reset left it idle outside a transaction block.
      pool.release(conn, m.body[0] === 0x49 /* I */);
    },
    serverBatchEnd: () => undefined,
    serverLost: (c) => pool.lost(c),
  };
  conn.socket.write(encodeMessage(MSG.query, Buffer.from(`${resetQuery}\0`, 'utf8')));
}

/** A transaction ended on `conn` (no cancel in flight for it): back to its pool, or forgotten if it closed meanwhile. */
export function backToPool(conn: ServerConnection, pool: ServerPool<ServerConnection>): void {
  if (conn.closed) pool.lost(conn);
  else pool.release(conn, true);
}
