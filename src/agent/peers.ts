import type { ClusterView } from '../model/cluster';
import { memberTag, type Member } from '../model/member';
import type { PeerReport } from './observation';
import { SYSTEM_TLS, getJson, type ClientTls } from '../lib/json-get';

/** Patroni asks each peer with a 2 s timeout and no retries (reference §4.4). */
const PEER_TIMEOUT_MS = 2000;

export type PeerFetch = (url: string, timeoutMs: number) => Promise<Record<string, unknown> | undefined>;

/**
 * GETs a member's document with this agent's TLS for member calls (config `memberTls`: a private CA and a client
 * certificate, see lib/json-get.ts). Any failure reads as unreachable.
 */
export function peerFetcher(tls: ClientTls = SYSTEM_TLS): PeerFetch {
  return async (url, timeoutMs) => {
    try {
      const body = await getJson(url, timeoutMs, tls);
      return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
}

/** Plain HTTP, or HTTPS checked against the system CA store with no client certificate. */
export const fetchJson: PeerFetch = peerFetcher();

export function peerFromDocument(name: string, doc: Record<string, unknown> | undefined): PeerReport {
  if (!doc) return { name, reachable: false, nofailover: false };
  const xlog = (doc.xlog ?? {}) as Record<string, unknown>;
  const tags = (doc.tags ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const report: PeerReport = {
    name,
    reachable: true,
    nofailover: memberTag({ tags }, 'nofailover') || (typeof tags.failover_priority === 'number' && tags.failover_priority <= 0),
  };
  if (typeof doc.role === 'string') report.role = doc.role;
  const location = num(xlog.location);
  if (location !== undefined) report.primaryLocation = location;
  const replica = Math.max(num(xlog.received_location) ?? 0, num(xlog.replayed_location) ?? 0);
  if (replica) report.replicaLocation = replica;
  const tl = num(doc.timeline);
  if (tl !== undefined) report.timeline = tl;
  if (typeof tags.failover_priority === 'number') report.failoverPriority = tags.failover_priority;
  if (doc.watchdog_failed === true) report.reachable = false;
  return report;
}

/**
 * Asks every other known member for its /patroni document, in parallel. "Known" includes the members of the
 * last view that still had a leader, so the vanished leader (whose member key expired with its lease) is asked too.
 */
export async function askPeers(me: string, view: ClusterView, lastLeaderView?: ClusterView, fetch: PeerFetch = fetchJson): Promise<PeerReport[]> {
  const known = new Map<string, Member>();
  for (const m of lastLeaderView?.members.values() ?? []) known.set(m.name, m);
  for (const m of view.members.values()) known.set(m.name, m);
  known.delete(me);
  const asks = [...known.values()]
    .filter((m) => typeof m.doc.api_url === 'string')
    .map(async (m) => askMember(m, fetch));
  return Promise.all(asks);
}

/** One member's report (unreachable when it publishes no api_url). Patroni: 2 s, no retries. */
export async function askMember(member: Member, fetch: PeerFetch = fetchJson): Promise<PeerReport> {
  const url = typeof member.doc.api_url === 'string' ? member.doc.api_url : undefined;
  return peerFromDocument(member.name, url ? await fetch(url, PEER_TIMEOUT_MS) : undefined);
}
