/**
 * `POST /restart` and `DELETE /restart` (reference §3.8): Patroni's filters (role, postgres_version,
 * restart_pending, timeout), checked against the status snapshot before the restart goes to the HA loop through
 * the request queue; `schedule` keeps one restart in memory that fires at its time (Patroni keeps it in memory too).
 */
import type { AgentStatus } from '../../agent/status';
import { isPrimaryRole } from '../../model/member';
import type { UnsafeHandler } from '../server';
import type { OperationDeps } from './deps';
import { parseSchedule } from './schedule';

export interface RestartFilters {
  role?: string;
  postgresVersion?: string;
  /** Present in the request: restart only when postgres reports a pending restart (Patroni checks the key only). */
  restartPending: boolean;
  timeoutSeconds?: number;
  schedule?: { epochMs: number; iso: string };
}

type Refusal = { code: number; message: string };
const isRefusal = (v: unknown): v is Refusal => typeof v === 'object' && v !== null && 'code' in v && 'message' in v;

/** The longest a restart request waits for the HA loop's outcome (the REST socket idles out at 60 s). */
const RESTART_WAIT_MS = 55_000;

/** Patroni's `postgres_version_to_int`: `X.Y.Z` (9.x) or `X.Y` (10+) → 90503, 100001… or the error message. */
export function postgresVersionToInt(version: unknown): number | Refusal {
  const text = String(version);
  const parts = text.split('.');
  if (!parts.every((p) => /^\s*[+-]?\d+\s*$/.test(p))) return { code: 400, message: `Invalid PostgreSQL version: ${text}` };
  const nums = parts.map(Number);
  if (nums.length < 2 || (nums.length === 2 && nums[0]! < 10) || nums.length > 3) {
    return { code: 400, message: `Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: ${text}` };
  }
  if (nums.length === 2) nums.splice(1, 0, 0);
  return Number(nums.map((n) => String(n).padStart(2, '0')).join(''));
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, min: 60, h: 3600, d: 86400 };

/** Patroni's `parse_int(value, 's')` for the timeout: a number of seconds, or text with a unit (`30s`, `2min`). */
export function parseSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.round(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$/.exec(value);
  return m ? Math.round(Number(m[1]) * UNIT_SECONDS[m[2] ?? 's']!) : undefined;
}

/** do_POST_restart's checks, in the order of the request's keys; `schedule` while paused is 500 first. */
export function validateRestartRequest(body: Record<string, unknown>, ctx: { pause: boolean; nowEpochMs: number }): RestartFilters | Refusal {
  if (ctx.pause && 'schedule' in body) return { code: 500, message: "Can't schedule restart in the paused state" };
  const filters: RestartFilters = { restartPending: false };
  for (const [key, value] of Object.entries(body)) {
    switch (key) {
      case 'schedule': {
        const parsed = parseSchedule(value, 'restart', ctx.nowEpochMs);
        if (!parsed.ok) return { code: parsed.code, message: parsed.message };
        filters.schedule = { epochMs: parsed.epochMs, iso: parsed.iso };
        break;
      }
      case 'role':
        if (value !== 'master' && value !== 'primary' && value !== 'replica') {
          return { code: 400, message: 'PostgreSQL role should be either primary or replica' };
        }
        filters.role = value;
        break;
      case 'postgres_version': {
        const v = postgresVersionToInt(value);
        if (isRefusal(v)) return v;
        filters.postgresVersion = String(value);
        break;
      }
      case 'timeout': {
        const seconds = parseSeconds(value);
        if (seconds === undefined || seconds <= 0) return { code: 400, message: 'Timeout should be a positive number of seconds' };
        filters.timeoutSeconds = seconds;
        break;
      }
      case 'restart_pending':
        filters.restartPending = true;
        break;
      default:
        return { code: 400, message: `Unknown filter for the scheduled restart: ${key}` };
    }
  }
  return filters;
}

/** Patroni's `restart_matches`: the reason not to restart, or undefined when every filter holds. */
export function restartMismatch(filters: RestartFilters, status: AgentStatus): string | undefined {
  let reason: string | undefined;
  if (filters.role) {
    const same = filters.role === status.role || (isPrimaryRole(filters.role) && isPrimaryRole(status.role));
    if (!same) reason = 'host role mismatch';
  }
  if (filters.postgresVersion) {
    const wanted = postgresVersionToInt(filters.postgresVersion);
    if (typeof wanted === 'number' && wanted <= (status.probe.serverVersion ?? 0)) reason = 'postgres version mismatch';
  }
  if (filters.restartPending && !status.probe.pendingRestart) reason = 'pending restart flag is not set';
  return reason;
}

interface Scheduled {
  filters: RestartFilters;
  postmasterStartTime?: string;
  timer: NodeJS.Timeout;
}

