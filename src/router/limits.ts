/**
 * Connection limits of a listener (docs/router.md "Connection limits"), checked once per accepted connection,
 * never on the data path: `max_connections` (client connections open: routed, held, or still sending their
 * startup packet), `max_connections_per_client` (the same, per client IP address), and the answer a connection
 * over a limit gets: SQLSTATE 53300, as from PostgreSQL past its own max_connections.
 */
import type { ListenerConfig } from './types';
import type { ErrorFields } from './wire';

export type LimitReason = 'max_connections' | 'max_connections_per_client';

/** PostgreSQL's answer past its max_connections: too_many_connections. */
const TOO_MANY_CONNECTIONS = '53300';

/** Which limit a new connection is over, if any. `open`: client connections open now; `fromAddress`: from its address. */
export function overLimit(l: ListenerConfig, open: number, fromAddress: number): LimitReason | undefined {
  if (l.maxConnections > 0 && open >= l.maxConnections) return 'max_connections';
  if (l.maxConnectionsPerClient > 0 && fromAddress >= l.maxConnectionsPerClient) return 'max_connections_per_client';
  return undefined;
}

export function tooManyConnections(l: ListenerConfig, reason: LimitReason, address: string | undefined): ErrorFields {
  return reason === 'max_connections'
    ? {
        sqlstate: TOO_MANY_CONNECTIONS,
        message: 'sorry, too many clients already',
        detail: `pgha router listener "${l.name}" has max_connections (${l.maxConnections}) client connections open.`,
        hint: 'Retry later, close idle connections, or raise max_connections of this listener in the router configuration.',
      }
    : {
        sqlstate: TOO_MANY_CONNECTIONS,
        message: `too many connections from client address ${address ?? '?'}`,
        detail: `pgha router listener "${l.name}" allows max_connections_per_client (${l.maxConnectionsPerClient}) connections from one address.`,
        hint: 'Close idle connections from this host, or raise max_connections_per_client in the router configuration.',
      };
}

/** Open client connections per address. */
export class AddressCounts {
  private readonly counts = new Map<string, number>();

  get(addr: string): number {
    return this.counts.get(addr) ?? 0;
  }

  add(addr: string): void {
    this.counts.set(addr, this.get(addr) + 1);
  }

  /** The `n` addresses with the most connections (for /status: bounded however many clients there are). */
  top(n: number): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n));
  }

  remove(addr: string): void {
    const n = this.get(addr) - 1;
    if (n <= 0) this.counts.delete(addr);
    else this.counts.set(addr, n);
  }
}
