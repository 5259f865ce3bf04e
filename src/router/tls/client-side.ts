/**
 * The client side of TLS at the router, for passthrough sessions (first-packet.ts): with `tls:` set, an SSLRequest
 * is answered 'S' and the handshake run with the router's certificate (terminate.ts), a direct TLS ClientHello is
 * terminated the same way, and a GSSENCRequest is answered 'N' (the client then asks for TLS or goes plain). The
 * session's client socket becomes the TLSSocket, so everything after (the StartupMessage or CancelRequest read
 * inside TLS, refusals, the data path) works on plaintext as for a plain client. Without `tls:` nothing changes.
 */
import type { RoomContext } from '../context';
import { Reader } from '../reader';
import { NO_ENCRYPTION, type Refusals } from '../refusals';
import type { Session } from '../session';
import type { RouterTlsConfig } from '../types';
import { loadRouterTls, type RouterTls } from './context';
import { TlsHandshakeError, terminateTls } from './terminate';

/** What to do after an encryption request: read the next packet (in TLS, or plain after 'N'), or nothing (closed). */
export type TlsStep = 'terminated' | 'again' | 'closed';

export class TlsTermination {
  private current: RouterTls | undefined;

  constructor(
    private readonly ctx: RoomContext,
    private readonly refusals: Refusals,
  ) {
    this.update(ctx.config().tls);
  }

  /** Reads the files of `config` (start, reload); throws a ConfigError naming the field and keeps the old ones. */
  update(config: RouterTlsConfig | undefined): void {
    this.current = config ? loadRouterTls(config) : undefined;
  }

  /** The router's TLS material, when it terminates TLS. */
  get tls(): RouterTls | undefined {
    return this.current;
  }

  /**
   * An SSLRequest, GSSENCRequest or direct TLS ClientHello (`raw`) read on `s`, with `tls:` set. `insideTls`: the
   * request came inside the router's TLS already, a protocol violation.
   */
  async accept(s: Session, kind: 'ssl' | 'gssenc' | 'direct-tls', raw: Buffer, insideTls: boolean): Promise<TlsStep> {
    if (insideTls) {
      this.refusals.refuse(s, { sqlstate: '08P01', message: 'encryption requested again inside TLS' }, 'malformed');
      return 'closed';
    }
    if (kind === 'gssenc') {
      s.client.write(NO_ENCRYPTION);
      return 'again';
    }
    return (await this.terminate(s, this.current!, kind === 'direct-tls' ? raw : undefined)) ? 'terminated' : 'closed';
  }

  private async terminate(s: Session, current: RouterTls, clientHello: Buffer | undefined): Promise<boolean> {
    const { scheduler, metrics } = this.ctx.deps;
    const listener = s.rt.config.name;
    const rest = s.reader!.detach();
    s.reader = undefined;
    const preRead = clientHello && rest ? Buffer.concat([clientHello, rest]) : clientHello;
    const timeoutMs = this.ctx.config().startup.timeoutMs;
    try {
      const tls = await terminateTls(s.client, {
        context: current.server,
        scheduler,
        timeoutMs,
        ...(preRead ? { preRead } : {}),
        onError: () => {
          // The close that follows ends the session (close.ts); the error only decides the reason it is counted under.
          s.errored = true;
        },
      });
      metrics.tlsHandshake(listener, 'ok');
      s.client = tls;
      s.tlsTerminated = true;
      s.reader = new Reader(tls, 'client', scheduler, this.ctx.config().startup.maxPacketBytes * 2);
      return true;
    } catch (err) {
      const reason = err instanceof TlsHandshakeError ? err.reason : 'failed';
      metrics.tlsHandshake(listener, reason);
      this.ctx.log.debug({ listener, session: s.id, reason, err }, 'client TLS handshake failed');
      this.refusals.destroyPending(s);
      return false;
    }
  }
}
