/**
 * The router's listening sockets and what each keeps per listener (sessions, the hold queue, the balancer, counts
 * for limits and cancel): created, reported (/status, worker stats) and moved on a reload. Accepting a connection
 * is the router's (router.ts); admission to a listener is admission.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';
import { Balancer } from './balance';
import { HoldQueue } from './hold';
import { AddressCounts } from './limits';
import type { Session } from './session';
import type { Backend, ListenerConfig, RouterConfig } from './types';

export interface ListenerRuntime {
  config: ListenerConfig;
  server: Server;
  port: number;
  /** Sessions with a backend chosen (connecting, negotiating or spliced). */
  sessions: Set<Session>;
  /** Sessions before routing (reading the startup packet, or held). */
  pending: Set<Session>;
  hold: HoldQueue<Session>;
  balancer: Balancer;
  /** Backends holding sessions whose keys the router cannot see (TLS/GSS): member → count. */
  opaque: Map<string, { backend: Backend; count: number }>;
  /** Connections over a limit, read only to be answered 53300 (not client sessions: not counted against limits). */
  refusing: Set<Session>;
  /** Open client connections per client IP address (kept for max_connections_per_client). */
  perClient: AddressCounts;
  /** Refusals for a limit not logged yet, and when the last such line was written (at most one per LIMIT_LOG_MS). */
  limitRefusals: number;
  limitLoggedAtMs?: number;
}

export interface ListenerHooks {
  scheduler: Scheduler;
  log: Logger;
  accept(rt: ListenerRuntime, socket: Socket): void;
  holdExpired(s: Session, waitedMs: number): void;
}

/** Binds one listener; rejects with the listener's name and address when the port cannot be had. */
export async function openListener(config: ListenerConfig, hooks: ListenerHooks): Promise<ListenerRuntime> {
  const server = createServer({ noDelay: true, pauseOnConnect: false });
  const rt: ListenerRuntime = {
    config,
    server,
    port: 0,
    sessions: new Set(),
    pending: new Set(),
    hold: new HoldQueue<Session>(hooks.scheduler, (s, waited) => hooks.holdExpired(s, waited)),
    balancer: new Balancer(),
    opaque: new Map(),
    refusing: new Set(),
    perClient: new AddressCounts(),
    limitRefusals: 0,
  };
  server.on('connection', (socket) => hooks.accept(rt, socket));
  server.on('error', (err) => hooks.log.error({ err, listener: config.name }, 'listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.port, backlog: 4096 }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`listener ${config.name}: cannot listen on ${config.host}:${config.port}: ${err.code ?? err.message}`, { cause: err });
  });
  const addr = server.address();
  rt.port = addr && typeof addr === 'object' ? addr.port : config.port;
  hooks.log.info({ listener: config.name, role: config.role, host: config.host, port: rt.port }, 'listening');
  return rt;
}

/**
 * Stops accepting at once: the listening socket closes now and its port is free again. Not awaited: close()'s
 * callback waits for every open connection, and the callers end those sessions themselves (after a drain).
 */
export function closeListener(rt: ListenerRuntime): void {
  rt.server.close();
}

export interface ReconfigureHooks {
  open(config: ListenerConfig): Promise<ListenerRuntime>;
  /** Ends a routed session of a removed listener. */
  end(s: Session): void;
  /** Drops a session not routed yet (or being refused) of a removed listener. */
  drop(s: Session): void;
}

/**
 * Applies a reloaded configuration to `listeners`: settings in place, removed listeners closed (their sessions
 * ended), moved ones (new host or port) bound again with their sessions carried over, new ones opened.
 */
export async function reconfigureListeners(listeners: Map<string, ListenerRuntime>, config: RouterConfig, hooks: ReconfigureHooks): Promise<void> {
  const wanted = new Map(config.listeners.map((l) => [l.name, l]));
  for (const [name, rt] of [...listeners]) {
    const next = wanted.get(name);
    if (!next) {
      listeners.delete(name);
      closeListener(rt);
      rt.hold.expireAll();
      for (const s of [...rt.sessions]) hooks.end(s);
      for (const s of [...rt.pending, ...rt.refusing]) hooks.drop(s);
      continue;
    }
    const moved = next.host !== rt.config.host || (next.port !== rt.config.port && next.port !== 0);
    rt.config = next;
    if (moved) {
      closeListener(rt);
      listeners.delete(name);
      const fresh = await hooks.open(next);
      listeners.set(name, fresh);
      for (const s of rt.sessions) {
        s.rt = fresh;
        fresh.sessions.add(s);
      }
      for (const s of rt.pending) {
        s.rt = fresh;
        fresh.pending.add(s);
      }
      for (const [k, v] of rt.opaque) fresh.opaque.set(k, v);
      fresh.perClient = rt.perClient;
    }
  }
  for (const l of config.listeners) if (!listeners.has(l.name)) listeners.set(l.name, await hooks.open(l));
}

/** One figure per listener (for /status and the workers' stats). */
export function perListener<T>(listeners: Map<string, ListenerRuntime>, f: (rt: ListenerRuntime) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [name, rt] of listeners) out[name] = f(rt);
  return out;
}

/** Sessions with a chosen backend of one listener, per backend member. */
export function connectionsByMember(rt: ListenerRuntime): Record<string, number> {
  const per: Record<string, number> = {};
  for (const s of rt.sessions) if (s.backend) per[s.backend.member] = (per[s.backend.member] ?? 0) + 1;
  return per;
}
