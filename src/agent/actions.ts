/**
 * What decide() can ask for. Executors run them in order; a failing action stops the rest of the list.
 * Long actions (marked) run as one single-flight task while the loop keeps ticking.
 */
export type Action =
  | { type: 'bootstrap' } // long: race `initialize`, initdb, start, create roles, publish initialize/config/leader
  | { type: 'create_replica'; source?: string } // long: replica methods (pg_basebackup) from member `source` (none: no_leader methods), then start as replica
  | { type: 'start_primary' } // long: start postgres without standby.signal (we hold the lock)
  | { type: 'start_replica'; leader?: string } // long: start postgres as a replica of `leader` (none: no upstream)
  | { type: 'acquire_leader' } // create-if-absent of the leader key on our lease; losing stops the list
  | { type: 'reattach_leader' } // the key names us on another lease: move it to ours if its value is still us; losing stops the list
  | { type: 'claim_sync'; guc: string; keyModRevision?: number } // before promoting in sync mode: sync = {leader: me, sync_standby: null} (CAS), then the GUC; losing stops the list
  | { type: 'promote'; reason: string } // long: pg_ctl promote, history key, checkpoint
  | { type: 'demote'; mode: 'offline' | 'immediate-nolock' | 'graceful'; leader?: string } // long: stop, restart as replica
  | { type: 'release_leader' }
  | { type: 'follow'; leader: string } // rewrite primary_conninfo/slot if it points elsewhere, reload
  | { type: 'rewind'; leader: string } // long: stop, pg_rewind from `leader` (or re-clone), start as its replica
  | { type: 'write_initialize'; systemId: string }
  | { type: 'write_config' }
  | { type: 'write_failsafe'; members: Record<string, string> } // leader, failsafe_mode: the /failsafe key (name → api_url)
  | { type: 'publish_status' } // leader: status key (optime, slots) and slots on the primary
  | { type: 'sync'; guc: string | undefined; standbys: string[]; keyModRevision?: number; off?: boolean } // leader: synchronous_standby_names + sync key
  | { type: 'clear_failover'; modRevision: number } // reset the failover key to {} (CAS on its version)
  | { type: 'restart'; leader?: string } // long, operator request: stop fast, start again in the same role
  | { type: 'reinitialize'; source: string } // long, operator request: stop, wipe, basebackup from source, start
  | { type: 'reload' } // operator request: rewrite postgres' config files and pg_ctl reload
  | { type: 'refuse_request'; message: string } // settle the waiting operator request as refused
  | { type: 'exit'; code: number; message: string; why: 'system_id_mismatch' };

export type ActionType = Action['type'];

export const LONG_ACTIONS: ReadonlySet<ActionType> = new Set([
  'bootstrap', 'create_replica', 'start_primary', 'start_replica', 'promote', 'demote', 'rewind', 'restart', 'reinitialize',
]);

/** Actions that carry out the waiting operator request (the runner takes it from the queue and settles it). */
export const REQUEST_ACTIONS: ReadonlySet<ActionType> = new Set(['restart', 'reinitialize', 'reload', 'refuse_request']);
