/**
 * Admission of an accepted connection to its listener: the connection limits (limits.ts), checked once per
 * connection, never on the data path. Under them the connection becomes a client session (pending); over one it
 * is only read for its startup packet, to be answered 53300 like PostgreSQL's "too many clients".
 */
import type { Logger } from '../log/logger';
import type { RouterMetrics } from '../metrics/router-metrics';
import { overLimit } from './limits';
import type { ListenerRuntime } from './listeners';
import type { Session } from './session';

/**
 * Connections over a limit being answered at once per listener. Each holds a descriptor until its startup packet
 * arrives (at most startup_timeout); past this many, a flood is cut without an answer so the descriptors stay
 * with the sessions being served.
 */
export const MAX_REFUSING = 1000;
/** A listener at its limit logs one line per this period (with the count), not one per refused connection. */
export const LIMIT_LOG_MS = 10_000;

/** False: closed at once (too many being refused already). `now`: the router's monotonic ms. */
export function admit(rt: ListenerRuntime, s: Session, now: number, log: Logger, metrics: Pick<RouterMetrics, 'refused'>): boolean {
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
  if (rt.limitLoggedAtMs === undefined || now - rt.limitLoggedAtMs >= LIMIT_LOG_MS) {
    log.warn({ listener: l.name, reason: s.overLimit, refused: rt.limitRefusals, maxConnections: l.maxConnections, maxConnectionsPerClient: l.maxConnectionsPerClient, client: addr }, 'connection limit reached: refusing new connections');
    rt.limitLoggedAtMs = now;
    rt.limitRefusals = 0;
  }
  if (rt.refusing.size >= MAX_REFUSING) {
    metrics.refused(l.name, s.overLimit);
    s.client.destroy();
    return false;
  }
  rt.refusing.add(s);
  return true;
}
