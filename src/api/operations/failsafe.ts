/**
 * `POST /failsafe` (Patroni's do_POST_failsafe): a leader that lost etcd asks this member to confirm it. The
 * decision (accept, or 500 `Running as a leader`, or 502 with failsafe mode off) is agent/failsafe.ts's.
 */
import type { UnsafeHandler } from '../server';
import type { OperationDeps } from './deps';

export function failsafeHandler(deps: OperationDeps): UnsafeHandler {
  return {
    body: 'required',
    // The leader waits 2 s at most; an answer later than that is worth nothing to it.
    timeoutMs: 2000,
    handle(req) {
      const answer = deps.failsafe?.accept(req.body) ?? { code: 502, message: 'failsafe mode is off' };
      return { code: answer.code, body: answer.message };
    },
  };
}
