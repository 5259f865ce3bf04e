/** Puts the user's scripts (postgresql.callbacks, pre_promote, before_stop) around the agent's PostgresOps. */
import type { AgentConfig } from '../config/types';
import type { Logger } from '../log/logger';
import type { AgentMetricsPort } from './metrics-port';
import { ScriptRunner } from './callbacks';
import { HookedPostgresOps } from './hooked-postgres';
import type { PostgresOps } from './postgres-ops';

/** The ops as they are when no script is configured; else wrapped (HookedPostgresOps). */
export function withHooks(ops: PostgresOps, config: AgentConfig, logger: Logger, metrics?: AgentMetricsPort): PostgresOps {
  const hooks = config.postgresql.hooks;
  if (!hooks) return ops;
  const log = logger.child({ component: 'callbacks' });
  const runner = new ScriptRunner({
    scope: config.scope, logger: log, callbacks: hooks.callbacks ?? {},
    onResult: (kind, result) => metrics?.countScript(kind, result),
  });
  return new HookedPostgresOps(ops, runner, {
    ...(hooks.prePromote ? { prePromote: hooks.prePromote } : {}),
    ...(hooks.beforeStop ? { beforeStop: hooks.beforeStop } : {}),
  }, log);
}
