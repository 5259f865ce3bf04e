import type { AgentStatus } from './status';

/**
 * The last tick's snapshot, with postgres' liveness checked at answer time. A postmaster that died since the tick
 * makes the state `unknown`, as Patroni's get_postgresql_status says when its query fails on a postgres it
 * believed running: `/replica`, `/health` and `/read-only` then answer 503 at once instead of until the next tick
 * (a replica whose postmaster was kill -9ed answered 200 for up to a loop_wait). Leader paths do not look at the
 * state, in Patroni as here: they follow the lock.
 */
export function withPostgresCheckedNow(status: AgentStatus, postmasterAlive: () => boolean): AgentStatus {
  if (status.state !== 'running' || postmasterAlive()) return status;
  return { ...status, state: 'unknown' };
}
