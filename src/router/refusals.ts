/**
 * Refusing a client before routing: a real PostgreSQL ErrorResponse with SQLSTATE and words (never a bare reset),
 * then close. The messages for "no backend" are built by a pure function, so their wording is unit-tested.
 */
import { END_BACKSTOP_MS, destroyAfter, type RoomContext } from './context';
import { advance, type Session } from './session';
import type { ListenerConfig, RefusalReason, RoutingTable } from './types';
import { encodeErrorResponse, type ErrorFields } from './wire';

/** The answer 'N' to SSLRequest/GSSENCRequest, one Buffer for all (a string would be encoded on every write). */
export const NO_ENCRYPTION = Buffer.from('N');

/** The SQLSTATE for "try again later" (no backend qualifies): cannot_connect_now. */
const CANNOT_CONNECT_NOW = '57P03';

export const SHUTTING_DOWN: ErrorFields = { sqlstate: '57P01', message: 'pgha router is shutting down' };

/** How often a client that asked for TLS/GSS is answered 'N' and read again before it is given up. */
const MAX_ENCRYPTION_REQUESTS = 3;

/**
 * The ErrorResponse when no backend qualifies for `l`: after `waitedMs` held (hold_timeout), or at once because
 * max_held connections already wait. `why` is the table's sentence (the write reason, or the pool's).
 */
export function noBackendError(l: ListenerConfig, table: RoutingTable, waitedMs: number, reason: 'hold_timeout' | 'max_held'): { fields: ErrorFields; why: string } {
  const pool = table.pools[l.name];
  const why = l.role === 'primary' ? table.writeReason : pool?.reason ?? 'no backend';
  const message =
    l.role === 'primary'
      ? `pgha router: no writable primary available for listener "${l.name}": ${why}`
      : `pgha router: no backend qualifies for listener "${l.name}" (${l.role}): ${why}`;
  const detail = reason === 'max_held'
    ? `Not held: max_held (${l.maxHeld}) connections already wait for a backend on this listener.`
    : `Waited ${(waitedMs / 1000).toFixed(1)} s (hold_timeout ${(l.holdTimeoutMs / 1000).toFixed(1)} s).`;
  return { why, fields: { sqlstate: CANNOT_CONNECT_NOW, message, detail, hint: 'Retry the connection: the cluster is electing or switching its leader, or has no qualified replica.' } };
}

export class Refusals {
  constructor(private readonly ctx: RoomContext) {}

  /**
   * Answers with an ErrorResponse and closes. A client that asked for TLS/GSS first gets 'N' and is then read
   * for its StartupMessage (libpq with sslmode=prefer continues in plain text and shows the message; with
   * sslmode=require it stops at the 'N': the most an L4 router can do without terminating TLS).
   */
  refuse(s: Session, fields: ErrorFields, reason: RefusalReason): void {
    if (!advance(s, 'close')) return;
    this.ctx.deps.metrics.refused(s.rt.config.name, reason);
    const first = s.first?.packet.kind;
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

  noBackend(s: Session, table: RoutingTable, waitedMs: number, reason: 'hold_timeout' | 'max_held' = 'hold_timeout'): void {
    const l = s.rt.config;
    const { fields, why } = noBackendError(l, table, waitedMs, reason);
    this.ctx.log.info({ listener: l.name, session: s.id, waitedMs: Math.round(waitedMs), reason: why, limit: reason === 'max_held' ? l.maxHeld : undefined }, 'connection refused: no backend');
    this.refuse(s, fields, reason);
  }

  /** Closes a session not routed (or being refused) without an answer. */
  destroyPending(s: Session): void {
    advance(s, 'close');
    s.hold?.cancel();
    s.reader?.detach();
    s.client.destroy();
    this.leave(s);
  }

  /** The session no longer counts as pending or refusing on its listener. */
  leave(s: Session): void {
    s.rt.pending.delete(s);
    s.rt.refusing.delete(s);
  }

  private async refuseAfterNegotiation(s: Session, fields: ErrorFields): Promise<void> {
    const { startup } = this.ctx.config();
    try {
      for (let i = 0; i < MAX_ENCRYPTION_REQUESTS; i++) {
        s.client.write(NO_ENCRYPTION);
        const { packet } = await s.reader!.packet(startup.maxPacketBytes, startup.timeoutMs);
        if (packet.kind === 'ssl' || packet.kind === 'gssenc') continue;
        if (packet.kind === 'startup') this.sendErrorAndClose(s, fields);
        else this.destroyPending(s);
        return;
      }
    } catch (err) {
      // The client went away or stayed silent: nobody is left to read the refusal.
      this.ctx.log.debug({ listener: s.rt.config.name, session: s.id, err }, 'refused client sent no startup packet after N');
    }
    this.destroyPending(s);
  }

  private sendErrorAndClose(s: Session, fields: ErrorFields): void {
    s.reader?.detach();
    s.client.end(encodeErrorResponse(fields));
    destroyAfter(this.ctx.deps.scheduler, s.client, END_BACKSTOP_MS);
    this.leave(s);
  }
}
