/**
 * `POST /switchover`, `POST /failover`, `DELETE /switchover` with Patroni 3.0.2's rules (reference §7.3): validate,
 * check that some member could take over, write the `failover` key, then poll etcd until the leader key moves.
 * The leader and the candidate act on the key in the HA loop; this file only asks and watches.
 */
import type { ClusterView } from '../../model/cluster';
import type { Member } from '../../model/member';
import type { PeerReport } from '../../agent/observation';
import { askMember } from '../../agent/peers';
import { describe } from '../../lib/errors';
import type { UnsafeHandler, UnsafeReply } from '../server';
import { clusterSettings, type OperationDeps } from './deps';
import { parseSchedule } from './schedule';

export type FailoverAction = 'switchover' | 'failover';

export interface FailoverPlan {
  leader?: string;
  candidate?: string;
  /** `scheduled_at` as Python's isoformat (what goes into the key). */
  scheduledAt?: string;
}

type Refusal = { code: number; message: string };

const title = (action: FailoverAction) => (action === 'switchover' ? 'Switchover' : 'Failover');
const verb = (action: FailoverAction) => (action === 'switchover' ? 'switched' : 'failed');
/** The socket of a REST request idles out after 60 s (server.ts): answer before that. */
const MAX_POLL_MS = 50_000;

function nameField(body: Record<string, unknown>, key: string): string | undefined | Refusal {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  return typeof v === 'string' ? v : { code: 400, message: `${key} must be a member name` };
}
const isRefusal = (v: unknown): v is Refusal => typeof v === 'object' && v !== null && 'code' in v;

/** Patroni's validation order (do_POST_failover, 3.0.2), before anything is read from the members. */
export function validateFailoverRequest(
  action: FailoverAction,
  body: Record<string, unknown>,
  ctx: { pause: boolean; nowEpochMs: number },
): FailoverPlan | Refusal {
  const leader = nameField(body, 'leader');
  const candidate = body.candidate !== undefined && body.candidate !== null && body.candidate !== ''
    ? nameField(body, 'candidate')
    : nameField(body, 'member');
  if (isRefusal(leader)) return leader;
  if (isRefusal(candidate)) return candidate;
  if (action === 'failover' && !candidate) return { code: 400, message: 'Failover could be performed only to a specific candidate' };
  if (action === 'switchover' && !leader) return { code: 400, message: 'Switchover could be performed only from a specific leader' };
  const plan: FailoverPlan = {};
  if (leader) plan.leader = leader;
  if (candidate) plan.candidate = candidate;
  const scheduled = body.scheduled_at;
  if (scheduled !== undefined && scheduled !== null && scheduled !== '') {
    if (!leader) return { code: 400, message: `Scheduled ${action} is possible only from a specific leader` };
    if (ctx.pause) return { code: 400, message: `Can't schedule ${action} in the paused state` };
    const parsed = parseSchedule(scheduled, action, ctx.nowEpochMs);
    if (!parsed.ok) return { code: parsed.code, message: parsed.message };
    plan.scheduledAt = parsed.iso;
  }
  if (ctx.pause && !candidate) return { code: 400, message: `${title(action)} is possible only to a specific candidate in a paused state` };
  if (leader && candidate && leader === candidate) return { code: 400, message: `${title(action)} target and source are the same` };
  return plan;
}

/**
 * The first half of Patroni's `is_failover_possible` (pure): a 412 reason, or the members whose APIs decide it
 * (one of them must answer, without `nofailover`).
 */
export function membersToAsk(
  view: ClusterView,
  plan: FailoverPlan,
  action: FailoverAction,
  synchronousMode: boolean,
): Member[] | Refusal {
  const refuse = (message: string): Refusal => ({ code: 412, message });
  if (plan.leader && view.leader?.name !== plan.leader) return refuse('leader name does not match');
  const sync = view.sync?.syncStandby ?? [];
  if (plan.candidate) {
    if (action === 'switchover' && synchronousMode && !sync.includes(plan.candidate)) {
      return refuse('candidate name does not match with sync_standby');
    }
    const member = view.members.get(plan.candidate);
    return member ? [member] : refuse('candidate does not exists');
  }
  if (synchronousMode) {
    const members = [...view.members.values()].filter((m) => sync.includes(m.name));
    return members.length ? members : refuse(`${action} is not possible: can not find sync_standby`);
  }
  const members = [...view.members.values()].filter((m) => m.name !== view.leader?.name && m.doc.api_url);
  return members.length ? members : refuse(`${action} is not possible: cluster does not have members except leader`);
}

/** Patroni's `failover_limitation() is None`: the API answered, no `nofailover`, watchdog fine. */
export function isGoodCandidate(report: PeerReport): boolean {
  return report.reachable && !report.nofailover;
}

