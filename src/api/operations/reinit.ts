/**
 * `POST /reinitialize` and `POST /reload`: local requests handed to the HA loop through the request queue.
 * The loop settles a reinitialize once it has started (Patroni answers `reinitialize started` then too); reload
 * answers Patroni's 202 `reload scheduled` once the loop has applied it.
 */
import type { OperatorRequest } from '../../agent/requests';
import { isPrimaryRole } from '../../model/member';
import { parseBool as parseBoolValue } from '../../config/values';
import type { UnsafeHandler } from '../server';
import type { OperationDeps } from './deps';

/** How long a request may wait for the HA loop (loop_wait is at most a few tens of seconds; the socket idles at 60 s). */
const LOOP_WAIT_MS = 55_000;

/** `force` as Patroni reads it: `parse_bool(request.get('force')) or False` (config/values.ts parseBool). */
export function parseBool(value: unknown): boolean {
  return value !== undefined && value !== null && parseBoolValue(value) === true;
}

/** Reinitialize's preconditions from the last view: the reason to refuse, or undefined. */
export function reinitializeRefusal(status: ReturnType<OperationDeps['status']>): string | undefined {
  const leader = status.view?.leader?.name;
  if (!leader) return 'Cluster has no leader, can not reinitialize';
  if (leader === status.name || (status.leaderValidUntilMs > 0 && isPrimaryRole(status.role))) return 'I am the leader, can not reinitialize';
  return undefined;
}

export function reinitializeHandler(deps: OperationDeps): UnsafeHandler {
  const log = deps.logger.child({ component: 'operations', action: 'reinitialize' });
  return {
    body: 'optional',
    timeoutMs: LOOP_WAIT_MS,
    async handle(req) {
      const refusal = reinitializeRefusal(deps.status());
      if (refusal) return { code: 503, body: refusal };
      const request: OperatorRequest = { type: 'reinitialize', force: parseBool(req.body.force) };
      log.info({ force: request.type === 'reinitialize' && request.force }, 'reinitialize requested');
      const pending = deps.requests.submit(request);
      deps.wakeUp?.();
      const outcome = await pending;
      return { code: outcome.ok ? 200 : 503, body: outcome.message };
    },
  };
}

export function reloadHandler(deps: OperationDeps): UnsafeHandler {
  const log = deps.logger.child({ component: 'operations', action: 'reload' });
  return {
    body: 'none',
    timeoutMs: LOOP_WAIT_MS,
    async handle() {
      log.info({}, 'reload requested');
      const local = await deps.reloadLocalConfig?.();
      // Patroni answers 202 and only logs a broken file; pgha says so to the caller, who is the one to fix it.
      if (local && !local.ok) return { code: 400, body: local.message };
      // A reload in flight (another POST, a SIGHUP) may have written the files from the previous YAML: wait for it
      // and reload again rather than answer 503; Patroni answers 202 to every reload.
      while (deps.requests.busyWith() === 'reload') await deps.requests.whenIdle();
      const outcome = deps.requests.submit({ type: 'reload' });
      deps.wakeUp?.();
      const o = await outcome;
      return o.ok ? { code: 202, body: 'reload scheduled' } : { code: 503, body: o.message };
    },
  };
}
