/**
 * The router: accept → route → table changes. Around it, one room each (src/router/):
 *
 *   accept → admission.ts (connection limits) → read the first packet (bounded in size and time)
 *          → CancelRequest: cancel.ts delivers it, close
 *          → SSLRequest / GSSENCRequest / StartupMessage / TLS ClientHello: route — pick a backend from the current
 *            table, or hold until one qualifies, else refusals.ts answers an ErrorResponse
 *          → backend-connect.ts → negotiation.ts (TLS requests forwarded, the backend's 'S'/'N' relayed; a plain
 *            startup reply is scanned for BackendKeyData) → splice.ts (the data path) → close.ts (accounting).
 *
 * The session's state is one enum (session.ts); listeners.ts keeps the per-listener runtime; a new table closes
 * write sessions whose backend is no longer the confirmed leader, ends read sessions on members that left a pool
 * (read-follow.ts), offers held sessions again, and feeds the switchover log (switchover-log.ts). After the splice
 * the router never looks at a byte; bytes are counted from the sockets at close.
 */
import type { Socket } from 'node:net';
import type { CloseReason } from '../metrics/router-metrics';
import { sleep } from '../lib/clock';
import type { Logger } from '../log/logger';
import { BackendConnect } from './backend-connect';
import { CancelRoutes } from './cancel';
import { Closing } from './close';
import { FirstPacket } from './first-packet';
import { closeOldLeaderSessions } from './leader-change';
import type { RoomContext, RouterDeps } from './context';
import { AddressCounts } from './limits';
import { closeListener, connectionsByMember, openListener, perListener, reconfigureListeners, type ListenerRuntime } from './listeners';
import { Negotiation } from './negotiation';
import { PoolRoom, type PoolRoomOptions } from './pool/pool-room';
import { ProxyAccept } from './proxy-accept';
import { planReadFollow } from './read-follow';
import { ReadFollowTimers } from './read-follow-timers';
import { Refusals, SHUTTING_DOWN } from './refusals';
import { sameBackend } from './routing';
import { advance, isClosed, type Session } from './session';
import type { SpliceOwner } from './splice';
import { SwitchoverLog } from './switchover-log';
import { TlsTermination } from './tls/client-side';
import type { ListenerConfig, RouterConfig, RoutingTable } from './types';

export { cancelTargets } from './cancel';
export type { RouterDeps, TableSource } from './context';
export type { ListenerRuntime } from './listeners';

/** How often stop() looks whether every session has ended while it drains them. */
const DRAIN_POLL_MS = 50;

export class Router implements SpliceOwner<Session> {
  readonly listeners = new Map<string, ListenerRuntime>();
  private config: RouterConfig;
  private nextId = 1;
  private stopping = false;
  private readonly log: Logger;
  private readonly ctx: RoomContext;
  private readonly proxyAccept: ProxyAccept;
  private readonly readFollow: ReadFollowTimers;
  private readonly cancel: CancelRoutes;
  private readonly closing: Closing;
  private readonly refusals: Refusals;
  private readonly backends: BackendConnect;
  private readonly switchover: SwitchoverLog;
  private readonly firstPacket: FirstPacket;
  /** Pooled listeners' sessions, pools and cancel keys (src/router/pool/). */
  readonly pool: PoolRoom;
  private readonly tls: TlsTermination;

  constructor(
    config: RouterConfig,
    private readonly deps: RouterDeps,
    // No AuthSource handed in: no secrets, pooled clients are refused (fail closed).
    poolOptions: PoolRoomOptions = { secrets: { lookup: async () => undefined } },
  ) {
    this.config = config;
    this.log = deps.logger;
    this.ctx = { deps, log: deps.logger, config: () => this.config, stopping: () => this.stopping, load: new AddressCounts() };
    this.proxyAccept = new ProxyAccept({ metrics: deps.metrics, logger: deps.logger, scheduler: deps.scheduler });
    this.readFollow = new ReadFollowTimers(deps.scheduler, deps.logger, {
      endSessions: (listener, member) => this.endSessionsOn(listener, member),
      ended: (listener, reason, n) => deps.metrics.readSessionsEndedFor(listener, reason, n),
    });
    this.cancel = new CancelRoutes(this.ctx);
    this.closing = new Closing(this.ctx, this.cancel);
    this.refusals = new Refusals(this.ctx);
    const kill = (s: Session, reason: CloseReason): void => this.closing.kill(s, reason);
    this.tls = new TlsTermination(this.ctx, this.refusals);
    this.backends = new BackendConnect(this.ctx, { closing: this.closing, negotiation: new Negotiation(this.ctx, kill), owner: this, route: (s) => this.route(s), tls: () => this.tls.tls });
    this.switchover = new SwitchoverLog(deps.logger, deps.metrics);
    this.pool = new PoolRoom(this.ctx, { refusals: this.refusals, cancel: this.cancel, tls: () => this.tls.tls }, poolOptions);
    this.firstPacket = new FirstPacket(this.ctx, { refusals: this.refusals, cancel: this.cancel, closing: this.closing, tls: this.tls, route: (s) => this.route(s), pool: this.pool });
  }

