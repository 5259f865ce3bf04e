/**
 * The pooled session's seam for rewriting (txn-pipe.ts): every client message on its way to a server connection and
 * every server message on its way back passes through a ServerPipe; session mode passes them as they are.
 */
import type { Message } from './messages';
import type { ServerConnection } from './server-conn';

/** Where client messages go to a server connection and server messages come back (rewriting: lane txn). */
export interface ServerPipe {
  /** Push what to send `conn` for this client message (by default, the message itself), and what the router answers itself. */
  toServer(m: Message, out: Buffer[], conn: ServerConnection, reply: Buffer[]): void;
  /** Push what to forward to the client for this server message (by default, the message itself). */
  toClient(m: Message, out: Buffer[]): void;
  /** The server connection went back to the pool (or was lost): the next one may be another. */
  detached?(lost: boolean): void;
}

export const PASS_THROUGH_PIPE: ServerPipe = {
  toServer: (m, out) => out.push(m.raw),
  toClient: (m, out) => out.push(m.raw),
};
