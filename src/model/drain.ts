/**
 * The switchover drain handshake between agents and routers (docs/router.md "Switchover without errors"), as two
 * etcd keys beside Patroni's (Patroni and patronictl ignore keys they do not know):
 *
 * - `/<ns>/<scope>/routers/<id>`: a router in a pool mode, on its own lease: `{id, pid, host, drained}`, where
 *   `drained` is the id of the last drain request it has carried out (null before any).
 * - `/<ns>/<scope>/drain`: the leader agent, before it demotes for a planned switchover: `{id, leader, candidate,
 *   deadline, timeout_ms}`, on a short lease of its own so a crashed agent never leaves it behind.
 *
 * Parsed with Patroni's tolerance: garbage reads as absent, never throws.
 */

export interface DrainRequest {
  /** One switchover: routers echo it in `drained`. */
  id: string;
  /** The member that is about to demote. */
  leader: string;
  candidate?: string;
  /** Wall time (ISO) after which the agent demotes anyway; informative (routers time from when they saw the key). */
  deadline?: string;
  /** How long the agent waits for acknowledgements. */
  timeoutMs: number;
  modRevision: number;
}

export interface RouterRegistration {
  id: string;
  pid?: number;
  host?: string;
  /** Id of the last drain request this router acknowledged; undefined before any. */
  drained?: string;
  modRevision: number;
}

function object(value: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(value);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function parseDrainRequest(value: string, modRevision: number): DrainRequest | undefined {
  const o = object(value);
  const id = text(o?.id);
  const leader = text(o?.leader);
  if (!o || !id || !leader) return undefined;
  const timeoutMs = typeof o.timeout_ms === 'number' && Number.isFinite(o.timeout_ms) && o.timeout_ms >= 0 ? o.timeout_ms : 0;
  const candidate = text(o.candidate);
  const deadline = text(o.deadline);
  return { id, leader, timeoutMs, modRevision, ...(candidate ? { candidate } : {}), ...(deadline ? { deadline } : {}) };
}

export function encodeDrainRequest(r: Omit<DrainRequest, 'modRevision'>): string {
  return JSON.stringify({ id: r.id, leader: r.leader, candidate: r.candidate ?? null, deadline: r.deadline ?? null, timeout_ms: r.timeoutMs });
}

export function parseRouterRegistration(id: string, value: string, modRevision: number): RouterRegistration {
  const o = object(value) ?? {};
  const drained = text(o.drained);
  const host = text(o.host);
  return {
    id,
    modRevision,
    ...(typeof o.pid === 'number' ? { pid: o.pid } : {}),
    ...(host ? { host } : {}),
    ...(drained ? { drained } : {}),
  };
}

export function encodeRouterRegistration(r: Omit<RouterRegistration, 'modRevision'>): string {
  return JSON.stringify({ id: r.id, pid: r.pid ?? null, host: r.host ?? null, drained: r.drained ?? null });
}
