/**
 * A pooled client session (pool_mode session or transaction; pool-design "Pooled session"): the router is the
 * PostgreSQL server for the client. Its messages are framed (messages.ts); one that needs a server while the client
 * holds none ACQUIRES a server connection from the pool of (listener, user, database, current backend member),
 * waiting for a backend to qualify (hold, up to hold_timeout) and then for a free connection (queue_timeout).
 * Backend messages are framed to follow ReadyForQuery: in transaction mode the connection goes back to the pool at
 * the ReadyForQuery 'I' that answers the last sync point sent; in session mode it stays until the client leaves,
 * then reset_query runs on it before it goes back. A server lost under the client is answered by loss.ts; the
 * client connection stays open and its next transaction takes a new server connection (on the new leader).
 *
 * The seam for rewriting (named prepared statements, SET tracking) is `ServerPipe` (server-pipe.ts): every client message
 * on its way to a server connection and every server message on its way back passes through it.
 */
import type { Socket } from 'node:net';
import { END_BACKSTOP_MS, destroyAfter, type RoomContext } from '../context';
import type { HoldTicket } from '../hold';
import type { ListenerRuntime } from '../listeners';
import { noBackendError } from '../refusals';
import type { Session } from '../session';
import type { Backend } from '../types';
import { encodeErrorResponse, type ErrorFields } from '../wire';
import type { Cancellable, ClientKeys } from './client-keys';
import { backToPool, giveBack } from './give-back';
import { afterLoss, onLoss, type Loss } from './loss';
import {
  MSG,
  MessageFramer,
  authenticationOk,
  backendKeyData,
  joinViews,
  parameterStatus,
  readyForQuery,
  statementError,
  type Message,
  type TxStatus,
} from './messages';
import type { BackendWaiter, Pools } from './pools';
import { endsConnection, loginSqlstate, refusalFields, serverSaid, type ServerConnection, type ServerHandler } from './server-conn';
import type { AcquireTicket, ServerPool } from './server-pool';
import { planServerEnd } from './server-end';
import { PASS_THROUGH_PIPE, type ServerPipe } from './server-pipe';
import type { PoolMode } from './types';

export interface PooledRooms {
  ctx: RoomContext;
  pools: Pools;
  keys: ClientKeys<PooledSession>;
  pipe?: (session: PooledSession) => ServerPipe;
}

/** Above this many bytes queued toward a socket, reading from the other side pauses until it drains. */
const HIGH_WATER = 1024 * 1024;
/** Messages that mark a sync point: each gets exactly one ReadyForQuery. */
const SYNC_POINTS = new Set<number>([MSG.query, MSG.sync, MSG.functionCall]);
/** Extended-protocol messages: after them the server connection waits for a Sync before it may be released. */
const EXTENDED = new Set<number>([MSG.parse, MSG.bind, MSG.describe, MSG.execute, MSG.close, MSG.flush]);

export class PooledSession implements ServerHandler, BackendWaiter, Cancellable {
  readonly rt: ListenerRuntime;
  readonly client: Socket;
  readonly mode: PoolMode;
  private readonly framer: MessageFramer;
  private readonly pipe: ServerPipe;
  private server: ServerConnection | undefined;
  private pool: ServerPool<ServerConnection> | undefined;
  private ticket: AcquireTicket | undefined;
  private holdTicket: HoldTicket | undefined;
  private holdUntilMs = 0;
  private acquiring = false;
  private pending: Message[] = [];
  private pendingBytes = 0;
  /** Sync points sent to the server and not answered yet. */
  private outstanding = 0;
  /** Extended-protocol messages sent since the last sync point. */
  private unsynced = 0;
  private txStatus: TxStatus = 'I';
  private loss: Loss | undefined;
  private excluded = new Set<string>();
  /** The pool of the last transaction and the table's backend it was for. */
  private lastPool: ServerPool<ServerConnection> | undefined;
  private lastBackend: Backend | undefined;
  private excludedGeneration = -1;
  private toClient: Buffer[] = [];
  /** send's buffers, reused: what goes to the server and what the router answers for one client message. */
  private readonly out: Buffer[] = [];
  private readonly reply: Buffer[] = [];
  private greeted = false;
  private closed = false;
  private key = { processId: 0, secretKey: 0 };
  private authFinal: Buffer | undefined;
  /** What the server said when it ended the connection (a FATAL), for the loss error's detail. */
  private lossDetail: string | undefined;

