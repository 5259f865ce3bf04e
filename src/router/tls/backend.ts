/**
 * TLS from the router to PostgreSQL after the router terminated the client's (`tls.server_mode`, libpq's sslmode
 * meanings): disable = plain; prefer = SSLRequest, TLS when the server answers 'S', else plain; require = TLS or
 * fail, the certificate not checked (libpq without a root certificate); verify-ca = chain to `ca` (or the system
 * store); verify-full = that and the host name. Shared by passthrough sessions (tls/link.ts) and pooled sessions.
 */
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Scheduler } from '../../lib/clock';
import type { ServerTlsMode } from '../types';
import { encodeSslRequest } from '../wire';

export class BackendTlsError extends Error {}

export interface BackendTlsOptions {
  /** PEM of the CA the server's certificate must chain to; undefined = the system store. */
  ca?: Buffer;
  scheduler: Scheduler;
  /** For the server's answer and the handshake together (connect_timeout). */
  timeoutMs: number;
}

/**
 * Negotiates on `socket` (connected, nothing sent yet, not flowing): resolves with the socket to speak the protocol
 * on, the TLSSocket over it or `socket` itself (disable, or prefer and the server said 'N'). Rejects with a
 * BackendTlsError whose message is fit for the client's ErrorResponse.
 */
export async function backendTls(mode: ServerTlsMode, socket: Socket, host: string, opts: BackendTlsOptions): Promise<Socket> {
  if (mode === 'disable') return socket;
  const { scheduler, timeoutMs } = opts;
  const deadline = scheduler.now() + timeoutMs;
  socket.write(encodeSslRequest());
  const answer = await firstChunk(socket, scheduler, timeoutMs);
  if (answer.length > 1) {
    // Bytes after the one-byte answer were not encrypted, yet would be read as if they came from inside TLS.
    throw new BackendTlsError('the server sent unexpected data after its answer to SSLRequest');
  }
  if (answer[0] === 0x4e /* N */) {
    if (mode === 'prefer') return socket;
    throw new BackendTlsError(`the server does not support SSL, but tls.server_mode is ${mode}`);
  }
  if (answer[0] !== 0x53 /* S */) throw new BackendTlsError(`the server refused SSLRequest (answer byte 0x${answer[0]!.toString(16)})`);
  const verify = mode === 'verify-ca' || mode === 'verify-full';
  const options: ConnectionOptions = {
    socket,
    // The name verify-full checks: without it Node compares the certificate with "localhost".
    host,
    rejectUnauthorized: verify,
    ...(opts.ca && verify ? { ca: opts.ca } : {}),
    // SNI takes a host name, never an address.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    // verify-ca checks the chain only (libpq): the host name is verify-full's business.
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
  const tls = tlsConnect(options);
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      scheduler.clearTimer(timer);
      tls.removeListener('secureConnect', onSecure);
      tls.removeListener('error', done);
      tls.removeListener('close', onClose);
      if (!err) return resolve(tls);
      tls.destroy();
      reject(new BackendTlsError(`TLS to the server failed: ${err.message}`, { cause: err }));
    };
    const onSecure = (): void => done();
    const onClose = (): void => done(new Error('the server closed the connection during the TLS handshake'));
    const timer = scheduler.setTimer(() => done(new Error('no TLS handshake in time')), Math.max(0, deadline - scheduler.now()));
    tls.once('secureConnect', onSecure);
    tls.on('error', done);
    tls.once('close', onClose);
  });
}

/** The server's first bytes (its answer to SSLRequest), within `timeoutMs`; the socket is paused again after. */
function firstChunk(socket: Socket, scheduler: Scheduler, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (chunk?: Buffer, err?: Error): void => {
      scheduler.clearTimer(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.pause();
      if (chunk) resolve(chunk);
      else reject(err);
    };
    const onData = (chunk: Buffer): void => done(chunk);
    const onClose = (): void => done(undefined, new BackendTlsError('the server closed the connection before answering SSLRequest'));
    const timer = scheduler.setTimer(() => done(undefined, new BackendTlsError('the server did not answer SSLRequest in time')), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}
