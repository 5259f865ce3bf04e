/**
 * Which Patroni callback a change of the local postgres fires, and with which role: pure, no I/O. Carried over from
 * Patroni 3.0.2 (postgresql/__init__.py call_nowait, start, stop, restart, reload, follow, promote; ha.py demote):
 * - the role passed is Patroni 3.0.2's: `master` for a primary (also while "promoted"), `replica`, `demoted` (a
 *   primary that stopped to step down), as its `state_handler.role` is at that moment;
 * - a start fires `on_start`, or `on_restart` when it ends a restart; but a start as a replica of a former primary
 *   (master or demoted) by a process that has already fired a start/stop/role callback is Patroni's follow() with
 *   change_role: `on_role_change replica` instead (a demotion). A replica started again stays a replica: `on_start`;
 * - a stop fires `on_stop` only when postgres was running, and none inside a restart; a primary is `demoted` after
 *   it (a graceful demotion, which releases the key once the shutdown checkpoint is reached, already before it);
 * - a reload fires `on_reload`, also when it re-points a replica at a new leader (primary_conninfo; Patroni's
 *   follow(do_reload=True)), unless that replica was a primary (master or demoted): then `on_role_change replica`;
 * - a promotion fires `on_role_change master` once `pg_ctl promote` returned.
 */

export type CallbackAction = 'on_start' | 'on_stop' | 'on_restart' | 'on_reload' | 'on_role_change';

export const CALLBACK_ACTIONS: readonly CallbackAction[] = ['on_start', 'on_stop', 'on_restart', 'on_reload', 'on_role_change'];

/** Patroni 3.0.2's role names as passed to callbacks. */
export type CallbackRole = 'master' | 'replica' | 'demoted' | 'uninitialized';

/** What the executor is about to do, told before its stop/start/reload (these set what the next change fires). */
export type CallbackIntent = 'restart' | 'graceful_demote' | 'follow';

export type PostgresChange =
  | { kind: 'intent'; intent: CallbackIntent }
  | { kind: 'started'; role: 'master' | 'replica' }
  | { kind: 'stopped'; wasRunning: boolean }
  | { kind: 'reloaded' }
  | { kind: 'promoted' };

export interface CallbackState {
  role: CallbackRole;
  /** Patroni's cb_called: a start, stop, restart or role change callback was fired by this process. */
  cbCalled: boolean;
  intent?: CallbackIntent;
}

export interface CallbackCall {
  action: CallbackAction;
  role: CallbackRole;
}

export interface CallbackStep {
  call?: CallbackCall;
  state: CallbackState;
}

export const INITIAL_CALLBACK_STATE: CallbackState = { role: 'uninitialized', cbCalled: false };

export function callbackFor(state: CallbackState, change: PostgresChange): CallbackStep {
  const { intent: _intent, ...rest } = state;
  switch (change.kind) {
    case 'intent':
      return { state: { ...state, intent: change.intent } };
    case 'started': {
      const role = change.role;
      if (state.intent === 'restart') return fired({ ...rest, role }, 'on_restart');
      return fired({ ...rest, role }, changesRole(state, role) ? 'on_role_change' : 'on_start');
    }
    case 'stopped': {
      if (state.intent === 'restart') return { state };
      if (!change.wasRunning) return { state: rest };
      const before: CallbackRole = state.intent === 'graceful_demote' && state.role === 'master' ? 'demoted' : state.role;
      const after: CallbackRole = before === 'master' ? 'demoted' : before;
      return { call: { action: 'on_stop', role: before }, state: { ...rest, role: after, cbCalled: true } };
    }
    case 'reloaded':
      if (state.intent === 'follow' && changesRole(state, 'replica')) return fired({ ...rest, role: 'replica' }, 'on_role_change');
      return { call: { action: 'on_reload', role: state.role }, state: rest };
    case 'promoted':
      return fired({ ...rest, role: 'master' }, 'on_role_change');
  }
}

/**
 * Patroni's follow(): change_role = cb_called and (role in (master, primary, demoted) or a move between replica and
 * standby_leader). pgha runs no standby cluster, so only a former primary changes role by following.
 */
function changesRole(state: CallbackState, next: 'master' | 'replica'): boolean {
  if (next !== 'replica' || !state.cbCalled) return false;
  return state.role === 'master' || state.role === 'demoted';
}

function fired(state: CallbackState, action: CallbackAction): CallbackStep {
  return { call: { action, role: state.role }, state: { ...state, cbCalled: true } };
}
