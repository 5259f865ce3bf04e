/**
 * From an accepted connection to a session ready to route: admission (admission.ts), then the first packet, read
 * bounded in size and time. A CancelRequest is delivered (cancel.ts) and the connection closed; an invalid packet,
 * unencrypted bytes after an encryption request, or a connection over a limit is refused (refusals.ts); anything
 * else is routed. Also the client's close before routing (nothing to account for but the hold and the limits).
 */
import type { CancelRoutes } from './cancel';
import type { Closing } from './close';
import type { RoomContext } from './context';
import { admit } from './admission';
import { tooManyConnections } from './limits';
import type { ListenerRuntime } from './listeners';
import { Reader, TimeoutError } from './reader';
import type { Refusals } from './refusals';
import { advance, isClosed, type Session } from './session';
import type { TlsTermination } from './tls/client-side';

export interface FirstPacketRooms {
  refusals: Refusals;
  cancel: CancelRoutes;
  closing: Closing;
  /** TLS at the router, when `tls:` is set (else `tls.tls` is undefined and requests are forwarded as before). */
  tls: TlsTermination;
  /** Routes a session (router.ts). */
  route(s: Session): void;
  /** Pooled listeners (pool_mode session/transaction): the session and its cancels go to pool/pool-room.ts. */
  pool: { start(s: Session): Promise<void>; cancel(rt: ListenerRuntime, processId: number, secretKey: number, raw: Buffer): Promise<boolean> };
}

export class FirstPacket {
  constructor(
    private readonly ctx: RoomContext,
    private readonly rooms: FirstPacketRooms,
  ) {}

  /** Admission, then the first packet; `reader`/`peer` come from a PROXY header read first (proxy-accept.ts). */
  start(rt: ListenerRuntime, s: Session, reader?: Reader, peer?: string): void {
    const client = s.client;
    if (this.ctx.stopping() || client.destroyed) {
      reader?.detach();
      client.destroy();
      return;
    }
    s.peer = peer;
    if (!admit(rt, s, this.ctx.deps.scheduler.now(), this.ctx.log, this.ctx.deps.metrics)) return;
    client.on('error', () => {
      // The close that follows ends the session; the error only decides the reason it is counted under.
      s.errored = true;
    });
    client.once('close', () => this.onClientClose(s));
    s.reader = reader ?? new Reader(client, 'client', this.ctx.deps.scheduler, this.ctx.config().startup.maxPacketBytes * 2);
    void this.read(s);
  }

  private async read(s: Session): Promise<void> {
    const { startup } = this.ctx.config();
    const { refusals, tls } = this.rooms;
    let first: NonNullable<Session['first']>;
    let insideTls = false;
    for (;;) {
      try {
        first = await s.reader!.packet(startup.maxPacketBytes, startup.timeoutMs);
      } catch (err) {
        this.failed(s, err);
        return;
      }
      const p = first.packet;
      switch (p.kind) {
        case 'invalid':
          refusals.refuse(s, { sqlstate: p.sqlstate, message: p.message }, p.reason);
          return;
        case 'cancel':
          refusals.leave(s);
          s.client.end();
          if (s.rt.config.poolMode !== 'passthrough') void this.rooms.pool.cancel(s.rt, p.processId, p.secretKey, first.raw);
          else void this.rooms.cancel.deliver(s.rt, p.key, first.raw);
          return;
        case 'ssl':
        case 'gssenc':
        case 'direct-tls':
          if (p.kind !== 'direct-tls' && s.reader!.buffered > 0) {
            refusals.refuse(s, { sqlstate: '08P01', message: 'received unencrypted data after SSL/GSS encryption request' }, 'unencrypted_data_after_tls_request');
            return;
          }
          if (tls.tls || insideTls) {
            // TLS at the router (tls/client-side.ts): the request is answered here, the next packet read again.
            const step = await tls.accept(s, p.kind, first.raw, insideTls);
            if (step === 'closed') return;
            insideTls ||= step === 'terminated';
            continue;
          }
          break;
        default:
          break;
      }
      break;
    }
    s.first = first;
    if (s.overLimit) refusals.refuse(s, tooManyConnections(s.rt.config, s.overLimit, s.peer ?? s.client.remoteAddress), s.overLimit);
    else if (s.rt.config.poolMode !== 'passthrough') void this.rooms.pool.start(s);
    else this.rooms.route(s);
  }

  private failed(s: Session, err: unknown): void {
    if (isClosed(s)) return;
    if (err instanceof TimeoutError) {
      this.ctx.deps.metrics.refused(s.rt.config.name, 'startup_timeout');
      this.ctx.log.debug({ listener: s.rt.config.name, session: s.id }, 'client sent no startup packet in time');
    } else {
      this.ctx.log.debug({ listener: s.rt.config.name, session: s.id, err }, 'reading the first packet failed');
    }
    this.rooms.refusals.destroyPending(s);
  }

  private onClientClose(s: Session): void {
    const addr = s.clientAddress;
    if (addr !== undefined) {
      s.clientAddress = undefined;
      s.rt.perClient.remove(addr);
    }
    if (s.backend) {
      this.rooms.closing.socketClosed(s, 'client');
      return;
    }
    if (s.state === 'held') this.ctx.deps.metrics.held(s.rt.config.name, this.ctx.deps.scheduler.now() - (s.heldSinceMs ?? 0), 'client_gone');
    if (s.state === 'startup' || s.state === 'held') {
      s.hold?.cancel();
      s.hold = undefined;
    }
    advance(s, 'close');
    this.rooms.refusals.leave(s);
  }
}
