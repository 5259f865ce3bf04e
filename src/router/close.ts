/**
 * Close accounting: a session ends when both its sockets have closed (or the client's, when no backend was
 * connected). The first side to close decides how the other ends (gracefully once spliced, so a final
 * ErrorResponse still reaches the client), and the reason counted is the first of: killed by the router, a socket
 * error, the side that closed first. Bytes are counted here, from the client socket, once per session.
 */
import type { CloseReason } from '../metrics/router-metrics';
import type { CancelRoutes } from './cancel';
import { END_BACKSTOP_MS, destroyAfter, type RoomContext } from './context';
import { advance, type Session } from './session';

/** The reason a finished session is counted under. */
export function closeReason(s: Pick<Session, 'killed' | 'errored' | 'firstClosed'>): CloseReason {
  return s.killed ?? (s.errored ? 'error' : s.firstClosed ?? 'client');
}

export class Closing {
  private readonly finished = new WeakSet<Session>();

  constructor(
    private readonly ctx: RoomContext,
    private readonly cancel: CancelRoutes,
  ) {}

  /**
   * One side closed. When both are closed the session is finished. Otherwise the other side is ended gracefully
   * once spliced, with a backstop; before the splice (or when the router killed the session) it is destroyed.
   */
  socketClosed(s: Session, who: 'client' | 'backend'): void {
    const wasSpliced = s.state === 'spliced';
    if (who === 'client') s.clientClosed = true;
    else s.serverClosed = true;
    if (!s.firstClosed) s.firstClosed = who;
    advance(s, 'close');
    s.reader?.detach();
    if (s.clientClosed && (s.serverClosed || !s.server)) {
      this.finish(s);
      return;
    }
    const other = who === 'client' ? s.server : s.client;
    if (!other || other.destroyed) return;
    if (!wasSpliced || s.killed) {
      other.destroy();
      return;
    }
    other.end();
    destroyAfter(this.ctx.deps.scheduler, other, END_BACKSTOP_MS);
  }

  /** Closes a session at once (leader change, shutdown, protocol error). */
  kill(s: Session, reason: CloseReason): void {
    if (s.killed) return;
    s.killed = reason;
    advance(s, 'close');
    s.reader?.detach();
    s.client.destroy();
    s.server?.destroy();
  }

  /** The session no longer counts against its backend member (least-connections balance). */
  release(s: Session): void {
    if (s.backend) this.ctx.load.remove(s.backend.member);
  }

  private finish(s: Session): void {
    if (this.finished.has(s)) return;
    this.finished.add(s);
    advance(s, 'close');
    s.rt.sessions.delete(s);
    s.rt.pending.delete(s);
    this.release(s);
    this.cancel.forget(s);
    if (s.opaque && s.backend) {
      const entry = s.rt.opaque.get(s.backend.member);
      if (entry && --entry.count <= 0) s.rt.opaque.delete(s.backend.member);
    }
    const m = s.metrics;
    if (m) {
      m.active.dec();
      m.closed[closeReason(s)].inc();
      m.bytesIn.inc(s.client.bytesRead);
      m.bytesOut.inc(s.client.bytesWritten);
    }
  }
}
