/**
 * The data path of one session: bytes relayed both ways between the client and its backend, and the scan of the
 * backend's startup reply (until ReadyForQuery) for BackendKeyData. Nothing here parses, logs or allocates per
 * chunk beyond what that needs:
 *
 *  - backend → client: the backend socket is created with `onread` (see `backendSocketOptions`), so libuv reads
 *    straight into one reused buffer and no Readable stream, 'data' event or per-read Buffer is involved. Each read
 *    is written to the client at once. A write that did not complete synchronously still references the bytes
 *    (in libuv's queue or the Writable's buffer), so the next read goes into a fresh buffer; a write that filled
 *    the client's buffer stops reading from the backend until the client drains (backpressure).
 *  - client → backend: Node 20 cannot give an accepted socket `onread`, so this direction is the same relay over
 *    'data' events: write each chunk, pause the client while the backend's buffer is full.
 *  - the startup reply is scanned in the same read callback, by StartupReplyScanner (5-byte headers and
 *    BackendKeyData's 8 bytes kept, the stream itself never copied); once it is done, reads are only relayed.
 *
 * Bytes are counted from the client socket when the session closes (net.Socket counts them for free).
 */
import type { Socket, NetConnectOpts } from 'node:net';
import type { Scheduler } from '../lib/clock';
import { StartupReplyScanner } from './wire';

/**
 * Read buffer sizes for backend → client. A session reads into a small buffer (a slice of Node's shared pool: an
 * idle session costs no more memory than before, 10,000 idle sessions being a target) and switches to a large one
 * while reads fill the small one (result sets, COPY: PostgreSQL sends in 8 kB pieces, a read takes several), back
 * to the small one when reads are small again.
 */
export const SMALL_READ_BYTES = 1024;
export const LARGE_READ_BYTES = 64 * 1024;

/** What a splice tells its session (implemented once by the router, so a session costs no closures). */
export interface SpliceOwner<S> {
  /** Client bytes now flow to the backend: the session is spliced. */
  spliced(session: S): void;
  /** BackendKeyData of a plain session, seen before ReadyForQuery. */
  backendKey(session: S, processId: number, secretKey: number): void;
}

type Mode = 'negotiating' | 'answer' | 'relay';

export class Splice<S> {
  private buf = Buffer.allocUnsafe(SMALL_READ_BYTES);
  private mode: Mode = 'negotiating';
  private server!: Socket;
  private scanner: StartupReplyScanner | undefined;
  /** Plain startup sent, no byte back yet: a backend closing now may be retried elsewhere (nothing reached the client). */
  awaitingReply = false;
  private clientSpliced = false;
  private answerWaiter: ((chunk: Buffer | undefined) => void) | undefined;

  /** `onread` for net.connect: libuv reads into `buf` (see `nextBuffer`), the callback relays what was read. */
  readonly onread = {
    buffer: (): Buffer => this.buf,
    callback: (n: number, buf: Buffer): boolean => this.onBackendRead(n, buf),
  };

  constructor(
    private readonly client: Socket,
    private readonly session: S,
    private readonly owner: SpliceOwner<S>,
  ) {}

  /** Options for the backend's net.connect: the reused-buffer reads of this splice. */
  backendSocketOptions(host: string, port: number): NetConnectOpts {
    return { host, port, noDelay: true, onread: this.onread };
  }

  /** The backend socket, connected with `backendSocketOptions`. */
  attach(server: Socket): void {
    this.server = server;
  }

  /**
   * The backend's first read after SSLRequest/GSSENCRequest: its one-byte answer and any bytes after it, within
   * `timeoutMs` on `clock` (passed here, not kept: an idle session costs no field for it); rejects when the backend
   * closes first. Reading stays stopped until the next step resumes it.
   */
  answer(timeoutMs: number, clock: Scheduler): Promise<Buffer> {
    this.mode = 'answer';
    const server = this.server;
    return new Promise((resolve, reject) => {
      const done = (chunk: Buffer | undefined, err?: Error): void => {
        clock.clearTimer(timer);
        server.removeListener('close', onClose);
        this.answerWaiter = undefined;
        this.mode = 'negotiating';
        if (!chunk) reject(err ?? new Error('backend closed the connection'));
        else resolve(chunk);
      };
      const onClose = (): void => done(undefined);
      const timer = clock.setTimer(() => done(undefined, new Error('backend sent no answer in time')), timeoutMs);
      server.once('close', onClose);
      this.answerWaiter = done;
      server.resume();
    });
  }

