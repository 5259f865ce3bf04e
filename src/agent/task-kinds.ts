import type { Action } from './actions';
import type { TaskState } from './observation';

/** The task a long action runs as (published in the status while it runs). */
export const TASK_KIND: Partial<Record<Action['type'], TaskState['kind']>> = {
  bootstrap: 'bootstrap', create_replica: 'create_replica', start_primary: 'start', start_replica: 'start',
  promote: 'promote', demote: 'demote', rewind: 'rewind', restart: 'restart', reinitialize: 'reinit',
};

/** Patroni's answers for a finished operator request. */
export const REQUEST_DONE: Partial<Record<Action['type'], [string, string]>> = {
  restart: ['restarted successfully', 'restart failed'],
  reinitialize: ['reinitialize started', 'reinitialize failed'],
  reload: ['reload scheduled', 'reload failed'],
};
