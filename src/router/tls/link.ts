/**
 * The data path of a session whose client TLS ended at the router and whose server connection negotiates TLS of its
 * own (tls.server_mode other than disable: tls/backend.ts). Splice (splice.ts) reads the server with `onread`, which
 * a TLSSocket over an existing socket cannot use, so this relay moves the plaintext of both TLS streams over 'data'
 * events, with backpressure both ways (a full writer pauses the other side until it drains), and scans the server's
 * startup reply for BackendKeyData as Splice does, so CancelRequests read inside the client's TLS reach this server.
 * The plain path (no TLS on either side, or none to the server) stays on Splice.
 */
import type { NetConnectOpts, Socket } from 'node:net';
import type { Scheduler } from '../../lib/clock';
import { scanStartupReply, type SpliceOwner } from '../splice';
import { StartupReplyScanner, encodeErrorResponse } from '../wire';
import { BackendTlsError, backendTls } from './backend';
import type { RouterTls } from './context';

export interface TlsLinkOptions {
  tls: RouterTls;
  /** The server's host (verify-full compares it with the certificate). */
  host: string;
  scheduler: Scheduler;
  timeoutMs: number;
  /** A socket error of the server's TLS stream (the session counts it; the close that follows ends it). */
  onError(err: Error): void;
  /** TLS to the server failed (the client is answered 08006 and the session ends): for the log. */
  onFailed(err: Error): void;
}

export class TlsLink<S> {
  /** Startup sent, no byte back yet: a server closing now may be retried elsewhere (nothing reached the client). */
  awaitingReply = false;
  private server!: Socket;
  private scanner: StartupReplyScanner | undefined = new StartupReplyScanner();
  private clientSpliced = false;

  constructor(
    private readonly client: Socket,
    private readonly session: S,
    private readonly owner: SpliceOwner<S>,
    private readonly opts: TlsLinkOptions,
  ) {}

  /** A plain connect: the SSLRequest and the handshake come after (startPlain). */
  backendSocketOptions(host: string, port: number): NetConnectOpts {
    return { host, port, noDelay: true };
  }

  attach(server: Socket): void {
    this.server = server;
  }

  /**
   * TLS to the server by server_mode, then the client's startup packet (and what it sent after it), then the relay.
   * A failed negotiation answers the client with an ErrorResponse (08006) and ends both sides.
   */
  async startPlain(startupPacket: Buffer, rest: Buffer | undefined): Promise<void> {
    const { tls, host, scheduler, timeoutMs } = this.opts;
    let stream: Socket;
    try {
      stream = await backendTls(tls.serverMode, this.server, host, { ...(tls.ca ? { ca: tls.ca } : {}), scheduler, timeoutMs });
    } catch (err) {
      if (!(err instanceof BackendTlsError)) throw err;
      this.opts.onFailed(err);
      this.client.end(encodeErrorResponse({ sqlstate: '08006', message: `pgha router: ${err.message}` }));
      // Counted as spliced, so the server's close ends the client gracefully (close.ts) and the error reaches it.
      this.clientSpliced = true;
      this.owner.spliced(this.session);
      this.server.destroy();
      return;
    }
    if (stream !== this.server) {
      stream.on('error', this.opts.onError);
      // The session follows the server's TCP socket (backend-connect.ts); its TLS stream goes with it.
      this.server.once('close', () => stream.destroy());
    }
    stream.write(startupPacket);
    if (rest) {
      stream.write(rest);
      this.spliceClient(stream);
    } else {
      this.awaitingReply = true;
    }
    const client = this.client;
    stream.on('data', (chunk: Buffer) => {
      if (this.scanner) this.scan(chunk, stream);
      if (!client.write(chunk)) stream.pause();
    });
    client.on('drain', () => stream.resume());
    stream.once('end', () => client.end());
    stream.resume();
  }

  private spliceClient(stream: Socket): void {
    if (this.clientSpliced) return;
    this.clientSpliced = true;
    this.awaitingReply = false;
    const client = this.client;
    client.on('data', (chunk: Buffer) => {
      if (!stream.write(chunk)) client.pause();
    });
    stream.on('drain', () => client.resume());
    client.once('end', () => stream.end());
    client.resume();
    this.owner.spliced(this.session);
  }

  private scan(chunk: Buffer, stream: Socket): void {
    if (this.awaitingReply) this.spliceClient(stream);
    if (scanStartupReply(this.scanner!, chunk, this.owner, this.session)) this.scanner = undefined;
  }
}