/** The answer once the poll sees the leader key move, or the failover key vanish. */
export function failoverOutcome(
  view: ClusterView,
  oldLeader: string | undefined,
  candidate: string | undefined,
  action: FailoverAction,
): UnsafeReply | undefined {
  const now = view.leader?.name;
  if (now && now !== oldLeader) {
    if (!candidate || candidate === now) return { code: 200, body: `Successfully ${verb(action)} over to "${now}"` };
    const v = verb(action);
    return { code: 200, body: `${v[0]!.toUpperCase()}${v.slice(1)} over to "${now}" instead of "${candidate}"` };
  }
  if (!view.failover) return { code: 503, body: `${title(action)} failed` };
  return undefined;
}

/** How long the API waits for the outcome: Patroni's 2*max(10, loop_wait), at least 2*loop_wait + ttl. */
export function pollWindowMs(loopWaitSeconds: number, ttlSeconds: number): number {
  return Math.min(MAX_POLL_MS, 1000 * Math.max(2 * Math.max(10, loopWaitSeconds), 2 * loopWaitSeconds + ttlSeconds));
}

/** The `failover` key value: `{"leader":..,"member":..,"scheduled_at":..}`, compact like Patroni's json.dumps. */
export function failoverValue(plan: FailoverPlan): string {
  return JSON.stringify({
    ...(plan.leader ? { leader: plan.leader } : {}),
    ...(plan.candidate ? { member: plan.candidate } : {}),
    ...(plan.scheduledAt ? { scheduled_at: plan.scheduledAt } : {}),
  });
}

export function failoverHandler(deps: OperationDeps, action: FailoverAction): UnsafeHandler {
  const log = deps.logger.child({ component: 'operations', action });
  const now = deps.now ?? (() => Date.now());
  const ask = deps.askMember ?? ((m: Member) => askMember(m));
  const intervalMs = deps.pollIntervalMs ?? 500;
  return {
    body: 'required',
    timeoutMs: MAX_POLL_MS + 5_000,
    async handle(req) {
      let view: ClusterView;
      try {
        view = await deps.readCluster();
      } catch (err) {
        return { code: 503, body: `failed to read the cluster from DCS: ${describe(err)}` };
      }
      const settings = clusterSettings(view, deps.status().dynamic);
      const { leader, candidate, member, scheduled_at: scheduledAt } = req.body;
      log.info({ leader, candidate: candidate ?? member, scheduledAt }, `received ${action} request`);
      const plan = validateFailoverRequest(action, req.body, { pause: settings.pause, nowEpochMs: now() });
      if (isRefusal(plan)) return { code: plan.code, body: plan.message };
      if (!plan.scheduledAt) {
        const toAsk = membersToAsk(view, plan, action, settings.synchronousMode);
        if (isRefusal(toAsk)) return { code: toAsk.code, body: toAsk.message };
        const reports = await Promise.all(toAsk.map((m) => ask(m).catch(() => ({ name: m.name, reachable: false, nofailover: false }))));
        if (!reports.some(isGoodCandidate)) return { code: 412, body: `${action} is not possible: no good candidates have been found` };
      }
      try {
        await deps.store.put(deps.keys.failover, failoverValue(plan));
      } catch (err) {
        log.warn({ err }, 'writing the failover key failed');
        return { code: 503, body: `failed to write ${action} key into DCS` };
      }
      deps.wakeUp?.();
      if (plan.scheduledAt) return { code: 202, body: `${title(action)} scheduled` };
      const reply = await pollOutcome(deps, view.leader?.name, plan.candidate, action, pollWindowMs(settings.loopWaitSeconds, settings.ttlSeconds), intervalMs);
      log.info({ code: reply.code, reason: reply.body }, `${action} finished`);
      return reply;
    },
  };
}

async function pollOutcome(
  deps: OperationDeps,
  oldLeader: string | undefined,
  candidate: string | undefined,
  action: FailoverAction,
  windowMs: number,
  intervalMs: number,
): Promise<UnsafeReply> {
  const deadline = performance.now() + windowMs;
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, intervalMs));
    try {
      const outcome = failoverOutcome(await deps.readCluster(), oldLeader, candidate, action);
      if (outcome) return outcome;
    } catch {
      // etcd unreachable for a moment: keep polling until the window ends, as Patroni does
    }
  }
  return { code: 503, body: `${title(action)} status unknown` };
}

/** `DELETE /switchover`: clears a scheduled switchover (compare-and-swap on the key's revision). */
export function cancelSwitchoverHandler(deps: OperationDeps): UnsafeHandler {
  return {
    body: 'none',
    async handle() {
      const view = await deps.readCluster();
      const failover = view.failover;
      if (!failover?.scheduledAt) return { code: 404, body: 'no switchover is scheduled' };
      const ok = await deps.store.putIfModRevision(deps.keys.failover, '{}', failover.modRevision).catch((err: unknown) => {
        // Answered as a conflict (the operator retries); the log says whether etcd failed or the key moved on.
        deps.logger.warn({ component: 'operations', err }, 'deleting the scheduled switchover failed');
        return false;
      });
      if (!ok) return { code: 409, body: 'Conflict' };
      deps.logger.info({ component: 'operations', scheduledAt: failover.scheduledAt }, 'scheduled switchover deleted');
      return { code: 200, body: 'scheduled switchover deleted' };
    },
  };
}
