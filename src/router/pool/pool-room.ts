/**
 * The router's room for pooled listeners (pool_mode session or transaction): what happens after the first packet
 * on such a listener (the encryption request answered 'N' unless first-packet.ts terminated TLS, the StartupMessage
 * read, the session started), CancelRequests carrying a key the router issued, new routing tables (fencing, held
 * clients), and stop. The pools themselves are pools.ts, a client session pooled-session.ts.
 */
import type { CancelRoutes } from '../cancel';
import type { RoomContext } from '../context';
import type { ListenerRuntime } from '../listeners';
import type { Refusals } from '../refusals';
import type { Session } from '../session';
import type { RoutingTable } from '../types';
import type { AuthType } from '../auth/client-auth';
import { encodeCancelRequest, encodeErrorResponse } from '../wire';
import { END_BACKSTOP_MS, destroyAfter } from '../context';
import { clientLogin } from './client-login';
import { ClientKeys } from './client-keys';
import { clientStats, type ClientStats } from './client-stats';
import { PooledSession } from './pooled-session';
import type { ServerPipe } from './server-pipe';
import { Pools } from './pools';
import type { AuthSource } from '../auth/auth-source';
import { transactionPipe } from './txn-pipe';
import { openServer } from './server-tls';
import type { RouterTls } from '../tls/context';

/** SSLRequest / GSSENCRequest answered 'N' at most this often before the StartupMessage (as refusals.ts allows). */
const MAX_ENCRYPTION_REQUESTS = 2;
const NO_ENCRYPTION = Buffer.from('N');

export interface PoolRoomOptions {
  /** The secrets of the users clients authenticate as and the router logs in as. */
  secrets: AuthSource;
  /**
   * How clients authenticate to the router (auth.type); default scram-sha-256, as the design's auth.type: with no
   * secrets configured every client is refused (fail closed), never let in unchecked.
   */
  authType?: AuthType;
  /** 0 for the single-process router, 1..N for workers (the top 8 bits of the keys it issues). */
  workerIndex?: number;
  /**
   * Workers: hands a CancelRequest whose key another worker issued to that worker (over the control plane), which
   * resolves it as its own; false when it cannot be sent.
   */
  forwardCancel?: (keyWorker: number, listener: string, processId: number, secretKey: number) => boolean;
  pipe?: (session: PooledSession) => ServerPipe;
}

export class PoolRoom {
  readonly pools: Pools;
  readonly keys: ClientKeys<PooledSession>;
  /** Transaction mode's rewriting: named prepared statements, reported parameters, refusals (txn-pipe.ts). */
  private readonly txnPipe: (session: PooledSession) => ServerPipe;

  constructor(
    private readonly ctx: RoomContext,
    private readonly rooms: { refusals: Refusals; cancel: CancelRoutes; tls?: () => RouterTls | undefined },
    private readonly options: PoolRoomOptions,
  ) {
    // Read per connection: a reload that changes tls: applies to the next server connection.
    this.pools = new Pools(ctx, options.secrets, (o) => openServer(o, rooms.tls?.()));
    this.keys = new ClientKeys<PooledSession>(options.workerIndex ?? 0);
    this.txnPipe = transactionPipe(ctx.log);
    ctx.deps.metrics.pool.setSource(() => this.pools.stats(), () => this.clientStats());
  }

  /** PgBouncer's SHOW CLIENTS, per (listener, user, database). */
  clientStats(): ClientStats[] {
    return clientStats(this.keys.owners(), this.pools.stats(), new Set(this.pools.held()));
  }