/** The one scheduled restart of this node (Patroni: `scheduled_restart`, in memory, lost on agent restart). */
export class ScheduledRestart {
  private current: Scheduled | undefined;
  private readonly log;
  private readonly now: () => number;

  constructor(private readonly deps: OperationDeps) {
    this.log = deps.logger.child({ component: 'operations', action: 'restart' });
    this.now = deps.now ?? (() => Date.now());
    deps.signal?.addEventListener('abort', () => this.cancel(), { once: true });
  }

  get scheduled(): { schedule: string; postmasterStartTime?: string } | undefined {
    const c = this.current;
    if (!c?.filters.schedule) return undefined;
    return { schedule: c.filters.schedule.iso, ...(c.postmasterStartTime ? { postmasterStartTime: c.postmasterStartTime } : {}) };
  }

  /** False when a restart is already scheduled (Patroni answers 409). */
  schedule(filters: RestartFilters): boolean {
    if (this.current || !filters.schedule) return false;
    const postmasterStartTime = this.deps.status().probe.postmasterStartTime;
    this.current = { filters, ...(postmasterStartTime ? { postmasterStartTime } : {}), timer: this.arm(filters.schedule.epochMs - this.now()) };
    this.log.info({ schedule: filters.schedule.iso }, 'restart scheduled');
    return true;
  }

  cancel(): boolean {
    const c = this.current;
    if (!c) return false;
    clearTimeout(c.timer);
    this.current = undefined;
    return true;
  }

  private arm(delayMs: number): NodeJS.Timeout {
    // setTimeout holds at most 2^31-1 ms; a schedule further out re-arms on the way.
    const t = setTimeout(() => this.fire(), Math.max(0, Math.min(delayMs, 2 ** 31 - 1)));
    t.unref();
    return t;
  }

  private fire(): void {
    const c = this.current;
    if (!c?.filters.schedule) return;
    const status = this.deps.status();
    const loopWaitMs = status.dynamic.loopWaitSeconds * 1000;
    const lateMs = this.now() - c.filters.schedule.epochMs;
    if (lateMs < 0) {
      c.timer = this.arm(-lateMs);
      return;
    }
    if (status.pause && lateMs <= 1.5 * loopWaitMs) {
      // Patroni does not run scheduled actions while paused; it drops them once they are stale.
      c.timer = this.arm(loopWaitMs);
      return;
    }
    this.current = undefined;
    if (lateMs > 1.5 * loopWaitMs) {
      this.log.warn({ schedule: c.filters.schedule.iso }, 'found a stale scheduled restart, cleaning up');
      return;
    }
    const started = status.probe.postmasterStartTime;
    if (started && c.postmasterStartTime && started !== c.postmasterStartTime) {
      this.log.info({ postmasterStartTime: started }, 'cancelling scheduled restart: postgres restart has already happened');
      return;
    }
    const mismatch = restartMismatch(c.filters, status);
    if (mismatch) {
      this.log.info({ reason: mismatch }, 'not proceeding with the scheduled restart');
      return;
    }
    this.log.info({ schedule: c.filters.schedule.iso }, 'manual scheduled restart');
    this.deps.requests.submit({ type: 'restart' }).then(
      (outcome) => this.log[outcome.ok ? 'info' : 'warn']({ reason: outcome.message }, 'scheduled restart finished'),
      (err: unknown) => this.log.warn({ err }, 'scheduled restart failed'),
    );
  }
}

export function restartHandler(deps: OperationDeps, scheduled: ScheduledRestart): UnsafeHandler {
  const now = deps.now ?? (() => Date.now());
  const log = deps.logger.child({ component: 'operations', action: 'restart' });
  return {
    body: 'optional',
    timeoutMs: RESTART_WAIT_MS,
    async handle(req) {
      const status = deps.status();
      const filters = validateRestartRequest(req.body, { pause: status.pause, nowEpochMs: now() });
      if (isRefusal(filters)) return { code: filters.code, body: filters.message };
      if (filters.schedule) {
        return scheduled.schedule(filters)
          ? { code: 202, body: 'Restart scheduled' }
          : { code: 409, body: 'Another restart is already scheduled' };
      }
      const mismatch = restartMismatch(filters, status);
      if (mismatch) {
        log.info({ reason: mismatch }, 'not proceeding with the restart');
        return { code: 503, body: 'restart conditions are not satisfied' };
      }
      log.info({ filters }, 'restart requested');
      const outcome = await deps.requests.submit({ type: 'restart' });
      return { code: outcome.ok ? 200 : 503, body: outcome.message };
    },
  };
}

export function cancelRestartHandler(scheduled: ScheduledRestart): UnsafeHandler {
  return {
    body: 'none',
    handle: () => (scheduled.cancel()
      ? { code: 200, body: 'scheduled restart deleted' }
      : { code: 404, body: 'no restarts are scheduled' }),
  };
}
