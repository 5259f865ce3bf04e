/**
 * The accept step of a listener with `proxy_protocol` (docs/router.md "PROXY protocol"), run before the first
 * packet is read: a connection from outside the trusted networks is closed at once (nothing read); from a trusted
 * one the PROXY v1/v2 header must come first, within startup_timeout, and its source address becomes the client
 * address (limits, logs, /status). A header cut short, oversized or garbage closes the connection: nothing reaches
 * PostgreSQL. Each refusal is counted in pgha_router_connections_refused_total by reason.
 */
import type { Socket } from 'node:net';
import type { Scheduler } from '../lib/clock';
import type { Logger } from '../log/logger';
import { inNetworks } from './cidr';
import { parseProxyHeader, type ProxyHeader } from './proxy-protocol';
import { ClosedError, Reader, TimeoutError } from './reader';
import type { ListenerConfig, RefusalReason, RouterConfig } from './types';

export interface ProxyAcceptDeps {
  metrics: { refused(listener: string, reason: RefusalReason): void };
  logger: Logger;
  /** The router's scheduler: the header's deadline and the refusal log's period. */
  scheduler: Scheduler;
}

/** A refused source or header logs one warning per listener per this period (with the count), not one per connection. */
const REFUSAL_LOG_MS = 10_000;
const ignore = (): void => undefined;

export class ProxyAccept {
  private readonly logged = new Map<string, { atMs: number; unlogged: number }>();
  /** Connections still sending their header: not sessions yet, so the router's stop() ends them through closeAll(). */
  private readonly reading = new Set<Socket>();
  private closing = false;

  constructor(private readonly deps: ProxyAcceptDeps) {}

  /**
   * Resolves with the reader (header consumed, the client's own bytes still buffered) and the client address to
   * use, or undefined once the connection has been closed and counted.
   */
  async accept(client: Socket, l: ListenerConfig, startup: RouterConfig['startup']): Promise<{ reader: Reader; address: string } | undefined> {
    const socketAddress = client.remoteAddress ?? '';
    client.on('error', ignore);
    if (!inNetworks(l.proxyProtocol ?? [], socketAddress)) {
      client.destroy();
      this.refuse(l, 'proxy_untrusted', socketAddress, 'source is not in the trusted proxy_protocol networks');
      return undefined;
    }
    const reader = new Reader(client, 'client', this.deps.scheduler, startup.maxPacketBytes * 2);
    let header: ProxyHeader;
    this.reading.add(client);
    try {
      header = await reader.next((buf) => parseProxyHeader(buf), startup.timeoutMs);
    } catch (err) {
      this.reading.delete(client);
      const partial = reader.buffered > 0;
      reader.detach();
      client.destroy();
      if (this.closing) return undefined;
      // A balancer's bare TCP check (connect, close) sent nothing: not a refusal. Silence until the deadline is the
      // usual startup_timeout.
      if (err instanceof ClosedError && !partial) return undefined;
      if (err instanceof TimeoutError && !partial) this.refuse(l, 'startup_timeout', socketAddress, 'no PROXY header in time');
      else this.refuse(l, 'proxy_header_truncated', socketAddress, err instanceof TimeoutError ? 'PROXY header incomplete at startup_timeout' : 'closed in the middle of its PROXY header');
      return undefined;
    }
    this.reading.delete(client);
    if (header.kind !== 'proxy') {
      reader.detach();
      client.destroy();
      if (header.kind === 'invalid') this.refuse(l, header.reason, socketAddress, header.message);
      return undefined;
    }
    const address = header.source?.address ?? socketAddress;
    this.deps.logger.debug({ listener: l.name, client: address, proxy: socketAddress, version: header.version, command: header.command }, 'PROXY header accepted');
    return { reader, address };
  }

  /** Closes every connection still sending its header (the router is stopping). */
  closeAll(): void {
    this.closing = true;
    for (const c of this.reading) c.destroy();
  }

  private refuse(l: ListenerConfig, reason: RefusalReason, proxy: string, problem: string): void {
    this.deps.metrics.refused(l.name, reason);
    const now = this.deps.scheduler.now();
    const last = this.logged.get(l.name);
    if (last && now - last.atMs < REFUSAL_LOG_MS) {
      last.unlogged++;
      return;
    }
    this.deps.logger.warn({ listener: l.name, reason, proxy, problem, alsoRefused: last?.unlogged ?? 0 }, 'PROXY protocol: connection closed');
    this.logged.set(l.name, { atMs: now, unlogged: 0 });
  }
}