  // ------------------------------------------------------------------------------------------- listeners

  async listen(): Promise<void> {
    for (const l of this.config.listeners) this.listeners.set(l.name, await this.open(l));
  }

  private open(config: ListenerConfig): Promise<ListenerRuntime> {
    return openListener(config, {
      scheduler: this.deps.scheduler,
      log: this.log,
      accept: (rt, socket) => this.accept(rt, socket),
      holdExpired: (s, waited) => this.holdExpired(s, waited),
    });
  }

  ports(): Record<string, number> {
    return perListener(this.listeners, (rt) => rt.port);
  }

  heldCounts(): Record<string, number> {
    return perListener(this.listeners, (rt) => rt.hold.size);
  }

  sessionCounts(): Record<string, { active: number; pending: number; held: number }> {
    return perListener(this.listeners, (rt) => ({ active: rt.sessions.size, pending: rt.pending.size, held: rt.hold.size }));
  }

  /** Sessions with a chosen backend (connecting or spliced), per listener and backend member: for /status. */
  connectionsByBackend(): Record<string, Record<string, number>> {
    return perListener(this.listeners, connectionsByMember);
  }

  /** Open client connections per client address (the PROXY header's when given), the `top` largest per listener. */
  clientsByListener(top: number): Record<string, Record<string, number>> {
    return perListener(this.listeners, (rt) => rt.perClient.top(top));
  }

  /** Applies a reloaded configuration: listener settings in place, new/removed/moved listeners. */
  async reconfigure(config: RouterConfig): Promise<void> {
    this.tls.update(config.tls); // first: unreadable certificate files refuse the reload before anything changes
    this.config = config;
    await reconfigureListeners(this.listeners, config, {
      open: (l) => this.open(l),
      end: (s) => this.kill(s, 'shutdown'),
      drop: (s) => this.refusals.destroyPending(s),
    });
  }

  // ------------------------------------------------------------------------------------------- accept

  private accept(rt: ListenerRuntime, client: Socket): void {
    if (this.stopping) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    if (this.config.tcpKeepaliveMs > 0) client.setKeepAlive(true, this.config.tcpKeepaliveMs);
    const s: Session = {
      id: this.nextId++,
      client,
      rt,
      state: 'startup',
      deadlineMs: this.deps.scheduler.now() + rt.config.holdTimeoutMs,
      opaque: false,
      errored: false,
      clientClosed: false,
      serverClosed: false,
    };
    if (rt.config.proxyProtocol?.length) {
      void this.proxyAccept.accept(client, rt.config, this.config.startup).then(
        (r) => r && this.firstPacket.start(rt, s, r.reader, r.address),
        (err: unknown) => {
          // proxy-accept.ts answers and counts the refusals it decides; anything else ends the connection here.
          this.log.debug({ listener: rt.config.name, err }, 'PROXY header read failed');
          client.destroy();
        },
      );
      return;
    }
    this.firstPacket.start(rt, s);
  }

  // ------------------------------------------------------------------------------------------- routing

