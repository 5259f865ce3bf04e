/**
 * CancelRequests (they arrive on a connection of their own): delivered to the backend whose BackendKeyData carried
 * the key, when this process saw it (plain sessions), else broadcast to every backend that may hold the session.
 */
import { connect } from 'node:net';
import type { RoomContext } from './context';
import type { ListenerRuntime } from './listeners';
import type { Session } from './session';
import type { Backend, RoutingTable } from './types';
import { cancelKey } from './wire';

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

export class CancelRoutes {
  /** Cancel key (BackendKeyData) → the backend of the plain session that received it. */
  private readonly keys = new Map<string, Backend>();

  constructor(private readonly ctx: RoomContext) {}

  /** A plain session's BackendKeyData, so its CancelRequests reach this backend. */
  remember(s: Session, processId: number, secretKey: number): void {
    s.key = cancelKey(processId, secretKey);
    this.keys.set(s.key, s.backend!);
  }

  /** The session ended: its key no longer routes (unless another session took it since). */
  forget(s: Session): void {
    if (s.key && this.keys.get(s.key) === s.backend) this.keys.delete(s.key);
  }

  /**
   * Delivers a CancelRequest: to the backend whose BackendKeyData carried this key (plain sessions of this
   * process), else broadcast (cancelTargets): the session may be TLS, or live in another worker or router.
   */
  async deliver(rt: ListenerRuntime, key: string, raw: Buffer): Promise<void> {
    const { metrics } = this.ctx.deps;
    const known = this.keys.get(key);
    const name = rt.config.name;
    if (known) {
      const ok = await this.send(known, raw);
      metrics.cancel(name, ok ? 'routed' : 'failed');
      this.ctx.log.debug({ listener: name, backend: known.member, ok }, 'cancel routed');
      return;
    }
    const targets = cancelTargets(rt.opaque.values(), this.ctx.deps.topology.table());
    if (targets.length === 0) {
      metrics.cancel(name, 'unknown_key');
      this.ctx.log.debug({ listener: name }, 'cancel for an unknown key dropped');
      return;
    }
    const results = await Promise.all(targets.map((b) => this.send(b, raw)));
    metrics.cancel(name, results.some(Boolean) ? 'broadcast' : 'failed', targets.length);
    this.ctx.log.debug({ listener: name, targets: targets.map((b) => b.member) }, 'cancel broadcast');
  }

  /** True when the request was handed to the backend (PostgreSQL answers a CancelRequest by closing, nothing else). */
  send(backend: Backend, raw: Buffer): Promise<boolean> {
    const { scheduler } = this.ctx.deps;
    return new Promise((resolve) => {
      const sock = connect({ host: backend.host, port: backend.port, noDelay: true });
      const timer = scheduler.setTimer(() => sock.destroy(), this.ctx.config().connectTimeoutMs);
      let sent = false;
      sock.once('connect', () => {
        sent = true;
        sock.end(raw);
      });
      // Counted as 'failed' by the caller when nothing was sent; the cause is only worth a debug line.
      sock.on('error', (err) => this.ctx.log.debug({ backend: backend.member, err }, 'cancel connection failed'));
      sock.once('close', () => {
        scheduler.clearTimer(timer);
        resolve(sent);
      });
      // PostgreSQL answers nothing but a close; anything else is read and dropped so the socket can end.
      sock.on('data', () => undefined);
    });
  }
}