  /** A pooled listener's session after its first packet (first-packet.ts checked it and the limits). */
  async start(s: Session): Promise<void> {
    const { startup } = this.ctx.config();
    let first = s.first!;
    try {
      for (let i = 0; (first.packet.kind === 'ssl' || first.packet.kind === 'gssenc') && i < MAX_ENCRYPTION_REQUESTS; i++) {
        s.client.write(NO_ENCRYPTION);
        first = await s.reader!.packet(startup.maxPacketBytes, startup.timeoutMs);
      }
    } catch (err) {
      this.ctx.log.debug({ listener: s.rt.config.name, session: s.id, err }, 'pooled client sent no startup packet after N');
      this.rooms.refusals.destroyPending(s);
      return;
    }
    const p = first.packet;
    if (p.kind === 'invalid') {
      this.rooms.refusals.refuse(s, { sqlstate: p.sqlstate, message: p.message }, p.reason);
      return;
    }
    if (p.kind === 'cancel') {
      this.rooms.refusals.leave(s);
      s.client.end();
      void this.cancel(s.rt, p.processId, p.secretKey, first.raw);
      return;
    }
    if (p.kind !== 'startup') {
      // Direct TLS (or a third encryption request): a pooled listener without a certificate cannot read it.
      this.rooms.refusals.destroyPending(s);
      return;
    }
    const user = p.params.user;
    if (!user) {
      this.rooms.refusals.refuse(s, { sqlstate: '28000', message: 'no PostgreSQL user name specified in startup packet' }, 'malformed');
      return;
    }
    if (p.params.replication !== undefined && p.params.replication !== 'false' && p.params.replication !== '0') {
      this.rooms.refusals.refuse(s, { sqlstate: '0A000', message: `replication connections cannot use a pooled listener (pool_mode ${s.rt.config.poolMode})`, hint: 'connect to a passthrough listener or to PostgreSQL directly' }, 'unsupported_protocol');
      return;
    }
    const leftover = s.reader!.detach();
    s.reader = undefined;
    const type = this.options.authType ?? 'scram-sha-256';
    const { scheduler } = this.ctx.deps;
    let secret;
    try {
      // auth_query runs where this listener sends the client (its first backend now), in the client's database.
      const backend = this.pools.table().pools[s.rt.config.name]?.backends[0];
      const target = backend ? { host: backend.host, port: backend.port, database: p.params.database || user } : undefined;
      secret = type === 'trust' ? undefined : await this.options.secrets.lookup(user, target);
    } catch (err) {
      // auth_query failing (the auth user cannot log in, PostgreSQL down): the client cannot be checked.
      this.ctx.log.warn({ listener: s.rt.config.name, session: s.id, err }, 'pooled client: looking up the user secret failed');
      this.loginFailed(s, { sqlstate: '08006', message: 'the router could not look up the user' });
      return;
    }
    const r = await clientLogin({ client: s.client, leftover, user, secret, type, scheduler, timeoutMs: startup.timeoutMs });
    if (!r.ok) {
      this.ctx.log.info({ listener: s.rt.config.name, session: s.id, reason: r.reason }, 'pooled client authentication failed');
      if (r.reason === 'closed' || r.reason === 'timeout') this.rooms.refusals.destroyPending(s);
      else this.loginFailed(s, r);
      return;
    }
    if (r.clientKey) this.pools.rememberClientKey(user, r.clientKey);
    const rooms = { ctx: this.ctx, pools: this.pools, keys: this.keys, pipe: this.options.pipe ?? this.txnPipe };
    new PooledSession(rooms, s, user, p.params.database || user, p.params.application_name).start(r.leftover, r.final);
  }

  /** Authentication failed: a FATAL ErrorResponse (no detail: nothing about the user or the secret), then close. */
  private loginFailed(s: Session, e: { sqlstate: string; message: string }): void {
    this.rooms.refusals.leave(s);
    s.client.end(encodeErrorResponse({ sqlstate: e.sqlstate, message: e.message }));
    destroyAfter(this.ctx.deps.scheduler, s.client, END_BACKSTOP_MS);
  }

  /**
   * A CancelRequest: true when the key is one the router issued to a pooled client of this process (then sent, with
   * the server's own key, to the server connection running that client's query, if any); false: not ours.
   */
  async cancel(rt: ListenerRuntime, processId: number, secretKey: number, raw?: Buffer): Promise<boolean> {
    const owner = this.keys.find(processId, secretKey);
    if (!owner) {
      const home = ClientKeys.workerOf(processId);
      if (home !== 0 && home !== (this.options.workerIndex ?? 0) && this.options.forwardCancel?.(home, rt.config.name, processId, secretKey)) {
        this.ctx.deps.metrics.cancel(rt.config.name, 'forwarded');
        return true;
      }
      if (raw) await this.rooms.cancel.deliver(rt, `${processId >>> 0}:${secretKey >>> 0}`, raw);
      return false;
    }
    const target = owner.cancelTarget();
    const { metrics } = this.ctx.deps;
    if (!target) {
      metrics.cancel(rt.config.name, 'unknown_key');
      this.ctx.log.debug({ listener: rt.config.name }, 'cancel for a pooled client with no query running dropped');
      return true;
    }
    target.guard?.begin();
    const ok = await this.rooms.cancel.send({ member: target.member, host: target.host, port: target.port, weight: 1 }, encodeCancelRequest(target.processId, target.secretKey));
    target.guard?.end();
    metrics.cancel(rt.config.name, ok ? 'routed' : 'failed');
    this.ctx.log.debug({ listener: rt.config.name, backend: target.member, ok }, 'pooled cancel routed');
    return true;
  }

  onTable(table: RoutingTable, listeners: ReadonlyMap<string, ListenerRuntime>): void {
    this.pools.onTable(table, listeners);
  }

  stop(): void {
    this.pools.closeAll();
  }
}
