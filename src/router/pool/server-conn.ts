/**
 * One server connection of a pool: a TCP connection to a member's PostgreSQL, logged in as the pool's user on
 * the pool's database (lane auth's ServerLogin answers the Authentication requests with the credentials the router
 * holds), its ParameterStatus set and BackendKeyData kept. After the login its bytes go to whichever pooled
 * session holds it (`handler`), framed into whole messages; an idle connection that closes or talks is dropped
 * from its pool by `lost`.
 */
import { connect, type Socket } from 'node:net';
import type { Scheduler } from '../../lib/clock';
import { ServerLogin } from '../auth/server-login';
import type { Secret } from '../auth/secrets';
import { END_BACKSTOP_MS, destroyAfter } from '../context';
import type { Backend } from '../types';
import { decodeErrorResponse, encodeStartup, type ErrorFields } from '../wire';
import { CancelGuard } from './cancel-guard';
import { MSG, MessageFramer, decodeParameterStatus, terminate, type Message } from './messages';

/** PostgreSQL's ErrorResponse at login (3D000 no such database, 28P01 wrong password…): shown to the client as is. */
export class ServerLoginError extends Error {
  constructor(readonly fields: Record<string, string>) {
    super(`server refused the login: ${fields.M ?? 'no message'} (SQLSTATE ${fields.C ?? '?'})`);
  }
}

/** The SQLSTATE of a login the server refused, as server-end.ts's facts take it (none for a connect failure). */
export function loginSqlstate(err: unknown): { sqlstate?: string } {
  return err instanceof ServerLoginError ? { sqlstate: err.fields.C ?? '' } : {};
}

/** What the client is told when a server connection could not be had for it: the server's own error if it gave one. */
export function refusalFields(err: unknown): Omit<ErrorFields, 'severity'> {
  if (!(err instanceof ServerLoginError)) return { sqlstate: '08006', message: `could not connect to the server: ${(err as Error | undefined)?.message ?? 'unknown error'}` };
  return { sqlstate: err.fields.C ?? '08006', message: err.fields.M ?? err.message, ...(err.fields.D ? { detail: err.fields.D } : {}) };
}

/** An ErrorResponse of severity FATAL or PANIC: the server ends the connection after it. */
export function endsConnection(m: Message): boolean {
  const f = decodeErrorResponse(m.raw);
  const severity = f?.V ?? f?.S;
  return severity === 'FATAL' || severity === 'PANIC';
}

/** A server error in words for a detail line: message and SQLSTATE. */
export function serverSaid(m: Message): string {
  const f = decodeErrorResponse(m.raw) ?? {};
  return `the server said: ${f.M ?? 'nothing'} (SQLSTATE ${f.C ?? '?'})`;
}

/** Who gets a busy connection's messages (the pooled session holding it). */
export interface ServerHandler {
  /** Whole messages from the server; `batchEnd` after the last one of a read (the session flushes then). */
  serverMessage(conn: ServerConnection, m: Message): void;
  serverBatchEnd(conn: ServerConnection): void;
  /** The connection closed or failed under the session. */
  serverLost(conn: ServerConnection, err?: Error): void;
}

export interface OpenOptions {
  backend: Backend;
  user: string;
  database: string;
  secret: Secret | undefined;
  clientKey?: Buffer;
  scheduler: Scheduler;
  /** The whole of connect and login must fit in this. */
  timeoutMs: number;
  keepaliveMs: number;
  /** Turns the fresh TCP connection into the one to log in on (pool/server-tls.ts: TLS by tls.server_mode). */
  secure?: (tcp: Socket, timeoutMs: number) => Promise<Socket>;
}

export class ServerConnection {
  readonly params = new Map<string, string>();
  processId = 0;
  secretKey = 0;
  handler: ServerHandler | undefined;
  /** Called when the connection ends while no session holds it (the pool forgets it). */
  onIdleLoss: ((conn: ServerConnection, err?: Error) => void) | undefined;
  closed = false;
  /** Cancels sent for this connection's query: it goes back to a pool only once they have settled. */
  readonly cancels = new CancelGuard();
  private readonly framer = new MessageFramer('backend');

  private constructor(
    readonly socket: Socket,
    readonly backend: Backend,
    private readonly scheduler: Scheduler,
  ) {}

  get member(): string {
    return this.backend.member;
  }

