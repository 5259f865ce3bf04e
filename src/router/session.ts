/**
 * One client connection's session: its state and what the rooms of the router record about it. The state is ONE
 * enum moved only by `advance` (through the pure `nextState`), so no pair of flags can disagree about where a
 * session is:
 *
 *   startup ─hold─► held ─route─► connecting ─connected─► negotiating ─splice─► spliced
 *      └───────────route───────────────▲
 *   connecting / negotiating ─retry─► startup        any state ─close─► closed (final)
 *
 * `startup`: reading the first packet, or about to be routed (again, after a backend failed before its first reply).
 */
import type { Socket } from 'node:net';
import type { CloseReason, ConnectionMetrics } from '../metrics/router-metrics';
import type { HoldTicket } from './hold';
import type { LimitReason } from './limits';
import type { ListenerRuntime } from './listeners';
import type { Reader } from './reader';
import type { Splice } from './splice';
import type { TlsLink } from './tls/link';
import type { Backend } from './types';
import type { FrontendPacket } from './wire';

export type SessionState = 'startup' | 'held' | 'connecting' | 'negotiating' | 'spliced' | 'closed';

/**
 * hold: no backend qualifies yet; route: a backend was chosen; connected: its TCP connect succeeded; splice: client
 * bytes flow to the backend; retry: the backend failed before anything reached the client, route again; close.
 */
export type SessionEvent = 'hold' | 'route' | 'connected' | 'splice' | 'retry' | 'close';

const NEXT: Record<SessionState, Partial<Record<SessionEvent, SessionState>>> = {
  startup: { hold: 'held', route: 'connecting', close: 'closed' },
  held: { route: 'connecting', close: 'closed' },
  connecting: { connected: 'negotiating', retry: 'startup', close: 'closed' },
  negotiating: { splice: 'spliced', retry: 'startup', close: 'closed' },
  spliced: { close: 'closed' },
  // Final: a late event of a socket already torn down (a read in flight, a connect callback) changes nothing.
  closed: {},
};

/** The state after `event`, or undefined when `event` does not apply in `state` (the session stays where it is). */
export function nextState(state: SessionState, event: SessionEvent): SessionState | undefined {
  return NEXT[state][event];
}

export interface Session {
  id: number;
  client: Socket;
  rt: ListenerRuntime;
  state: SessionState;
  reader?: Reader;
  first?: { packet: FrontendPacket; raw: Buffer };
  /** Until when the session may be held for a backend (hold_timeout from accept). */
  deadlineMs: number;
  hold?: HoldTicket;
  heldSinceMs?: number;
  /** Members that failed this session in the table of `excludedGeneration` (not offered again in that table). */
  excluded?: Set<string>;
  excludedGeneration?: number;
  backend?: Backend;
  server?: Socket;
  /** The data path to `server` (splice.ts; tls/link.ts when TLS to the server follows the router's own). */
  link?: Splice<Session> | TlsLink<Session>;
  metrics?: ConnectionMetrics;
  /** The client's TLS ended at the router (tls/client-side.ts): `client` is the TLSSocket, its stream plaintext. */
  tlsTerminated?: boolean;
  /** TLS/GSS: the stream is never read, so its cancel key is unknown (cancel.ts broadcasts). */
  opaque: boolean;
  key?: string;
  // Close accounting (close.ts): why and in which order the session ended.
  killed?: CloseReason;
  errored: boolean;
  firstClosed?: 'client' | 'backend';
  clientClosed: boolean;
  serverClosed: boolean;
  /** Accepted over a connection limit: read for its startup packet only, to answer 53300. */
  overLimit?: LimitReason | undefined;
  /** The client address this session counts against (max_connections_per_client). */
  clientAddress?: string;
  /** The client's address from a PROXY header (proxy_protocol listeners); else the socket's is used. */
  peer?: string;
}

/** Moves `s` by `event`; false (and no change) when the event does not apply in its state. */
export function advance(s: Session, event: SessionEvent): boolean {
  const next = nextState(s.state, event);
  if (next === undefined) return false;
  s.state = next;
  return true;
}

/** Reads the state through a call, so TypeScript does not narrow it across awaits. */
export const isClosed = (s: Session): boolean => s.state === 'closed';

/** Connecting or negotiating: a backend chosen, nothing of it relayed to the client yet. */
export const isConnecting = (s: Session): boolean => s.state === 'connecting' || s.state === 'negotiating';
