/**
 * Transaction pooling's rewriting (txn-rewriter.ts) on the pooled session's seam (ServerPipe): one rewriter per
 * client session, one ServerSide per server connection (server-sides.ts).
 */
import type { Logger } from '../../log/logger';
import type { Message } from './messages';
import { clientParams } from './params';
import type { PooledSession } from './pooled-session';
import { PASS_THROUGH_PIPE, type ServerPipe } from './server-pipe';
import type { ServerConnection } from './server-conn';
import { sideOf } from './server-sides';
import { TxnRewriter } from './txn-rewriter';

class TxnPipe implements ServerPipe {
  private rewriter: TxnRewriter | undefined;

  constructor(
    private readonly session: PooledSession,
    private readonly log: Logger,
  ) {}

  toServer(m: Message, out: Buffer[], conn: ServerConnection, reply: Buffer[]): void {
    // The client's view starts as its greeting said: the pool's login parameters, its own application_name.
    const app = this.session.applicationName;
    this.rewriter ??= new TxnRewriter(clientParams(Object.fromEntries(conn.params), app === undefined ? {} : { application_name: app }));
    const step = this.rewriter.fromClient(m.raw, sideOf(conn));
    if (step.kind !== 'ok') return; // not reached: a server connection is given
    for (const b of step.toServer) out.push(b);
    for (const b of step.toClient) reply.push(b);
  }

  toClient(m: Message, out: Buffer[]): void {
    if (!this.rewriter) {
      out.push(m.raw);
      return;
    }
    const failed = this.rewriter.fromServer(m.raw, out);
    if (failed) {
      // The client's own values could not be set on this server connection; its transaction runs on the server's.
      this.log.warn({ listener: this.session.rt.config.name, sqlstate: failed.C, reason: failed.M }, 'pooled client: parameters not applied on a server connection');
    }
  }

  detached(lost: boolean): void {
    if (lost) this.rewriter?.serverLost();
    else this.rewriter?.release();
  }
}

/** The pipe for a pooled session: transaction mode rewrites, session mode keeps one server connection and needs none. */
export function transactionPipe(log: Logger): (session: PooledSession) => ServerPipe {
  return (session) => (session.mode === 'transaction' ? new TxnPipe(session, log) : PASS_THROUGH_PIPE);
}