  /**
   * Plain stream: forwards the startup packet (and client bytes read after it), then relays both ways, scanning
   * the backend's reply until ReadyForQuery. Until the backend's first byte, client bytes wait (the client socket
   * stays paused) and the session may still be retried elsewhere.
   */
  startPlain(startupPacket: Buffer, rest: Buffer | undefined): void {
    const server = this.server;
    if (rest) {
      server.cork();
      server.write(startupPacket);
      server.write(rest);
      server.uncork();
      this.spliceClient();
    } else {
      server.write(startupPacket);
      this.awaitingReply = true;
    }
    this.scanner = new StartupReplyScanner();
    this.relayBackend();
  }

  /**
   * Opaque stream (TLS/GSS after 'S'/'G', or direct TLS): relays both ways unread. `toClient` = bytes to send the
   * client first (the answer byte and what followed it), `toServer` = client bytes read ahead.
   */
  startOpaque(toClient: Buffer | undefined, toServer: Buffer | undefined): void {
    if (toServer) this.server.write(toServer);
    if (toClient) this.client.write(toClient);
    this.spliceClient();
    this.relayBackend();
  }

  private relayBackend(): void {
    this.mode = 'relay';
    this.server.resume();
  }

  private spliceClient(): void {
    if (this.clientSpliced) return;
    this.clientSpliced = true;
    this.awaitingReply = false;
    const client = this.client;
    const server = this.server;
    client.on('data', (chunk: Buffer) => {
      if (!server.write(chunk)) client.pause();
    });
    server.on('drain', () => client.resume());
    client.once('end', () => server.end());
    // Installed here, not before: a backend that closes before its first reply is replaced, and its listeners with it.
    client.on('drain', () => server.resume());
    server.once('end', () => client.end());
    client.resume();
    this.owner.spliced(this.session);
  }

  /** The per-read path, backend → client. False stops reading (until the client drains or the next step). */
  private onBackendRead(n: number, buf: Buffer): boolean {
    if (this.mode !== 'relay') {
      // Negotiation: one copy of a few bytes, handed to the waiting step; anything unexpected ends the session.
      const waiter = this.answerWaiter;
      if (waiter) waiter(Buffer.from(buf.subarray(0, n)));
      else this.server.destroy();
      return false;
    }
    const chunk = n === buf.length ? buf : buf.subarray(0, n);
    if (this.scanner) this.scan(chunk);
    const client = this.client;
    const ok = client.write(chunk);
    this.nextBuffer(n, buf, client.writableLength > 0);
    return ok;
  }

  /**
   * The buffer for the next read. `held`: the write did not go through synchronously, so the pending write still
   * references `buf` and the next read must go elsewhere (the only case that allocates, besides growing).
   */
  private nextBuffer(n: number, buf: Buffer, held: boolean): void {
    const size = n === buf.length ? LARGE_READ_BYTES : n < SMALL_READ_BYTES ? SMALL_READ_BYTES : buf.length;
    if (held || size !== buf.length) this.buf = Buffer.allocUnsafe(size);
  }

  private scan(chunk: Buffer): void {
    if (this.awaitingReply) this.spliceClient();
    if (scanStartupReply(this.scanner!, chunk, this.owner, this.session)) this.scanner = undefined;
  }
}

/**
 * Feeds one chunk of the backend's startup reply to `scanner`; true once the reply is over. The BackendKeyData of a
 * session that reached ReadyForQuery goes to the owner (cancel routing). Also the TLS relay's (tls/link.ts).
 */
export function scanStartupReply<S>(scanner: StartupReplyScanner, chunk: Buffer, owner: SpliceOwner<S>, session: S): boolean {
  const state = scanner.feed(chunk);
  if (state === 'more') return false;
  if (state === 'done' && scanner.finalType === 0x5a && scanner.processId !== undefined && scanner.secretKey !== undefined) {
    owner.backendKey(session, scanner.processId, scanner.secretKey);
  }
  return true;
}