  /** Connects and logs in; rejects with ServerLoginError (the server's own error) or a connection error. */
  static open(o: OpenOptions): Promise<ServerConnection> {
    const tcp = connect({ host: o.backend.host, port: o.backend.port, noDelay: true });
    if (o.keepaliveMs > 0) tcp.setKeepAlive(true, o.keepaliveMs);
    if (!o.secure) return ServerConnection.login(tcp, o, o.timeoutMs, false);
    const deadline = o.scheduler.now() + o.timeoutMs;
    return o.secure(tcp, o.timeoutMs).then((socket) => ServerConnection.login(socket, o, Math.max(0, deadline - o.scheduler.now()), true));
  }

  /** The StartupMessage and login on `socket` (`connected`: already, as a TLS socket after its handshake). */
  private static login(socket: Socket, o: OpenOptions, timeoutMs: number, connected: boolean): Promise<ServerConnection> {
    const conn = new ServerConnection(socket, o.backend, o.scheduler);
    const login = new ServerLogin({ user: o.user, secret: o.secret, ...(o.clientKey ? { clientKey: o.clientKey } : {}) });
    return new Promise<ServerConnection>((resolve, reject) => {
      const timer = o.scheduler.setTimer(() => fail(Object.assign(new Error('connect and login timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
      const fail = (err: Error): void => {
        o.scheduler.clearTimer(timer);
        socket.removeAllListeners('data');
        socket.destroy();
        conn.closed = true;
        reject(err);
      };
      socket.on('error', (err) => fail(err));
      socket.once('close', () => fail(new Error('server closed the connection during login')));
      socket.on('data', (chunk: Buffer) => {
        conn.framer.push(chunk);
        for (let m = conn.framer.next(); m; m = conn.framer.next()) {
          if ('kind' in m) return fail(new Error(`server sent an invalid message during login: ${m.message}`));
          if (m.type === MSG.authentication) {
            const step = login.receive(m.body);
            if (step.error) return fail(new Error(step.error));
            if (step.send) socket.write(step.send);
          } else if (m.type === MSG.errorResponse) {
            return fail(new ServerLoginError(decodeErrorResponse(m.raw) ?? {}));
          } else if (m.type === MSG.parameterStatus) {
            const p = decodeParameterStatus(m.body);
            if (p) conn.params.set(p.name, p.value);
          } else if (m.type === MSG.backendKeyData && m.body.length === 8) {
            conn.processId = m.body.readInt32BE(0);
            conn.secretKey = m.body.readInt32BE(4);
          } else if (m.type === MSG.readyForQuery) {
            o.scheduler.clearTimer(timer);
            socket.removeAllListeners('data');
            socket.removeAllListeners('error');
            socket.removeAllListeners('close');
            conn.ready();
            return resolve(conn);
          }
        }
      });
      const startup = (): void => void socket.write(encodeStartup({ user: o.user, database: o.database }));
      if (connected) {
        // backendTls leaves a plain socket paused after the server's 'N' (prefer): a data listener alone would not read.
        socket.resume();
        startup();
      } else socket.once('connect', startup);
    });
  }

  /** After login: every byte is framed and goes to the handler. */
  private ready(): void {
    this.socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      const h = this.handler;
      for (let m = this.framer.next(); m; m = this.framer.next()) {
        if ('kind' in m) {
          // PostgreSQL never sends this: the stream is out of step, the connection unusable.
          this.socket.destroy(new Error(`server sent an invalid message: ${m.message}`));
          return;
        }
        if (h) h.serverMessage(this, m);
        // Idle: a server talking unasked is ending the connection (FATAL before a terminate); the close follows.
      }
      h?.serverBatchEnd(this);
    });
    let lastError: Error | undefined;
    this.socket.on('error', (err) => {
      // The close that follows reports the loss, with this error for the log.
      lastError = err;
    });
    this.socket.once('close', () => {
      this.closed = true;
      const h = this.handler;
      this.handler = undefined;
      if (h) h.serverLost(this, lastError);
      else this.onIdleLoss?.(this, lastError);
    });
  }

  /**
   * False once the server has ended the connection, although 'close' (which tells the pool) comes later: the end of
   * the stream is seen on the read that finds it, the close only after the socket's handle has closed, a loop turn
   * on. A connection the pool hands out in between would take a client's transaction to a dead server.
   */
  usable(): boolean {
    return !this.closed && !this.socket.destroyed && !this.socket.readableEnded;
  }

  /** Ends the connection politely (Terminate), with a backstop for a server that does not close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    this.socket.end(terminate());
    destroyAfter(this.scheduler, this.socket, END_BACKSTOP_MS);
  }

  /** Cuts the connection at once (fencing: the member is no longer where this listener may send). */
  cut(): void {
    this.socket.destroy();
  }
}
