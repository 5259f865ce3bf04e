/**
 * Listeners and the connection lifecycle:
 *
 *   accept → read the first packet (bounded in size and time) → CancelRequest: deliver it, close
 *          → SSLRequest / GSSENCRequest / StartupMessage / TLS ClientHello: pick a backend from the current table
 *            (or hold until one qualifies, then ErrorResponse) → connect → negotiation (TLS requests are
 *            forwarded and the backend's 'S'/'N' relayed) → plain startup: the backend's reply is scanned until
 *            ReadyForQuery to learn BackendKeyData → splice.
 *
 * After the splice the router never looks at a byte: the relay both ways lives in splice.ts (reused read buffers,
 * backpressure), bytes counted from the sockets at close. Write sessions are closed at once when a new table no
 * longer names their backend as the confirmed leader.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger';
import type { RouterMetrics, CloseReason, ConnectionMetrics, ConnectFailureReason } from '../metrics/router-metrics';
import { Balancer } from './balance';
import { HoldQueue, type HoldTicket } from './hold';
import type { Scheduler } from '../lib/clock';
import { AddressCounts, overLimit, tooManyConnections, type LimitReason } from './limits';
import { ProxyAccept } from './proxy-accept';
import { planReadFollow } from './read-follow';
import { ReadFollowTimers } from './read-follow-timers';
import { Reader, TimeoutError } from './reader';
import { sameBackend } from './routing';
import { Splice, type SpliceOwner } from './splice';
import type { Backend, ListenerConfig, RefusalReason, RouterConfig, RoutingTable } from './types';
import { cancelKey, encodeErrorResponse, type ErrorFields, type FrontendPacket } from './wire';

type Phase = 'startup' | 'held' | 'connecting' | 'spliced' | 'closed';

interface Session {
  id: number;
  client: Socket;
  rt: ListenerRuntime;
  reader?: Reader;
  phase: Phase;
  first?: { packet: FrontendPacket; raw: Buffer };
  deadlineMs: number;
  acceptedAtMs: number;
  hold?: HoldTicket;
  heldSinceMs?: number;
  excluded?: Set<string>;
  excludedGeneration?: number;
  backend?: Backend;
  server?: Socket;
  /** The data path to `server` (splice.ts). */
  link?: Splice<Session>;
  metrics?: ConnectionMetrics;
  opaque: boolean;
  key?: string;
  killed?: CloseReason;
  errored: boolean;
  firstClosed?: 'client' | 'backend';
  clientClosed: boolean;
  serverClosed: boolean;
  spliced: boolean;
  /** Accepted over a connection limit: read for its startup packet only, to answer 53300. */
  overLimit?: LimitReason | undefined;
  /** The client address this session counts against (max_connections_per_client). */
  clientAddress?: string;
  /** The client's address from a PROXY header (proxy_protocol listeners); else the socket's is used. */
  peer?: string;
}

export interface ListenerRuntime {
  config: ListenerConfig;
  server: Server;
  port: number;
  /** Sessions with a backend chosen (connecting or spliced). */
  sessions: Set<Session>;
  /** Sessions before routing (reading the startup packet, or held). */
  pending: Set<Session>;
  hold: HoldQueue<Session>;
  balancer: Balancer;
  /** Backends holding sessions whose keys the router cannot see (TLS/GSS): member → count. */
  opaque: Map<string, { backend: Backend; count: number }>;
  /** Connections over a limit, read only to be answered 53300 (not client sessions: not counted against limits). */
  refusing: Set<Session>;
  /** Open client connections per client IP address (kept for max_connections_per_client). */
  perClient: AddressCounts;
  /** Refusals for a limit not logged yet, and when the last such line was written (at most one per LIMIT_LOG_MS). */
  limitRefusals: number;
  limitLoggedAtMs?: number;
}

/**
 * Where the router reads its routing table: the Topology itself (one process), or a worker's copy of the control
 * plane's tables (workers/remote-topology.ts). `recompute()` is asked for when a table's write bound has passed.
 */
export interface TableSource {
  table(): RoutingTable;
  recompute(): void;
  health: { checkNow(member: string): void };
}

export interface RouterDeps {
  topology: TableSource;
  metrics: RouterMetrics;
  logger: Logger;
  scheduler: Scheduler;
}

/** The answer 'N' to SSLRequest/GSSENCRequest, one Buffer for all (a string would be encoded on every write). */
const NO_ENCRYPTION = Buffer.from('N');

/**
 * Where a CancelRequest with a key this process never saw goes: every member's postgres of the current table, plus
 * the backends of TLS/GSS sessions (their keys are never visible). The key may belong to a session of another
 * worker or another router instance, or of a TLS session; PostgreSQL ignores a key it does not know, so the
 * broadcast cancels at most the one right query (the 32-bit secret makes a false match negligible).
 */
