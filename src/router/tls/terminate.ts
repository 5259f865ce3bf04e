/**
 * TLS terminated at the router: the answer 'S' to a client's SSLRequest (or nothing, for a direct TLS ClientHello
 * already read: PostgreSQL 17's `sslnegotiation=direct`), then the handshake with the router's certificate, bounded
 * by `timeoutMs`. The returned TLSSocket carries the client's plaintext: the caller reads its StartupMessage or
 * CancelRequest from it as from a plain connection. Shared by passthrough listeners (tls/client-side.ts) and
 * pooled sessions.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Scheduler } from '../../lib/clock';

/** The answer to SSLRequest when the router terminates TLS. */
const WILL_ENCRYPT = Buffer.from('S');

/** PostgreSQL 17 requires this ALPN protocol on direct TLS connections (and accepts it after SSLRequest). */
export const PG_ALPN = 'postgresql';

export type HandshakeFailure = 'timeout' | 'failed' | 'alpn';

export class TlsHandshakeError extends Error {
  constructor(
    message: string,
    readonly reason: HandshakeFailure,
    options?: { cause: unknown },
  ) {
    super(message, options);
  }
}

export interface TerminateOptions {
  context: SecureContext;
  scheduler: Scheduler;
  /** The handshake must be done within this many ms (startup_timeout). */
  timeoutMs: number;
  /** Direct TLS: the ClientHello bytes already read from `client` (no 'S' is sent). */
  preRead?: Buffer;
  /** Errors of the TLS socket, for as long as it lives (the handshake's own are also the promise's rejection). */
  onError(err: Error): void;
}

/** The TLSSocket is created before the handshake finishes; the caller owns it (and destroys it) from then on. */
export function terminateTls(client: Socket, opts: TerminateOptions): Promise<TLSSocket> {
  const direct = opts.preRead !== undefined;
  // Bytes the socket read ahead into its stream buffer are not seen by the TLS layer, which reads the handle
  // itself: they are handed to it below (only possible for direct TLS: after SSLRequest a client waits for 'S').
  const ahead: Buffer[] = opts.preRead ? [opts.preRead] : [];
  for (let b: Buffer | null; (b = client.read() as Buffer | null) !== null; ) ahead.push(b);
  if (!direct) client.write(WILL_ENCRYPT);
  const tls = new TLSSocket(client, { isServer: true, secureContext: opts.context, ALPNProtocols: [PG_ALPN] });
  tls.on('error', opts.onError);
  const handle = (tls as unknown as { _handle: { receive(b: Buffer): void } | null })._handle;
  for (const b of ahead) handle?.receive(b);
  return new Promise((resolve, reject) => {
    const done = (err?: TlsHandshakeError): void => {
      opts.scheduler.clearTimer(timer);
      tls.removeListener('secure', onSecure);
      tls.removeListener('error', onFail);
      tls.removeListener('close', onClose);
      if (!err) {
        resolve(tls);
        return;
      }
      tls.destroy();
      reject(err);
    };
    const onSecure = (): void => {
      // PostgreSQL refuses a direct TLS connection without the postgresql ALPN (a cross-protocol attack guard).
      if (direct && tls.alpnProtocol !== PG_ALPN) done(new TlsHandshakeError('direct TLS connection without ALPN "postgresql"', 'alpn'));
      else done();
    };
    const onFail = (err: Error): void => done(new TlsHandshakeError(`TLS handshake failed: ${err.message}`, 'failed', { cause: err }));
    const onClose = (): void => done(new TlsHandshakeError('client closed the connection during the TLS handshake', 'failed'));
    const timer = opts.scheduler.setTimer(() => done(new TlsHandshakeError(`no TLS handshake within ${opts.timeoutMs} ms`, 'timeout')), opts.timeoutMs);
    tls.once('secure', onSecure);
    tls.on('error', onFail);
    tls.once('close', onClose);
  });
}
