/**
 * The router's side of the switchover drain (pure; model/drain.ts has the keys, drain.ts carries the steps out).
 * When the drain key names this router's current leader: pause that member (new transactions wait, connections
 * stay open), acknowledge once nothing runs on it or the wait timeout passed (then what still runs may fail, as
 * without a drain), and resume once the routing table has another leader, the key is gone, or the timeout plus a
 * margin passed: a router never stays paused on its own. A request for a member that is not this router's leader,
 * with nothing of this router running there, is acknowledged at once.
 */
import type { DrainRequest } from '../model/drain';

export interface DrainFacts {
  /** The drain key, as the router's view shows it. */
  request?: DrainRequest;
  /** The routing table's confirmed leader (member name). */
  leader?: string;
  /** Transactions in flight on the request's leader (Drainable.busy). */
  busy: number;
  nowMs: number;
}

export interface DrainMemory {
  /** The request being carried out. */
  active?: { id: string; member: string; sinceMs: number; waitMs: number };
  /** The id this router's key says drained (written and confirmed). */
  acked?: string;
  /** The latest requests carried out to the end: never paused for again. */
  finished: readonly string[];
}

export interface DrainSettings {
  /** The router's own wait limit (switchover_drain.timeout); the request's timeout caps it. */
  timeoutMs: number;
  /** After the wait, how long the pause may outlast it while the demote runs. */
  marginMs: number;
}

export type DrainAction = { type: 'pause'; member: string } | { type: 'resume'; member: string } | { type: 'ack'; id: string };

export interface DrainStep {
  actions: DrainAction[];
  reason: string;
  memory: DrainMemory;
  /** Plan again at this time (monotonic ms) if nothing happened before. */
  nextCheckAtMs?: number;
}

export const NO_DRAIN = 'no drain pending';

export const initialDrainMemory: DrainMemory = { finished: [] };

/** How many finished request ids are kept: a request is never seen again once its key is gone. */
const FINISHED_KEPT = 16;

export function planDrain(f: DrainFacts, m: DrainMemory, s: DrainSettings): DrainStep {
  const a = m.active;
  const req = f.request;
  if (a) {
    const why = resumeReason(f, a, s);
    if (why) {
      const memory: DrainMemory = { ...m, active: undefined, finished: finish(m.finished, a.id) };
      const actions: DrainAction[] = [{ type: 'resume', member: a.member }];
      if (req?.id === a.id && m.acked !== a.id) actions.push({ type: 'ack', id: a.id });
      return { actions, memory, reason: `drain ${a.id}: resuming ${a.member}: ${why}` };
    }
    const resumeAt = a.sinceMs + a.waitMs + s.marginMs;
    if (m.acked === a.id) return { actions: [], memory: m, reason: `drain ${a.id}: ${a.member} drained, waiting for the new leader`, nextCheckAtMs: resumeAt };
    if (f.busy === 0) return { actions: [{ type: 'ack', id: a.id }], memory: m, reason: `drain ${a.id}: no transaction in flight on ${a.member}: drained`, nextCheckAtMs: resumeAt };
    if (f.nowMs >= a.sinceMs + a.waitMs) {
      return { actions: [{ type: 'ack', id: a.id }], memory: m, reason: `drain ${a.id}: wait timeout passed with ${f.busy} transaction(s) in flight on ${a.member}: acknowledging, they may fail`, nextCheckAtMs: resumeAt };
    }
    return { actions: [], memory: m, reason: `drain ${a.id}: waiting for ${f.busy} transaction(s) on ${a.member}`, nextCheckAtMs: a.sinceMs + a.waitMs };
  }
  if (!req) return { actions: [], memory: m, reason: NO_DRAIN };
  if (m.finished.includes(req.id)) {
    // Finished: only an acknowledgement that did not get written is still owed.
    return m.acked === req.id ? { actions: [], memory: m, reason: `drain ${req.id}: done` } : { actions: [{ type: 'ack', id: req.id }], memory: m, reason: `drain ${req.id}: done, acknowledging` };
  }
  // Judged by what runs there, not only by the table: a leader not confirmed this moment (a slow health check) may
  // still have this router's transactions in flight.
  if (req.leader !== f.leader && f.busy === 0) {
    const memory: DrainMemory = { ...m, finished: finish(m.finished, req.id) };
    const actions: DrainAction[] = m.acked === req.id ? [] : [{ type: 'ack', id: req.id }];
    return { actions, memory, reason: `drain ${req.id}: ${req.leader} is not this router's leader (${f.leader ?? 'none'}): nothing to drain` };
  }
  const waitMs = req.timeoutMs > 0 ? Math.min(s.timeoutMs, req.timeoutMs) : s.timeoutMs;
  const active = { id: req.id, member: req.leader, sinceMs: f.nowMs, waitMs };
  const next = planDrain(f, { ...m, active }, s);
  return { ...next, actions: [{ type: 'pause', member: req.leader }, ...next.actions], reason: `drain ${req.id}: pausing ${req.leader} for the switchover to ${req.candidate ?? 'a new leader'}; ${next.reason}` };
}

function resumeReason(f: DrainFacts, a: NonNullable<DrainMemory['active']>, s: DrainSettings): string | undefined {
  if (f.request?.id !== a.id) return 'the drain key is gone';
  if (f.leader !== undefined && f.leader !== a.member) return `${f.leader} is the new leader`;
  if (f.nowMs >= a.sinceMs + a.waitMs + s.marginMs) return 'the drain lasted past its timeout and margin';
  return undefined;
}

function finish(list: readonly string[], id: string): readonly string[] {
  return [...list.filter((x) => x !== id), id].slice(-FINISHED_KEPT);
}