export function cancelTargets(opaque: Iterable<{ backend: Backend }>, table: RoutingTable): Backend[] {
  const out = new Map<string, Backend>();
  for (const e of opaque) out.set(`${e.backend.host}:${e.backend.port}`, e.backend);
  for (const m of table.members) {
    if (m.host === undefined || m.port === undefined) continue;
    const k = `${m.host}:${m.port}`;
    if (!out.has(k)) out.set(k, { member: m.member, host: m.host, port: m.port, weight: 1 });
  }
  return [...out.values()];
}

/** Reads the phase through a call, so TypeScript does not narrow it across awaits. */
const isClosed = (s: Session): boolean => s.phase === 'closed';

/** The SQLSTATE for "try again later" (no backend qualifies): cannot_connect_now. */
const CANNOT_CONNECT_NOW = '57P03';
/**
 * Connections over a limit being answered at once per listener. Each holds a descriptor until its startup packet
 * arrives (at most startup_timeout); past this many, a flood is cut without an answer so the descriptors stay
 * with the sessions being served.
 */
const MAX_REFUSING = 1000;
/** A listener at its limit logs one line per this period (with the count), not one per refused connection. */
const LIMIT_LOG_MS = 10_000;

export class Router implements SpliceOwner<Session> {
  readonly listeners = new Map<string, ListenerRuntime>();
  private readonly cancelKeys = new Map<string, Backend>();
  private readonly activeByMember = new Map<string, number>();
  private config: RouterConfig;
  private nextId = 1;
  private stopping = false;
  private readonly log: Logger;
  private readonly proxyAccept: ProxyAccept;
  private readonly readFollow: ReadFollowTimers;

  constructor(
    config: RouterConfig,
    private readonly deps: RouterDeps,
  ) {
    this.config = config;
    this.log = deps.logger;
    this.proxyAccept = new ProxyAccept({ metrics: deps.metrics, logger: deps.logger, now: () => deps.scheduler.now() });
    this.readFollow = new ReadFollowTimers(deps.scheduler, deps.logger, {
      endSessions: (listener, member) => this.endSessionsOn(listener, member),
      ended: (listener, reason, n) => deps.metrics.readSessionsEndedFor(listener, reason, n),
    });
  }

  // ------------------------------------------------------------------------------------------- listeners

  async listen(): Promise<void> {
    for (const l of this.config.listeners) await this.addListener(l);
  }

  private async addListener(config: ListenerConfig): Promise<void> {
    const server = createServer({ noDelay: true, pauseOnConnect: false });
    const rt: ListenerRuntime = {
      config,
      server,
      port: 0,
      sessions: new Set(),
      pending: new Set(),
      hold: new HoldQueue<Session>(this.deps.scheduler, (s, waited) => this.holdExpired(s, waited)),
      balancer: new Balancer(),
      opaque: new Map(),
      refusing: new Set(),
      perClient: new AddressCounts(),
      limitRefusals: 0,
    };
    server.on('connection', (socket) => this.accept(rt, socket));
    server.on('error', (err) => this.log.error({ err, listener: config.name }, 'listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: config.host, port: config.port, backlog: 4096 }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`listener ${config.name}: cannot listen on ${config.host}:${config.port}: ${err.code ?? err.message}`);
    });
    const addr = server.address();
    rt.port = addr && typeof addr === 'object' ? addr.port : config.port;
    this.listeners.set(config.name, rt);
    this.log.info({ listener: config.name, role: config.role, host: config.host, port: rt.port }, 'listening');
  }

