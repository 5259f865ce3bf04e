/**
 * The leader's side of the switchover drain (pure; model/drain.ts has the keys): before a planned switchover stops
 * postgres, the leader asks the registered routers to drain its member and waits for every one to acknowledge, or
 * for the drain timeout. No router is ever needed for safety: a silent one only costs the timeout, and with none
 * registered (or the timeout 0) the switchover goes on at once, with today's timing.
 */
import type { ClusterView } from '../model/cluster';
import type { DrainRequest, RouterRegistration } from '../model/drain';

export type DrainStart =
  | { drain: false; reason: string }
  | { drain: true; reason: string; request: Omit<DrainRequest, 'modRevision' | 'deadline'> };

/** Whether this graceful demote (decide-manual.ts: a switchover, the leader alive) drains the routers first. */
export function planDrainStart(view: ClusterView | undefined, me: string, timeoutMs: number): DrainStart {
  if (timeoutMs <= 0) return { drain: false, reason: 'switchover drain is off (timeout 0): demoting at once' };
  const routers = [...(view?.routers?.keys() ?? [])];
  if (routers.length === 0) return { drain: false, reason: 'no router registered: demoting at once' };
  const f = view?.failover;
  // One request per failover key version; the view's revision when the key is already gone (never expected).
  const id = f ? `switchover-${f.modRevision}` : `switchover-r${view?.revision ?? 0}`;
  return {
    drain: true,
    reason: `asking ${routers.length} router(s) to drain ${me} before demoting (${routers.join(', ')})`,
    request: { id, leader: me, timeoutMs, ...(f?.member ? { candidate: f.member } : {}) },
  };
}

export type DrainWait =
  | { done: false; reason: string; pending: string[] }
  | { done: true; reason: string; acked: string[]; pending: string[] };

/**
 * Every router registered now must say `drained: id`. A router that registers during the wait counts too (it may
 * already route to this member); one whose key went away (stopped, lease expired) no longer does.
 */
export function planDrainWait(id: string, routers: readonly RouterRegistration[], nowMs: number, deadlineMs: number): DrainWait {
  const acked = routers.filter((r) => r.drained === id).map((r) => r.id);
  const pending = routers.filter((r) => r.drained !== id).map((r) => r.id);
  if (pending.length === 0) return { done: true, reason: `every router drained (${acked.join(', ') || 'none left'}): demoting`, acked, pending };
  if (nowMs >= deadlineMs) {
    return { done: true, reason: `drain timeout passed without ${pending.join(', ')}: demoting anyway (their in-flight transactions may fail)`, acked, pending };
  }
  return { done: false, reason: `waiting for ${pending.join(', ')} to drain`, pending };
}