  constructor(
    private readonly rooms: PooledRooms,
    private readonly s: Session,
    readonly user: string,
    readonly database: string,
    readonly applicationName: string | undefined,
  ) {
    this.rt = s.rt;
    this.client = s.client;
    this.mode = s.rt.config.poolMode;
    this.framer = new MessageFramer('frontend');
    this.pipe = rooms.pipe?.(this) ?? PASS_THROUGH_PIPE;
  }

  /** Authenticated (client-login.ts; `authFinal`: its SASLFinal): greet, then read the client's messages. */
  start(leftover: Buffer | undefined, authFinal?: Buffer): void {
    this.authFinal = authFinal;
    this.rt.pending.delete(this.s);
    this.rt.sessions.add(this.s);
    this.key = this.rooms.keys.issue(this);
    this.client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    this.client.once('close', () => this.onClientClose());
    const cached = this.rooms.pools.paramsFor(this.rt.config.name, this.user, this.database);
    if (cached && this.mode === 'transaction') this.greet(cached);
    else this.acquire();
    if (leftover) this.onClientData(leftover);
    this.client.resume();
  }

  // ------------------------------------------------------------------------------------------- client side

  private onClientData(chunk: Buffer): void {
    this.framer.push(chunk);
    const server = this.server?.socket;
    server?.cork();
    for (let m = this.framer.next(); m; m = this.framer.next()) {
      if ('kind' in m) {
        this.rooms.ctx.log.info({ listener: this.rt.config.name, session: this.s.id, reason: m.reason }, 'pooled client sent an invalid message');
        this.fatal({ sqlstate: m.sqlstate, message: m.message });
        break;
      }
      this.clientMessage(m);
      if (this.closed) break;
    }
    server?.uncork();
    const s = this.server?.socket;
    if (s && s.writableLength > HIGH_WATER) {
      this.client.pause();
      s.once('drain', () => this.client.resume());
    } else if (this.pendingBytes > HIGH_WATER) {
      this.client.pause();
    }
  }

  private clientMessage(m: Message): void {
    if (m.type === MSG.terminate) {
      this.client.end();
      return;
    }
    if (this.loss && !this.server) {
      const r = afterLoss(this.loss, m);
      this.loss = r.loss;
      for (const b of r.answers) this.client.write(b);
      return;
    }
    if (this.server && !this.acquiring) {
      this.send(m);
      this.maybeRelease();
      return;
    }
    // The rest of a COPY whose server connection is gone: nothing to send it to.
    if (!this.server && (m.type === MSG.copyData || m.type === MSG.copyDone || m.type === MSG.copyFail)) return;
    this.pending.push(m);
    this.pendingBytes += m.raw.length;
    if (!this.acquiring) this.acquire();
  }

  private send(m: Message): void {
    const out = this.out;
    const reply = this.reply;
    this.pipe.toServer(m, out, this.server!, reply);
    // One write for what this message became (a SET the rewriter put before it, a Parse it injected…).
    if (out.length > 0) this.server!.socket.write(out.length === 1 ? out[0]! : joinViews(out));
    out.length = 0;
    if (SYNC_POINTS.has(m.type)) {
      this.outstanding++;
      this.unsynced = 0;
    } else if (EXTENDED.has(m.type)) {
      this.unsynced++;
    }
    if (reply.length === 0) return;
    for (const b of reply) if (b[0] === MSG.readyForQuery && this.outstanding > 0) this.outstanding--;
    this.write(reply.length === 1 ? reply[0]! : Buffer.concat(reply));
    reply.length = 0;
  }

  private write(b: Buffer): void {
    if (!this.closed) this.client.write(b);
  }

  /** A FATAL error, then close (protocol violations; failures before the greeting). */
  private fatal(fields: Omit<ErrorFields, 'severity'>): void {
    if (this.closed) return;
    this.client.end(encodeErrorResponse({ ...fields, severity: 'FATAL' }));
    destroyAfter(this.rooms.ctx.deps.scheduler, this.client, END_BACKSTOP_MS);
  }

