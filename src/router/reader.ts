/**
 * Buffered reading of a socket before routing (the client's first packets, the backend's one-byte TLS answer).
 * Only used until the connection is spliced; `detach()` pauses the socket, removes the listeners and hands back
 * whatever was read but not consumed, so not a byte is lost when the pipes take over.
 */
import type { Socket } from 'node:net';
import type { Scheduler } from '../lib/clock';
import { parseFrontendPacket, type FrontendPacket } from './wire';

export class ClosedError extends Error {
  constructor(what: string) {
    super(`${what} closed the connection`);
  }
}

export class TimeoutError extends Error {}

export class Reader {
  private buf: Buffer | undefined;
  private waiter: (() => void) | undefined;
  closed = false;
  private readonly onData = (d: Buffer): void => {
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    if (this.buf.length > this.pauseAbove) this.socket.pause();
    this.wake();
  };
  private readonly onEnd = (): void => {
    this.closed = true;
    this.wake();
  };

  constructor(
    private readonly socket: Socket,
    private readonly what: string,
    /** Deadlines run on the router's monotonic clock and timers. */
    private readonly clock: Scheduler,
    /** Stop reading once this much is buffered (the caller only ever needs one bounded packet). */
    private readonly pauseAbove = 64 * 1024,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.resume();
  }

  get buffered(): number {
    return this.buf?.length ?? 0;
  }

  /** The first client packet (or the next one after an 'N' to SSLRequest/GSSENCRequest), within `timeoutMs`. */
  async packet(maxLength: number, timeoutMs: number): Promise<{ packet: FrontendPacket; raw: Buffer }> {
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      const packet = parseFrontendPacket(this.buf ?? EMPTY, maxLength);
      if (packet.kind !== 'incomplete') {
        const n = 'length' in packet ? packet.length : packet.kind === 'direct-tls' ? this.buffered : 0;
        return { packet, raw: this.take(n) };
      }
      await this.more(deadline);
    }
  }

  /**
   * Something else before the first packet (a PROXY protocol header), parsed by `parse` until it is no longer
   * `incomplete`, within `timeoutMs`; a result with a `length` consumes that many bytes.
   */
  async next<T extends { kind: string }>(parse: (buf: Buffer) => T, timeoutMs: number): Promise<T> {
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      const r = parse(this.buf ?? EMPTY);
      if (r.kind !== 'incomplete') {
        if ('length' in r && typeof r.length === 'number') this.take(r.length);
        return r;
      }
      await this.more(deadline);
    }
  }

  /** One byte (the backend's answer to SSLRequest/GSSENCRequest). */
  async byte(timeoutMs: number): Promise<number> {
    const deadline = this.clock.now() + timeoutMs;
    while (!this.buf || this.buf.length === 0) await this.more(deadline);
    return this.take(1)[0]!;
  }

  /** Stops reading; returns the bytes read but not consumed. The socket stays paused for the pipes. */
  detach(): Buffer | undefined {
    this.socket.pause();
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('close', this.onEnd);
    const rest = this.buf;
    this.buf = undefined;
    this.wake();
    return rest && rest.length ? rest : undefined;
  }

  private take(n: number): Buffer {
    const b = this.buf ?? EMPTY;
    const out = b.subarray(0, n);
    this.buf = n < b.length ? b.subarray(n) : undefined;
    if (this.buf === undefined || this.buf.length <= this.pauseAbove) this.socket.resume();
    return out;
  }

  private more(deadline: number): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(this.what));
    const wait = deadline - this.clock.now();
    if (wait <= 0) return Promise.reject(new TimeoutError(`${this.what} sent nothing usable in time`));
    return new Promise((resolve, reject) => {
      const waiter = (): void => {
        this.clock.clearTimer(timer);
        this.waiter = undefined;
        if (this.closed && this.buffered === 0) reject(new ClosedError(this.what));
        else resolve();
      };
      // Timers run before the poll phase reads sockets: on a busy event loop (a flood of connections) the packet may
      // already be in the kernel's buffer when the deadline fires. One more turn (setImmediate runs after the poll
      // phase) lets it arrive, so only a client that really sent nothing in time is timed out.
      const timer = this.clock.setTimer(() => setImmediate(() => {
        if (this.waiter !== waiter) return;
        this.waiter = undefined;
        reject(new TimeoutError(`${this.what} sent nothing usable in time`));
      }), wait);
      this.waiter = waiter;
    });
  }

  private wake(): void {
    this.waiter?.();
  }
}

const EMPTY = Buffer.alloc(0);
