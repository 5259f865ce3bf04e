/**
 * Negotiation with the chosen backend, before the splice: the client's SSLRequest/GSSENCRequest is forwarded and
 * the backend's 'S'/'G'/'N' relayed (after 'N' the client may ask again or send its StartupMessage); a plain
 * StartupMessage is handed to the splice, which scans the reply for BackendKeyData; an encrypted stream (or a
 * direct TLS ClientHello) is relayed unread ("opaque").
 */
import type { CloseReason } from '../metrics/router-metrics';
import type { RoomContext } from './context';
import { NO_ENCRYPTION } from './refusals';
import { isClosed, type Session } from './session';
import type { Socket } from 'node:net';
import type { Splice } from './splice';
import { TlsLink } from './tls/link';

export class Negotiation {
  constructor(
    private readonly ctx: RoomContext,
    private readonly kill: (s: Session, reason: CloseReason) => void,
  ) {}

  /** Forwards the client's first packets, relays the backend's TLS answer, then splices. */
  async negotiate(s: Session, server: Socket): Promise<void> {
    const { connectTimeoutMs, startup } = this.ctx.config();
    let { packet, raw } = s.first!;
    if (s.link instanceof TlsLink) {
      // The client's TLS ended at the router: its first packet is a StartupMessage; TLS to the server is the link's.
      const rest = s.reader!.detach();
      s.reader = undefined;
      await s.link.startPlain(raw, rest);
      return;
    }
    const link = s.link!;
    for (;;) {
      if (packet.kind === 'direct-tls') {
        server.write(raw);
        this.startOpaque(s, undefined);
        return;
      }
      if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
        server.write(raw);
        const reply = await link.answer(connectTimeoutMs, this.ctx.deps.scheduler);
        if (isClosed(s)) return;
        if (reply[0] === 0x4e /* N */) {
          if (reply.length > 1) throw new Error('backend sent data after refusing encryption');
          s.client.write(NO_ENCRYPTION);
          const next = await s.reader!.packet(startup.maxPacketBytes, startup.timeoutMs);
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
        link.startPlain(raw, rest);
        return;
      }
      throw new Error(`unexpected ${packet.kind} packet during negotiation`);
    }
  }

  /** The session's backend holds a session whose cancel key cannot be seen (cancel.ts broadcasts to it). */
  private markOpaque(s: Session): void {
    // Counted once per session: close.ts takes exactly one count back, and a count left behind would keep the
    // member a cancel-broadcast target for good.
    if (s.opaque) return;
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
    (s.link as Splice<Session>).startOpaque(toClient, rest);
  }
}