  private greet(params: ReadonlyMap<string, string>): void {
    this.greeted = true;
    const out = this.authFinal ? [this.authFinal, authenticationOk()] : [authenticationOk()];
    this.authFinal = undefined;
    for (const [name, value] of params) {
      out.push(parameterStatus(name, name === 'application_name' && this.applicationName !== undefined ? this.applicationName : value));
    }
    out.push(backendKeyData(this.key.processId, this.key.secretKey), readyForQuery('I'));
    this.write(Buffer.concat(out));
  }

  private onClientClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.holdTicket?.cancel();
    this.ticket?.cancel();
    this.rooms.keys.remove(this.key.processId);
    this.rt.sessions.delete(this.s);
    const conn = this.server;
    if (conn && this.pool) {
      this.server = undefined;
      giveBack(conn, this.pool, this.outstanding === 0 && this.unsynced === 0 && this.txStatus === 'I', this.mode === 'session' ? this.rooms.ctx.config().pool.resetQuery : '');
    }
  }

  // ------------------------------------------------------------------------------------------- acquiring

  private acquire(): void {
    this.acquiring = true;
    const now = this.rooms.ctx.deps.scheduler.now();
    if (!this.holdTicket && this.holdUntilMs <= now) this.holdUntilMs = now + this.rt.config.holdTimeoutMs;
    const generation = this.rooms.pools.table().generation;
    if (generation !== this.excludedGeneration) this.excluded.clear();
    const backend = this.rooms.pools.pick(this.rt, this.excluded);
    if (!backend) {
      if (!this.holdTicket) this.holdTicket = this.rooms.pools.hold(this, Math.max(0, this.holdUntilMs - now));
      return;
    }
    // The same backend as last time (the table unchanged) is the same pool, unless retired: no key built per transaction.
    const last = this.lastPool;
    const pool = last && backend === this.lastBackend && !last.retired ? last : this.rooms.pools.pool(this.rt, this.user, this.database, backend);
    this.lastPool = pool;
    this.lastBackend = backend;
    const idle = pool.take();
    if (idle) return this.attach(pool, idle);
    this.ticket = pool.acquire({
      granted: (conn) => this.attach(pool, conn),
      failed: (reason, err) => {
        this.ticket = undefined;
        if (this.closed) return;
        if (reason === 'retired') return this.acquire();
        if (reason === 'queue_timeout') {
          this.rooms.ctx.deps.metrics.pool.queueTimeout(this.rt.config.name);
          return this.failPending({ sqlstate: '08P01', message: 'query_wait_timeout: no server connection became free within pool.queue_timeout' });
        }
        const plan = planServerEnd({ member: backend.member, how: 'open_failed', sent: false, ...loginSqlstate(err) }, this.rooms.pools.members(this.rt), this.excluded);
        if (plan.action === 'fail') return this.failPending(refusalFields(err));
        this.rooms.ctx.log.info({ listener: this.rt.config.name, session: this.s.id, backend: backend.member, reason: plan.reason, err }, 'pooled client: server connection failed, routing again');
        this.excluded.add(backend.member);
        this.excludedGeneration = generation;
        this.acquire();
      },
    });
  }

  /** BackendWaiter: a new table; true once the client no longer waits for a backend. */
  retry(): boolean {
    if (this.closed) return true;
    if (!this.rooms.pools.pick(this.rt, this.excluded)) return false;
    this.holdTicket = undefined;
    this.acquire();
    return true;
  }

  /** BackendWaiter: hold_timeout passed with no backend. */
  expired(waitedMs: number): void {
    this.holdTicket = undefined;
    if (this.closed) return;
    const { fields } = noBackendError(this.rt.config, this.rooms.pools.table(), waitedMs, 'hold_timeout');
    this.failPending(fields);
  }

  private attach(pool: ServerPool<ServerConnection>, conn: ServerConnection): void {
    this.ticket = undefined;
    this.acquiring = false;
    if (this.closed) {
      pool.release(conn, true);
      return;
    }
    this.server = conn;
    this.pool = pool;
    conn.handler = this;
    this.txStatus = 'I';
    if (!this.greeted) this.greet(conn.params);
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    // Corked only for several messages: a single one (a transaction's Query) is one write either way.
    const cork = pending.length > 1;
    if (cork) conn.socket.cork();
    for (const m of pending) this.send(m);
    if (cork) conn.socket.uncork();
    this.client.resume();
    this.maybeRelease();
  }

  /** No server connection for the messages waiting: each sync point among them is answered with `fields`. */
  private failPending(fields: Omit<ErrorFields, 'severity'>): void {
    this.acquiring = false;
    if (!this.greeted) {
      this.fatal(fields);
      return;
    }
    let unsynced = 0;
    for (const m of this.pending) {
      if (SYNC_POINTS.has(m.type)) {
        this.write(Buffer.concat([statementError(fields), readyForQuery('I')]));
        unsynced = 0;
      } else if (EXTENDED.has(m.type)) {
        unsynced++;
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
    if (unsynced > 0) this.loss = { error: fields, block: false, batch: [], rollbackParsed: false };
    this.client.resume();
  }

  // ------------------------------------------------------------------------------------------- server side

  serverMessage(conn: ServerConnection, m: Message): void {
    if (conn !== this.server) return;
    if (m.type === MSG.errorResponse && endsConnection(m)) {
      // A FATAL ends the server connection, not the client's: the client hears of it as a loss (08006), with the
      // server's words in the detail; its connection stays open. The close follows.
      this.lossDetail = serverSaid(m);
      return;
    }
    if (m.type === MSG.readyForQuery) this.txStatus = String.fromCharCode(m.body[0] ?? 0x49) as TxStatus;
    const before = this.toClient.length;
    this.pipe.toClient(m, this.toClient);
    // Each ReadyForQuery the client gets ends one of its sync points (the pipe may hide the server's or add its own).
    for (let i = before; i < this.toClient.length; i++) if (this.toClient[i]![0] === MSG.readyForQuery && this.outstanding > 0) this.outstanding--;
  }

  serverBatchEnd(conn: ServerConnection): void {
    if (conn !== this.server) return;
    if (this.toClient.length > 0) {
      const out = this.toClient.length === 1 ? this.toClient[0]! : joinViews(this.toClient);
      this.toClient.length = 0;
      this.write(out);
    }
    if (this.client.writableLength > HIGH_WATER) {
      conn.socket.pause();
      this.client.once('drain', () => conn.socket.resume());
    }
    this.maybeRelease();
  }

  serverLost(conn: ServerConnection, err?: Error): void {
    if (conn !== this.server) return;
    this.server = undefined;
    this.pool?.lost(conn);
    this.pool = undefined;
    this.pipe.detached?.(true);
    const { answers, loss } = onLoss(this.outstanding, this.unsynced, this.txStatus, this.lossDetail);
    this.lossDetail = undefined;
    this.rooms.ctx.log.info({ listener: this.rt.config.name, session: this.s.id, backend: conn.member, inFlight: this.outstanding, status: this.txStatus, err }, 'pooled client lost its server connection');
    this.rooms.ctx.deps.metrics.pool.lost(this.rt.config.name);
    this.outstanding = 0;
    this.unsynced = 0;
    this.txStatus = 'I';
    this.loss = loss;
    this.toClient = [];
    if (answers.length > 0) this.write(Buffer.concat(answers));
  }

  /** Transaction mode: back to the pool at the ReadyForQuery 'I' that answers the last sync point sent. */
  private maybeRelease(): void {
    if (this.mode !== 'transaction' || !this.server || !this.pool) return;
    if (this.outstanding > 0 || this.unsynced > 0 || this.txStatus !== 'I' || this.pending.length > 0) return;
    const conn = this.server;
    this.server = undefined;
    conn.handler = undefined;
    const pool = this.pool;
    // No cancel in flight (nearly always): back at once, without a closure per transaction.
    if (conn.cancels.settled) backToPool(conn, pool);
    else conn.cancels.whenSettled(() => backToPool(conn, pool));
    this.pool = undefined;
    this.pipe.detached?.(false);
  }

  /** Cancellable: the server connection running this client's query now. */
  cancelTarget(): ReturnType<Cancellable['cancelTarget']> {
    const c = this.server;
    if (!c || (this.outstanding === 0 && this.unsynced === 0)) return undefined;
    return { host: c.backend.host, port: c.backend.port, member: c.member, processId: c.processId, secretKey: c.secretKey, guard: c.cancels };
  }
}
