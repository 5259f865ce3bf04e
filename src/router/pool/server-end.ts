/**
 * What becomes of a pooled client's transaction when the server connection meant for it turns out dead (issue 13:
 * a kill -9 of the leader node in transaction mode must fail no more transactions than were in flight). Pure, so
 * each case is one unit-tested sentence:
 *  - bytes of the transaction already went to that server: it may have run, even committed (a COMMIT or an
 *    autocommit statement among them), so it is never sent again anywhere: it fails (08006, loss.ts);
 *  - nothing of it was sent (an idle connection found closed or reset, a connect or login that failed or timed out,
 *    a server refusing logins because it is shutting down, starting up or in recovery): the connection is dropped
 *    and the transaction waits on the same client connection: at once where the listener has a backend left, else
 *    held until a new table names one (the next leader), as the write port holds new connections in an election;
 *  - a login the server refused for the client's own reasons (no such database, wrong password, too many
 *    connections): retrying cannot help, the client hears the server's error as today.
 * A failed connect excludes its member until the next table: a refused port would refuse again at once, and a
 * connect timeout would cost the next transaction the whole connect_timeout again.
 */

export interface ServerEndFacts {
  member: string;
  /** `closed`: an open connection ended (FIN or reset); `open_failed`: the connect or the login did not succeed. */
  how: 'closed' | 'open_failed';
  /** Some byte of the client's current transaction was written to this connection. */
  sent: boolean;
  /** The server's SQLSTATE when it refused the login with an ErrorResponse. */
  sqlstate?: string;
}

export type ServerEndPlan =
  | { action: 'retry'; exclude: boolean; reason: string }
  | { action: 'hold'; exclude: boolean; reason: string }
  | { action: 'fail'; reason: string };

/**
 * Logins refused because the server is not available now, not because of the client: 57P01 admin_shutdown, 57P02
 * crash_shutdown, 57P03 cannot_connect_now (starting up, shutting down, in recovery), and class 08 (connection).
 */
export function serverUnavailable(sqlstate: string | undefined): boolean {
  return sqlstate === undefined || /^57P0[123]$/.test(sqlstate) || sqlstate.startsWith('08');
}

/** `backends`: the members the listener may use now (the table's pool); `excluded`: those already failed in it. */
export function planServerEnd(f: ServerEndFacts, backends: readonly string[], excluded: ReadonlySet<string>): ServerEndPlan {
  if (f.sent) {
    return { action: 'fail', reason: `the server connection to ${f.member} ended after the transaction's first bytes were sent to it: it may have run, so it is not sent again` };
  }
  if (f.how === 'open_failed' && !serverUnavailable(f.sqlstate)) {
    return { action: 'fail', reason: `${f.member} refused the login (SQLSTATE ${f.sqlstate}): the client gets the server's error` };
  }
  const exclude = f.how === 'open_failed';
  const left = backends.filter((m) => !excluded.has(m) && !(exclude && m === f.member));
  const what = exclude
    ? `a server connection to ${f.member} could not be opened${f.sqlstate ? ` (SQLSTATE ${f.sqlstate})` : ''}`
    : `a server connection to ${f.member} was found dead before anything of the transaction was sent`;
  if (left.length === 0) {
    return { action: 'hold', exclude, reason: `${what}: the transaction waits for a new routing table to name a backend` };
  }
  const where = left.includes(f.member) ? `another connection to ${f.member}` : `a connection to ${left.join(' or ')}`;
  return { action: 'retry', exclude, reason: `${what}: the transaction takes ${where}` };
}
