/**
 * The agent's write endpoints (reference §3.8), as the unsafe-handler map `startRestApi` takes. Authentication
 * and body parsing are done by server.ts before any of these run.
 */
import type { UnsafeHandler } from '../server';
import type { OperationDeps } from './deps';
import { patchConfigHandler, putConfigHandler } from './config';
import { reinitializeHandler, reloadHandler } from './reinit';
import { cancelRestartHandler, restartHandler, ScheduledRestart } from './restart';
import { cancelSwitchoverHandler, failoverHandler } from './switchover';
import { failsafeHandler } from './failsafe';

export type { OperationDeps } from './deps';

export function operationHandlers(deps: OperationDeps): Record<string, UnsafeHandler> {
  const scheduled = new ScheduledRestart(deps);
  return {
    'POST /switchover': failoverHandler(deps, 'switchover'),
    'POST /failover': failoverHandler(deps, 'failover'),
    'DELETE /switchover': cancelSwitchoverHandler(deps),
    'POST /restart': restartHandler(deps, scheduled),
    'DELETE /restart': cancelRestartHandler(scheduled),
    'POST /reinitialize': reinitializeHandler(deps),
    'POST /reload': reloadHandler(deps),
    'PATCH /config': patchConfigHandler(deps),
    'PUT /config': putConfigHandler(deps),
    'POST /failsafe': failsafeHandler(deps),
  };
}