  /**
   * Stops accepting at once: the listening socket closes now and its port is free again. Not awaited: close()'s
   * callback waits for every open connection, and the callers end those sessions themselves (after a drain).
   */
  private closeServer(rt: ListenerRuntime): void {
    rt.server.close();
  }

  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, rt] of this.listeners) out[name] = rt.port;
    return out;
  }

  heldCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, rt] of this.listeners) out[name] = rt.hold.size;
    return out;
  }

  sessionCounts(): Record<string, { active: number; pending: number; held: number }> {
    const out: Record<string, { active: number; pending: number; held: number }> = {};
    for (const [name, rt] of this.listeners) out[name] = { active: rt.sessions.size, pending: rt.pending.size, held: rt.hold.size };
    return out;
  }

  /** Sessions with a chosen backend (connecting or spliced), per listener and backend member: for /status. */
  connectionsByBackend(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, rt] of this.listeners) {
      const per: Record<string, number> = {};
      for (const s of rt.sessions) if (s.backend) per[s.backend.member] = (per[s.backend.member] ?? 0) + 1;
      out[name] = per;
    }
    return out;
  }

  /** Open client connections per client address (the PROXY header's when given), the `top` largest per listener. */
  clientsByListener(top: number): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, rt] of this.listeners) out[name] = rt.perClient.top(top);
    return out;
  }

  /** Applies a reloaded configuration: listener settings in place, new/removed/moved listeners. */
  async reconfigure(config: RouterConfig): Promise<void> {
    this.config = config;
    const wanted = new Map(config.listeners.map((l) => [l.name, l]));
    for (const [name, rt] of [...this.listeners]) {
      const next = wanted.get(name);
      if (!next) {
        this.listeners.delete(name);
        this.closeServer(rt);
        rt.hold.expireAll();
        for (const s of [...rt.sessions]) this.kill(s, 'shutdown');
        for (const s of [...rt.pending, ...rt.refusing]) this.destroyPending(s);
        continue;
      }
      const moved = next.host !== rt.config.host || (next.port !== rt.config.port && next.port !== 0);
      rt.config = next;
      if (moved) {
        this.closeServer(rt);
        this.listeners.delete(name);
        const sessions = rt.sessions;
        const pending = rt.pending;
        await this.addListener(next);
        const fresh = this.listeners.get(name)!;
        for (const s of sessions) {
          s.rt = fresh;
          fresh.sessions.add(s);
        }
        for (const s of pending) {
          s.rt = fresh;
          fresh.pending.add(s);
        }
        for (const [k, v] of rt.opaque) fresh.opaque.set(k, v);
        fresh.perClient = rt.perClient;
      }
    }
    for (const l of config.listeners) if (!this.listeners.has(l.name)) await this.addListener(l);
  }

  // ------------------------------------------------------------------------------------------- accept

  private accept(rt: ListenerRuntime, client: Socket): void {
    if (this.stopping) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    if (this.config.tcpKeepaliveMs > 0) client.setKeepAlive(true, this.config.tcpKeepaliveMs);
    const now = this.deps.scheduler.now();
    const s: Session = {
      id: this.nextId++,
      client,
      rt,
      phase: 'startup',
      deadlineMs: now + rt.config.holdTimeoutMs,
      acceptedAtMs: now,
      opaque: false,
      errored: false,
      clientClosed: false,
      serverClosed: false,
      spliced: false,
    };
    if (rt.config.proxyProtocol?.length) {
      void this.proxyAccept.accept(client, rt.config, this.config.startup).then((r) => r && this.startSession(rt, s, r.reader, r.address), () => client.destroy());
      return;
    }
    this.startSession(rt, s);
  }

  /** Admission, then the first packet; `reader`/`peer` come from a PROXY header read first (proxy-accept.ts). */
  private startSession(rt: ListenerRuntime, s: Session, reader?: Reader, peer?: string): void {
    const client = s.client;
    if (this.stopping || client.destroyed) {
      reader?.detach();
      client.destroy();
      return;
    }
    s.peer = peer;
    if (!this.admit(rt, s)) return;
    client.on('error', () => {
      s.errored = true;
    });
    client.once('close', () => this.onClientClose(s));
    s.reader = reader ?? new Reader(client, 'client', this.config.startup.maxPacketBytes * 2);
    void this.readFirst(s);
  }

  /**
   * The connection limits, checked once per accepted connection (never on the data path): under them the
   * connection becomes a client session (pending); over one it is only read for its startup packet, to be
   * answered 53300 like PostgreSQL's "too many clients". False: closed at once (too many being refused already).
   */
  private admit(rt: ListenerRuntime, s: Session): boolean {
    const l = rt.config;
    const addr = s.peer ?? s.client.remoteAddress ?? '';
    s.overLimit = overLimit(l, rt.sessions.size + rt.pending.size, rt.perClient.get(addr));
    if (!s.overLimit) {
      rt.pending.add(s);
      s.clientAddress = addr;
      rt.perClient.add(addr);
      return true;
    }
    rt.limitRefusals++;
    const now = this.deps.scheduler.now();
    if (rt.limitLoggedAtMs === undefined || now - rt.limitLoggedAtMs >= LIMIT_LOG_MS) {
      this.log.warn({ listener: l.name, reason: s.overLimit, refused: rt.limitRefusals, maxConnections: l.maxConnections, maxConnectionsPerClient: l.maxConnectionsPerClient, client: addr }, 'connection limit reached: refusing new connections');
      rt.limitLoggedAtMs = now;
      rt.limitRefusals = 0;
    }
    if (rt.refusing.size >= MAX_REFUSING) {
      this.deps.metrics.refused(l.name, s.overLimit);
      s.client.destroy();
      return false;
    }
    rt.refusing.add(s);
    return true;
  }

  private async readFirst(s: Session): Promise<void> {
    const { startup } = this.config;
    let first: { packet: FrontendPacket; raw: Buffer };
    try {
      first = await s.reader!.packet(startup.maxPacketBytes, startup.timeoutMs);
    } catch (err) {
      this.startupFailed(s, err);
      return;
    }
    const p = first.packet;
    switch (p.kind) {
      case 'invalid':
        this.refuse(s, { sqlstate: p.sqlstate, message: p.message }, p.reason);
        return;
      case 'cancel':
        this.rtDone(s);
        s.client.end();
        void this.deliverCancel(s.rt, p.key, first.raw);
        return;
      case 'ssl':
      case 'gssenc':
        if (s.reader!.buffered > 0) {
          this.refuse(s, { sqlstate: '08P01', message: 'received unencrypted data after SSL/GSS encryption request' }, 'unencrypted_data_after_tls_request');
          return;
        }
        break;
      default:
        break;
    }
    s.first = first;
    if (s.overLimit) this.refuse(s, tooManyConnections(s.rt.config, s.overLimit, s.peer ?? s.client.remoteAddress), s.overLimit);
    else this.route(s);
  }

  private startupFailed(s: Session, err: unknown): void {
    if (s.phase === 'closed') return;
    if (err instanceof TimeoutError) {
      this.deps.metrics.refused(s.rt.config.name, 'startup_timeout');
      this.log.debug({ listener: s.rt.config.name, session: s.id }, 'client sent no startup packet in time');
    }
    this.destroyPending(s);
  }

  // ------------------------------------------------------------------------------------------- routing

  /** Picks a backend now, or holds the session until one qualifies or its deadline passes. */
  private route(s: Session): boolean {
    if (s.phase === 'closed') return true;
    if (this.stopping) {
      this.refuse(s, { sqlstate: '57P01', message: 'pgha router is shutting down' }, 'shutdown');
      return true;
    }
    const table = this.freshTable();
    const pool = table.pools[s.rt.config.name];
    if (s.excluded && s.excludedGeneration !== table.generation) s.excluded = undefined;
    const candidates = pool ? (s.excluded ? pool.backends.filter((b) => !s.excluded!.has(b.member)) : pool.backends) : [];
    const backend = s.rt.balancer.pick(s.rt.config.balance, candidates, (m) => this.activeByMember.get(m) ?? 0);
    if (!backend) {
      if (s.phase === 'held') return false;
      const now = this.deps.scheduler.now();
      const remaining = s.deadlineMs - now;
      if (remaining <= 0) {
        this.refuseNoBackend(s, table, 0);
        return true;
      }
      if (s.rt.config.maxHeld > 0 && s.rt.hold.size >= s.rt.config.maxHeld) {
        this.refuseNoBackend(s, table, 0, 'max_held');
        return true;
      }
      s.phase = 'held';
      s.heldSinceMs = now;
      s.hold = s.rt.hold.add(s, remaining);
      if (s.rt.config.role === 'primary' && table.switchover?.holding) this.deps.metrics.heldForSwitchover(s.rt.config.name);
      return false;
    }
    if (s.phase === 'held') {
      this.deps.metrics.held(s.rt.config.name, this.deps.scheduler.now() - (s.heldSinceMs ?? 0), 'routed');
      s.hold = undefined;
    }
    s.phase = 'connecting';
    s.backend = backend;
    s.rt.pending.delete(s);
    s.rt.sessions.add(s);
    this.activeByMember.set(backend.member, (this.activeByMember.get(backend.member) ?? 0) + 1);
    void this.connectBackend(s, backend, table.generation);
    return true;
  }

  /** The current table; when its write bound has passed, a recomputed one (writes fail closed at once). */
  private freshTable(): RoutingTable {
    let table = this.deps.topology.table();
    if (table.leader && this.deps.scheduler.now() >= table.writeValidUntilMs) {
      this.deps.topology.recompute();
      table = this.deps.topology.table();
    }
    return table;
  }

  private holdExpired(s: Session, waitedMs: number): void {
    s.hold = undefined;
    if (s.phase !== 'held') return;
    this.deps.metrics.held(s.rt.config.name, waitedMs, this.stopping ? 'shutdown' : 'timeout');
    if (this.stopping) {
      this.refuse(s, { sqlstate: '57P01', message: 'pgha router is shutting down' }, 'shutdown');
      return;
    }
    this.refuseNoBackend(s, this.deps.topology.table(), waitedMs);
  }

  private refuseNoBackend(s: Session, table: RoutingTable, waitedMs: number, reason: 'hold_timeout' | 'max_held' = 'hold_timeout'): void {
    const l = s.rt.config;
    const pool = table.pools[l.name];
    const why = l.role === 'primary' ? table.writeReason : pool?.reason ?? 'no backend';
    const message =
      l.role === 'primary'
        ? `pgha router: no writable primary available for listener "${l.name}": ${why}`
        : `pgha router: no backend qualifies for listener "${l.name}" (${l.role}): ${why}`;
    this.log.info({ listener: l.name, session: s.id, waitedMs: Math.round(waitedMs), reason: why, limit: reason === 'max_held' ? l.maxHeld : undefined }, 'connection refused: no backend');
    const detail = reason === 'max_held'
      ? `Not held: max_held (${l.maxHeld}) connections already wait for a backend on this listener.`
      : `Waited ${(waitedMs / 1000).toFixed(1)} s (hold_timeout ${(l.holdTimeoutMs / 1000).toFixed(1)} s).`;
    this.refuse(s, { sqlstate: CANNOT_CONNECT_NOW, message, detail, hint: 'Retry the connection: the cluster is electing or switching its leader, or has no qualified replica.' }, reason);
  }

  /** Re-offers held sessions after a table change. */
  private drainHeld(table: RoutingTable): void {
    for (const rt of this.listeners.values()) {
      if (rt.hold.size === 0) continue;
      const pool = table.pools[rt.config.name];
      if (!pool || pool.backends.length === 0) continue;
      rt.hold.drain((s) => this.route(s), false);
    }
  }

  // ------------------------------------------------------------------------------------------- refusing

  /**
   * Answers with an ErrorResponse and closes. A client that asked for TLS/GSS first gets 'N' and is then read
   * for its StartupMessage (libpq with sslmode=prefer continues in plain text and shows the message; with
   * sslmode=require it stops at the 'N': the most an L4 router can do without terminating TLS).
   */
  private refuse(s: Session, fields: ErrorFields, reason: RefusalReason): void {
    if (s.phase === 'closed') return;
    this.deps.metrics.refused(s.rt.config.name, reason);
    const first = s.first?.packet.kind;
    s.phase = 'closed';
    s.hold?.cancel();
    if ((first === 'ssl' || first === 'gssenc') && s.reader && !s.client.destroyed) {
      void this.refuseAfterNegotiation(s, fields);
      return;
    }
    if (first === 'direct-tls') {
      this.destroyPending(s);
      return;
    }
    this.sendErrorAndClose(s, fields);
  }

  private async refuseAfterNegotiation(s: Session, fields: ErrorFields): Promise<void> {
    try {
      for (let i = 0; i < 3; i++) {
        s.client.write(NO_ENCRYPTION);
        const { packet } = await s.reader!.packet(this.config.startup.maxPacketBytes, this.config.startup.timeoutMs);
        if (packet.kind === 'ssl' || packet.kind === 'gssenc') continue;
        if (packet.kind === 'startup') this.sendErrorAndClose(s, fields);
        else this.destroyPending(s);
        return;
      }
    } catch {
      // client gone or silent
    }
    this.destroyPending(s);
  }

  private sendErrorAndClose(s: Session, fields: ErrorFields): void {
    s.reader?.detach();
    s.client.end(encodeErrorResponse(fields));
    const t = setTimeout(() => s.client.destroy(), 5000);
    t.unref();
    s.client.once('close', () => clearTimeout(t));
    this.rtDone(s);
  }

  private destroyPending(s: Session): void {
    s.phase = 'closed';
    s.hold?.cancel();
    s.reader?.detach();
    s.client.destroy();
    this.rtDone(s);
  }

  private rtDone(s: Session): void {
    s.rt.pending.delete(s);
    s.rt.refusing.delete(s);
  }

  private onClientClose(s: Session): void {
    const addr = s.clientAddress;
    if (addr !== undefined) {
      s.clientAddress = undefined;
      s.rt.perClient.remove(addr);
    }
    if (s.backend) {
      this.socketClosed(s, 'client');
      return;
    }
    if (s.phase === 'startup' || s.phase === 'held') {
      if (s.phase === 'held') this.deps.metrics.held(s.rt.config.name, this.deps.scheduler.now() - (s.heldSinceMs ?? 0), 'client_gone');
      s.hold?.cancel();
      s.hold = undefined;
      s.phase = 'closed';
      this.rtDone(s);
      return;
    }
    s.phase = 'closed';
    this.rtDone(s);
  }

  // ------------------------------------------------------------------------------------------- backend

  private async connectBackend(s: Session, backend: Backend, generation: number): Promise<void> {
    const link = new Splice(s.client, s, this);
    const server = connect(link.backendSocketOptions(backend.host, backend.port));
    link.attach(server);
    s.server = server;
    s.link = link;
    server.on('error', () => {
      if (s.server === server) s.errored = true;
    });
    server.once('close', () => {
      if (s.server !== server) return;
      if (s.link?.awaitingReply && !s.clientClosed && !s.killed) this.closedBeforeReply(s, server, backend, generation);
      else this.socketClosed(s, 'backend');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), this.config.connectTimeoutMs);
        server.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        server.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        server.once('close', () => {
          clearTimeout(timer);
          reject(new Error('closed while connecting'));
        });
      });
    } catch (err) {
      if (s.phase === 'closed' || s.clientClosed) {
        server.destroy();
        return;
      }
      s.errored = false;
      s.server = undefined;
      server.destroy();
      this.connectFailed(s, backend, generation, err);
      return;
    }
    if (s.phase === 'closed' || s.clientClosed) {
      server.destroy();
      return;
    }
    if (this.config.tcpKeepaliveMs > 0) server.setKeepAlive(true, this.config.tcpKeepaliveMs);
    s.metrics = this.deps.metrics.connection(s.rt.config.name, backend.member);
    s.metrics.opened.inc();
    s.metrics.active.inc();
    try {
      await this.negotiate(s, server);
    } catch (err) {
      if (!isClosed(s)) {
        this.log.debug({ listener: s.rt.config.name, session: s.id, backend: backend.member, err: String(err) }, 'negotiation failed');
        this.kill(s, 'error');
      }
    }
  }

  /**
   * A write session still connecting to a backend that is no longer the leader, with nothing sent to the client
   * yet (connect in flight, or startup sent and no reply): routed again (held for the next leader) instead of
   * closed, as a connection that arrives during the election would be. True when it was.
   */
  private rerouteUnanswered(s: Session, generation: number): boolean {
    const server = s.server;
    if (s.spliced || s.opaque || s.phase !== 'connecting' || !server || !s.backend) return false;
    if (server.connecting) {
      // The connect promise rejects ('closed while connecting') and connectFailed routes the session again.
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
    s.reader = new Reader(s.client, 'client', this.config.startup.maxPacketBytes * 2);
    this.connectFailed(s, backend, generation, Object.assign(new Error('closed before its first reply'), { code: 'ECONNRESET' }));
  }

  private connectFailed(s: Session, backend: Backend, generation: number, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code;
    const reason: ConnectFailureReason = code === 'ECONNREFUSED' ? 'refused' : code === 'ETIMEDOUT' ? 'timeout' : code === 'ECONNRESET' ? 'reset' : 'error';
    this.deps.metrics.connectFailed(s.rt.config.name, backend.member, reason);
    this.log.warn({ listener: s.rt.config.name, backend: backend.member, err: code ?? String(err) }, 'backend connect failed');
    this.releaseBackend(s);
    s.backend = undefined;
    s.rt.sessions.delete(s);
    s.rt.pending.add(s);
    s.phase = 'startup';
    s.excluded = s.excluded ?? new Set();
    s.excluded.add(backend.member);
    s.excludedGeneration = generation;
    this.deps.topology.health.checkNow(backend.member);
    this.route(s);
  }

  private releaseBackend(s: Session): void {
    if (!s.backend) return;
    const m = s.backend.member;
    const n = (this.activeByMember.get(m) ?? 1) - 1;
    if (n <= 0) this.activeByMember.delete(m);
    else this.activeByMember.set(m, n);
  }

  /** Forwards the client's first packets, relays the backend's TLS answer, then splices. */
  private async negotiate(s: Session, server: Socket): Promise<void> {
    let { packet, raw } = s.first!;
    for (;;) {
      if (packet.kind === 'direct-tls') {
        this.markOpaque(s);
        server.write(raw);
        this.startOpaque(s, undefined);
        return;
      }
      if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
        server.write(raw);
        const reply = await s.link!.answer(this.config.connectTimeoutMs);
        if (s.phase === 'closed') return;
        if (reply[0] === 0x4e /* N */) {
          if (reply.length > 1) throw new Error('backend sent data after refusing encryption');
          s.client.write(NO_ENCRYPTION);
          const next = await s.reader!.packet(this.config.startup.maxPacketBytes, this.config.startup.timeoutMs);
          if (next.packet.kind === 'ssl' || next.packet.kind === 'gssenc' || next.packet.kind === 'startup') {
            ({ packet, raw } = next);
            continue;
          }
          this.kill(s, 'error');
          return;
        }
        // 'S' / 'G' (encryption follows) or an ErrorResponse from an old server: relay and splice unread.
        if (s.reader!.buffered > 0) throw new Error('client sent unencrypted data after its encryption request');
        this.startOpaque(s, reply);
        return;
      }
      if (packet.kind === 'startup') {
        const rest = s.reader!.detach();
        s.reader = undefined;
        s.link!.startPlain(raw, rest);
        return;
      }
      throw new Error(`unexpected ${packet.kind} packet during negotiation`);
    }
  }

  /** SpliceOwner: client bytes flow to the backend. */
  spliced(s: Session): void {
    s.phase = 'spliced';
    s.spliced = true;
  }

  /** SpliceOwner: a plain session's BackendKeyData, so its CancelRequests reach this backend. */
  backendKey(s: Session, processId: number, secretKey: number): void {
    s.key = cancelKey(processId, secretKey);
    this.cancelKeys.set(s.key, s.backend!);
  }

  private markOpaque(s: Session): void {
    s.opaque = true;
    const b = s.backend!;
    const entry = s.rt.opaque.get(b.member);
    if (entry) entry.count++;
    else s.rt.opaque.set(b.member, { backend: b, count: 1 });
  }

  /** TLS/GSS: relays both ways unread. `toClient` = the backend's answer byte and what followed it. */
  private startOpaque(s: Session, toClient: Buffer | undefined): void {
    this.markOpaque(s);
    const rest = s.reader?.detach();
    s.reader = undefined;
    s.link!.startOpaque(toClient, rest);
  }

  /**
   * One side closed. When both are closed the session is finished. Otherwise the other side is ended gracefully
   * once spliced (so a final ErrorResponse from the server still reaches the client), with a backstop; before the
   * splice it is destroyed.
   */
  private socketClosed(s: Session, who: 'client' | 'backend'): void {
    if (who === 'client') s.clientClosed = true;
    else s.serverClosed = true;
    if (!s.firstClosed) s.firstClosed = who;
    s.phase = 'closed';
    s.reader?.detach();
    if (s.clientClosed && (s.serverClosed || !s.server)) {
      this.finish(s);
      return;
    }
    const other = who === 'client' ? s.server : s.client;
    if (!other || other.destroyed) return;
    if (!s.spliced || s.killed) {
      other.destroy();
      return;
    }
    other.end();
    const t = setTimeout(() => other.destroy(), 5000);
    t.unref();
    other.once('close', () => clearTimeout(t));
  }

  /** Closes a session at once (leader change, shutdown, protocol error). */
  kill(s: Session, reason: CloseReason): void {
    if (s.killed) return;
    s.killed = reason;
    s.phase = 'closed';
    s.reader?.detach();
    s.client.destroy();
    s.server?.destroy();
  }

  /** Ends one listener's open sessions on one member (it left a read pool: read-follow.ts); returns how many. */
  private endSessionsOn(listener: string, member: string): number {
    let n = 0;
    for (const s of [...(this.listeners.get(listener)?.sessions ?? [])]) {
      if (s.backend?.member !== member || s.killed) continue;
      this.kill(s, 'role_change');
      n++;
    }
    return n;
  }

  private finished = new WeakSet<Session>();

  private finish(s: Session): void {
    if (this.finished.has(s)) return;
    this.finished.add(s);
    s.phase = 'closed';
    s.rt.sessions.delete(s);
    s.rt.pending.delete(s);
    this.releaseBackend(s);
    if (s.key && this.cancelKeys.get(s.key) === s.backend) this.cancelKeys.delete(s.key);
    if (s.opaque && s.backend) {
      const entry = s.rt.opaque.get(s.backend.member);
      if (entry && --entry.count <= 0) s.rt.opaque.delete(s.backend.member);
    }
    const m = s.metrics;
    if (m) {
      m.active.dec();
      const reason: CloseReason = s.killed ?? (s.errored ? 'error' : s.firstClosed ?? 'client');
      m.closed[reason].inc();
      m.bytesIn.inc(s.client.bytesRead);
      m.bytesOut.inc(s.client.bytesWritten);
    }
  }

  // ------------------------------------------------------------------------------------------- table changes

  /** The planned switchover whose new writes are being held (from its first holding table to a confirmed leader). */
  private switchover: { revision: number; from: string; to?: string; sinceMs: number } | undefined;

  /**
   * Follows a planned switchover for logs and metrics: it starts with the first table that holds writes for it,
   * and ends with the next table that routes writes to a confirmed leader: a new one (completed), the old one
   * after the request was cleared (rolled_back), or the old one because switchover_hold passed (hold_expired).
   */
  private followSwitchover(table: RoutingTable): void {
    const sw = table.switchover;
    const now = this.deps.scheduler.now();
    if (sw?.holding) {
      if (this.switchover?.revision === sw.revision) return;
      this.switchover = { revision: sw.revision, from: sw.leader, ...(sw.candidate ? { to: sw.candidate } : {}), sinceMs: now };
      this.log.info({ leader: sw.leader, candidate: sw.candidate ?? null, revision: sw.revision, generation: table.generation }, 'switchover pending: holding new write connections');
      return;
    }
    const ep = this.switchover;
    if (!ep || !table.leader) return;
    const outcome = table.leader.member !== ep.from ? 'completed' : sw && sw.revision === ep.revision ? 'hold_expired' : 'rolled_back';
    this.switchover = undefined;
    const heldMs = now - ep.sinceMs;
    this.deps.metrics.switchoverEnded(outcome, heldMs);
    const fields = { outcome, leader: table.leader.member, previous: ep.from, candidate: ep.to ?? null, durationMs: Math.round(heldMs), generation: table.generation };
    if (outcome === 'completed') this.log.info(fields, 'switchover done: releasing held write connections');
    else this.log.warn(fields, 'switchover not done: releasing held write connections to the old leader');
  }

  /** A new table: close write sessions whose backend is no longer the confirmed leader, then admit held ones. */
  onTable(table: RoutingTable, previous: RoutingTable): void {
    if (table.leaderKey !== previous.leaderKey) this.deps.metrics.leaderChanged();
    if (table.switchover || this.switchover) this.followSwitchover(table);
    if (!sameBackend(table.leader, previous.leader)) {
      for (const rt of this.listeners.values()) {
        if (rt.config.role !== 'primary') continue;
        let n = 0;
        for (const s of [...rt.sessions]) {
          // A session killed before (and not yet closed) is not counted again.
          if (s.backend && !s.killed && !sameBackend(s.backend, table.leader)) {
            if (this.rerouteUnanswered(s, table.generation)) continue;
            this.kill(s, 'leader_change');
            n++;
          }
        }
        if (n > 0) {
          this.deps.metrics.closedForLeaderChange(rt.config.name, n);
          this.log.warn({ listener: rt.config.name, closed: n, leader: table.leader?.member ?? null, generation: table.generation, reason: table.writeReason }, 'closed write connections to the previous leader');
        }
      }
    }
    this.readFollow.apply(planReadFollow(previous, table, this.config.listeners));
    this.drainHeld(table);
  }

  // ------------------------------------------------------------------------------------------- cancel

  /**
   * Delivers a CancelRequest: to the backend whose BackendKeyData carried this key (plain sessions of this
   * process), else broadcast (cancelTargets): the session may be TLS, or live in another worker or router.
   */
  private async deliverCancel(rt: ListenerRuntime, key: string, raw: Buffer): Promise<void> {
    const known = this.cancelKeys.get(key);
    const name = rt.config.name;
    if (known) {
      const ok = await this.sendCancel(known, raw);
      this.deps.metrics.cancel(name, ok ? 'routed' : 'failed');
      this.log.debug({ listener: name, backend: known.member, ok }, 'cancel routed');
      return;
    }
    const targets = cancelTargets(rt.opaque.values(), this.deps.topology.table());
    if (targets.length === 0) {
      this.deps.metrics.cancel(name, 'unknown_key');
      this.log.debug({ listener: name }, 'cancel for an unknown key dropped');
      return;
    }
    const results = await Promise.all(targets.map((b) => this.sendCancel(b, raw)));
    this.deps.metrics.cancel(name, results.some(Boolean) ? 'broadcast' : 'failed', targets.length);
    this.log.debug({ listener: name, targets: targets.map((b) => b.member) }, 'cancel broadcast');
  }

  private sendCancel(backend: Backend, raw: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      const sock = connect({ host: backend.host, port: backend.port, noDelay: true });
      const timer = setTimeout(() => sock.destroy(), this.config.connectTimeoutMs);
      let sent = false;
      sock.once('connect', () => {
        sent = true;
        sock.end(raw);
      });
      sock.on('error', () => undefined);
      sock.once('close', () => {
        clearTimeout(timer);
        resolve(sent);
      });
      sock.on('data', () => undefined);
    });
  }

  // ------------------------------------------------------------------------------------------- stop

  /** A worker whose control plane is gone cuts its sessions at once instead of draining them. */
  setDrainTimeout(ms: number): void {
    this.config = { ...this.config, drainTimeoutMs: ms };
  }

  /** Stops accepting, refuses held connections, lets open sessions end for up to `drainTimeoutMs`, then cuts them. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.readFollow.stop();
    for (const rt of this.listeners.values()) this.closeServer(rt);
    this.proxyAccept.closeAll();
    for (const rt of this.listeners.values()) {
      rt.hold.expireAll();
      for (const s of [...rt.pending, ...rt.refusing]) this.destroyPending(s);
    }
    const deadline = Date.now() + this.config.drainTimeoutMs;
    while (Date.now() < deadline && [...this.listeners.values()].some((rt) => rt.sessions.size > 0)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const rt of this.listeners.values()) for (const s of [...rt.sessions]) this.kill(s, 'shutdown');
  }
}
