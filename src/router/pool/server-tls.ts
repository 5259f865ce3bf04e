/**
 * TLS from a pool's server connections to PostgreSQL when the router terminates clients' TLS (`tls:` set): the
 * same `tls.server_mode` rules as passthrough sessions (tls/backend.ts: disable, prefer, require, verify-ca,
 * verify-full), run on the fresh TCP connection before the StartupMessage. Without `tls:` nothing changes: server
 * connections stay plain, as before.
 */
import type { Socket } from 'node:net';
import type { RouterTls } from '../tls/context';
import { backendTls } from '../tls/backend';
import { ServerConnection, type OpenOptions } from './server-conn';

/** Opens a server connection, over TLS by `tls.serverMode` when the router holds TLS material. */
export function openServer(o: OpenOptions, tls: RouterTls | undefined): Promise<ServerConnection> {
  if (!tls || tls.serverMode === 'disable') return ServerConnection.open(o);
  return ServerConnection.open({ ...o, secure: (tcp, timeoutMs) => secureServerSocket(tcp, tls, o, timeoutMs) });
}

/**
 * Negotiates TLS on `tcp` (still connecting: the SSLRequest waits in its buffer) within `timeoutMs`, which covers
 * the connect too. A connection error (refused, reset) is what the pool logs rather than backendTls's "closed
 * before answering", since it is the cause.
 */
async function secureServerSocket(tcp: Socket, tls: RouterTls, o: OpenOptions, timeoutMs: number): Promise<Socket> {
  let tcpError: Error | undefined;
  // Kept for the connection's life: the TLS socket reports the failure and closes; without a listener a raw
  // socket's error would be an uncaught exception.
  tcp.on('error', (err) => {
    tcpError ??= err;
  });
  try {
    return await backendTls(tls.serverMode, tcp, o.backend.host, { ...(tls.ca ? { ca: tls.ca } : {}), scheduler: o.scheduler, timeoutMs });
  } catch (err) {
    tcp.destroy();
    throw tcpError ?? err;
  }
}