  /** Picks a backend now, or holds the session until one qualifies or its deadline passes. */
  private route(s: Session): boolean {
    if (isClosed(s)) return true;
    if (this.stopping) {
      this.refusals.refuse(s, SHUTTING_DOWN, 'shutdown');
      return true;
    }
    const table = this.freshTable();
    const pool = table.pools[s.rt.config.name];
    if (s.excluded && s.excludedGeneration !== table.generation) s.excluded = undefined;
    const candidates = pool ? (s.excluded ? pool.backends.filter((b) => !s.excluded!.has(b.member)) : pool.backends) : [];
    const load = this.ctx.load;
    const backend = s.rt.balancer.pick(s.rt.config.balance, candidates, (m) => load.get(m));
    if (!backend) {
      if (s.state === 'held') return false;
      const now = this.deps.scheduler.now();
      const remaining = s.deadlineMs - now;
      if (remaining <= 0) {
        this.refusals.noBackend(s, table, 0);
        return true;
      }
      if (s.rt.config.maxHeld > 0 && s.rt.hold.size >= s.rt.config.maxHeld) {
        this.refusals.noBackend(s, table, 0, 'max_held');
        return true;
      }
      advance(s, 'hold');
      s.heldSinceMs = now;
      s.hold = s.rt.hold.add(s, remaining);
      if (s.rt.config.role === 'primary' && table.switchover?.holding) this.deps.metrics.heldForSwitchover(s.rt.config.name);
      return false;
    }
    if (s.state === 'held') {
      this.deps.metrics.held(s.rt.config.name, this.deps.scheduler.now() - (s.heldSinceMs ?? 0), 'routed');
      s.hold = undefined;
    }
    advance(s, 'route');
    s.backend = backend;
    s.rt.pending.delete(s);
    s.rt.sessions.add(s);
    load.add(backend.member);
    void this.backends.connect(s, backend, table.generation);
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
    if (s.state !== 'held') return;
    this.deps.metrics.held(s.rt.config.name, waitedMs, this.stopping ? 'shutdown' : 'timeout');
    if (this.stopping) {
      this.refusals.refuse(s, SHUTTING_DOWN, 'shutdown');
      return;
    }
    this.refusals.noBackend(s, this.deps.topology.table(), waitedMs);
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

  // ------------------------------------------------------------------------------------------- splice owner

  /** SpliceOwner: client bytes flow to the backend. */
  spliced(s: Session): void {
    advance(s, 'splice');
  }

  /** SpliceOwner: a plain session's BackendKeyData, so its CancelRequests reach this backend. */
  backendKey(s: Session, processId: number, secretKey: number): void {
    this.cancel.remember(s, processId, secretKey);
  }

  /** Closes a session at once (leader change, shutdown, protocol error). */
  kill(s: Session, reason: CloseReason): void {
    this.closing.kill(s, reason);
  }

  // ------------------------------------------------------------------------------------------- table changes

  /** A new table: close write sessions whose backend is no longer the confirmed leader, then admit held ones. */
  onTable(table: RoutingTable, previous: RoutingTable): void {
    if (table.leaderKey !== previous.leaderKey) this.deps.metrics.leaderChanged();
    if (table.switchover || this.switchover.following) this.switchover.follow(table, this.deps.scheduler.now());
    if (!sameBackend(table.leader, previous.leader)) {
      const fx = { reroute: (s: Session, generation: number) => this.backends.rerouteUnanswered(s, generation), kill: (s: Session) => this.kill(s, 'leader_change') };
      for (const rt of this.listeners.values()) {
        const n = closeOldLeaderSessions(rt, table, fx);
        if (n === 0) continue;
        this.deps.metrics.closedForLeaderChange(rt.config.name, n);
        this.log.warn({ listener: rt.config.name, closed: n, leader: table.leader?.member ?? null, generation: table.generation, reason: table.writeReason }, 'closed write connections to the previous leader');
      }
    }
    this.readFollow.apply(planReadFollow(previous, table, this.config.listeners));
    this.drainHeld(table);
    this.pool.onTable(table, this.listeners);
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

  // ------------------------------------------------------------------------------------------- stop

  /** A worker whose control plane is gone cuts its sessions at once instead of draining them. */
  setDrainTimeout(ms: number): void {
    this.config = { ...this.config, drainTimeoutMs: ms };
  }

  /** Stops accepting, refuses held connections, lets open sessions end for up to `drainTimeoutMs`, then cuts them. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.readFollow.stop();
    for (const rt of this.listeners.values()) closeListener(rt);
    this.proxyAccept.closeAll();
    for (const rt of this.listeners.values()) {
      rt.hold.expireAll();
      for (const s of [...rt.pending, ...rt.refusing]) this.refusals.destroyPending(s);
    }
    const { scheduler } = this.deps;
    const deadline = scheduler.now() + this.config.drainTimeoutMs;
    while (scheduler.now() < deadline && [...this.listeners.values()].some((rt) => rt.sessions.size > 0)) {
      await sleep(scheduler, DRAIN_POLL_MS);
    }
    for (const rt of this.listeners.values()) for (const s of [...rt.sessions]) this.kill(s, 'shutdown');
    this.pool.stop();
  }
}
