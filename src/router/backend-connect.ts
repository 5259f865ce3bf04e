/**
 * Connecting a routed session to its backend, and routing it again when the backend fails before anything of it
 * reached the client: the connect is refused or times out, or the backend closes before its first reply (a
 * postmaster killed a moment ago whose backlog still accepted). The failed member is not offered to the session
 * again within the same routing table.
 */
import { connect, type Socket } from 'node:net';
import type { ConnectFailureReason } from '../metrics/router-metrics';
import type { Closing } from './close';
import type { RoomContext } from './context';
import type { Negotiation } from './negotiation';
import { Reader } from './reader';
import { advance, isClosed, isConnecting, type Session } from './session';
import { Splice, type SpliceOwner } from './splice';
import type { Backend } from './types';
import type { RouterTls } from './tls/context';
import { TlsLink } from './tls/link';

export interface BackendConnectRooms {
  closing: Closing;
  negotiation: Negotiation;
  /** The splices' owner (one object for every session, so a session costs no closures). */
  owner: SpliceOwner<Session>;
  /** Routes a session again (router.ts). */
  route(s: Session): void;
  /** The router's TLS material when it terminates TLS (tls/client-side.ts). */
  tls(): RouterTls | undefined;
}

/** The metric label of a failed connect, from the socket error's code. */
export function connectFailureReason(code: string | undefined): ConnectFailureReason {
  return code === 'ECONNREFUSED' ? 'refused' : code === 'ETIMEDOUT' ? 'timeout' : code === 'ECONNRESET' ? 'reset' : 'error';
}

export class BackendConnect {
  constructor(
    private readonly ctx: RoomContext,
    private readonly rooms: BackendConnectRooms,
  ) {}

  async connect(s: Session, backend: Backend, generation: number): Promise<void> {
    const { scheduler, metrics } = this.ctx.deps;
    const config = this.ctx.config();
    const link = this.link(s, backend);
    const server = connect(link.backendSocketOptions(backend.host, backend.port));
    link.attach(server);
    s.server = server;
    s.link = link;
    server.on('error', () => {
      // The error itself reaches the connect below or ends the session; here it only marks the close reason.
      if (s.server === server) s.errored = true;
    });
    server.once('close', () => {
      if (s.server !== server) return;
      if (s.link?.awaitingReply && !s.clientClosed && !s.killed) this.closedBeforeReply(s, server, backend, generation);
      else this.rooms.closing.socketClosed(s, 'backend');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = scheduler.setTimer(() => reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), config.connectTimeoutMs);
        server.once('connect', () => {
          scheduler.clearTimer(timer);
          resolve();
        });
        server.once('error', (err) => {
          scheduler.clearTimer(timer);
          reject(err);
        });
        server.once('close', () => {
          scheduler.clearTimer(timer);
          reject(new Error('closed while connecting'));
        });
      });
    } catch (err) {
      if (isClosed(s) || s.clientClosed) {
        server.destroy();
        return;
      }
      s.errored = false;
      s.server = undefined;
      server.destroy();
      this.failed(s, backend, generation, err);
      return;
    }
    if (isClosed(s) || s.clientClosed) {
      server.destroy();
      return;
    }
    advance(s, 'connected');
    if (config.tcpKeepaliveMs > 0) server.setKeepAlive(true, config.tcpKeepaliveMs);
    s.metrics = metrics.connection(s.rt.config.name, backend.member);
    s.metrics.opened.inc();
    s.metrics.active.inc();
    try {
      await this.rooms.negotiation.negotiate(s, server);
    } catch (err) {
      if (!isClosed(s)) {
        this.ctx.log.debug({ listener: s.rt.config.name, session: s.id, backend: backend.member, err }, 'negotiation failed');
        this.rooms.closing.kill(s, 'error');
      }
    }
  }

  /** Splice, or the TLS relay when the client's TLS ended here and the server's connection may use TLS of its own. */
  private link(s: Session, backend: Backend): Splice<Session> | TlsLink<Session> {
    const tls = s.tlsTerminated ? this.rooms.tls() : undefined;
    if (!tls || tls.serverMode === 'disable') return new Splice(s.client, s, this.rooms.owner);
    const onError = (): void => {
      s.errored = true;
    };
    const onFailed = (err: Error): void => {
      s.errored = true;
      this.ctx.log.warn({ listener: s.rt.config.name, session: s.id, backend: backend.member, serverMode: tls.serverMode, err }, 'TLS to the backend failed');
    };
    return new TlsLink(s.client, s, this.rooms.owner, { tls, host: backend.host, scheduler: this.ctx.deps.scheduler, timeoutMs: this.ctx.config().connectTimeoutMs, onError, onFailed });
  }

  /**
   * A write session still connecting to a backend that is no longer the leader, with nothing sent to the client
   * yet (connect in flight, or startup sent and no reply): routed again (held for the next leader) instead of
   * closed, as a connection that arrives during the election would be. True when it was.
   */
  rerouteUnanswered(s: Session, generation: number): boolean {
    const server = s.server;
    if (s.opaque || !isConnecting(s) || !server || !s.backend) return false;
    if (server.connecting) {
      // The connect promise rejects ('closed while connecting') and `failed` routes the session again.
      s.server = undefined;
      server.destroy();
      return true;
    }
    if (s.link?.awaitingReply) {
      this.closedBeforeReply(s, server, s.backend, generation);
      return true;
    }
    return false;
  }

  /**
   * The backend accepted, took the startup packet and closed without a byte back: a postmaster killed a moment ago
   * (its backlog still accepted), or one shutting down. Nothing reached the client, so route the session again.
   */
  private closedBeforeReply(s: Session, server: Socket, backend: Backend, generation: number): void {
    s.link = undefined;
    if (s.metrics) {
      s.metrics.active.dec();
      s.metrics.closed.error.inc();
      s.metrics = undefined;
    }
    s.errored = false;
    s.server = undefined;
    server.destroy();
    s.reader = new Reader(s.client, 'client', this.ctx.deps.scheduler, this.ctx.config().startup.maxPacketBytes * 2);
    this.failed(s, backend, generation, Object.assign(new Error('closed before its first reply'), { code: 'ECONNRESET' }));
  }

  private failed(s: Session, backend: Backend, generation: number, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code;
    this.ctx.deps.metrics.connectFailed(s.rt.config.name, backend.member, connectFailureReason(code));
    this.ctx.log.warn({ listener: s.rt.config.name, backend: backend.member, code, err }, 'backend connect failed');
    this.rooms.closing.release(s);
    s.backend = undefined;
    s.rt.sessions.delete(s);
    s.rt.pending.add(s);
    advance(s, 'retry');
    s.excluded = s.excluded ?? new Set();
    s.excluded.add(backend.member);
    s.excludedGeneration = generation;
    this.ctx.deps.topology.health.checkNow(backend.member);
    this.rooms.route(s);
  }
}
