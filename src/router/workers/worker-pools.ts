/**
 * The worker side of pooled listeners under `workers: N`: each worker runs its own pools, so the control plane's
 * PAUSE/RESUME, its "tell me when idle" (the drain's acknowledgement waits for every worker) and CancelRequests
 * forwarded from a sibling worker (the key names this worker) are carried out here, on this worker's PoolRoom.
 */
import type { Logger } from '../../log/logger';
import type { RouterMetrics } from '../../metrics/router-metrics';
import type { Router } from '../router';
import type { FromWorker, ToWorker } from './messages';

/** Handles the pooled listeners' messages; false for any other message. */
export function poolMessage(router: Router, m: ToWorker, send: (m: FromWorker) => void, deps: { log: Logger; metrics: RouterMetrics }): boolean {
  const pools = router.pool.pools;
  switch (m.t) {
    case 'pause':
      pools.pause(m.member);
      return true;
    case 'resume':
      pools.resume(m.member);
      return true;
    case 'idle':
      pools.idle(m.member).then(
        () => send({ t: 'idle', id: m.id }),
        // Not expected (idle() only resolves); the control plane's drain then acknowledges at its timeout.
        (err: unknown) => deps.log.warn({ err, member: m.member ?? null }, 'router worker: waiting for its pools to go idle failed'),
      );
      return true;
    case 'cancel': {
      const rt = router.listeners.get(m.listener);
      if (!rt) {
        deps.log.debug({ listener: m.listener }, 'forwarded cancel for a listener this worker does not serve dropped');
        return true;
      }
      // No raw packet: a key this worker no longer knows (the client left) is counted, never broadcast.
      router.pool.cancel(rt, m.processId, m.secretKey).then(
        (ours) => {
          if (!ours) deps.metrics.cancel(m.listener, 'unknown_key');
        },
        (err: unknown) => deps.log.warn({ err, listener: m.listener }, 'forwarded cancel failed'),
      );
      return true;
    }
    default:
      return false;
  }
}
