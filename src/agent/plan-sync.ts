/**
 * The order of a synchronous-replication change (pure; reference §7.4): a standby leaves the `sync` key before it
 * leaves synchronous_standby_names, and enters the key only after postgres lists it (decide publishes only standbys
 * postgres reports synchronous). So the key never names a standby postgres does not wait for: a failover to a member
 * the key names never loses an acknowledged commit.
 */
import type { SyncState } from '../model/cluster';

export type SyncStep =
  /** Write the `sync` key: created when `modRevision` is undefined, else compare-and-set on it. */
  | { type: 'write_key'; value: string; modRevision: number | undefined }
  | { type: 'delete_key'; modRevision: number }
  | { type: 'set_guc'; value: string | undefined };

export interface SyncChange {
  off?: boolean | undefined;
  standbys: readonly string[];
  guc: string | undefined;
  keyModRevision?: number | undefined;
}

/** The steps, in order, that bring the `sync` key and synchronous_standby_names to `change`; `me` is this leader. */
export function planSync(change: SyncChange, current: SyncState | undefined, me: string): SyncStep[] {
  if (change.off) {
    return [
      ...(change.keyModRevision !== undefined ? [{ type: 'delete_key' as const, modRevision: change.keyModRevision }] : []),
      { type: 'set_guc', value: undefined },
    ];
  }
  const old = current?.leader === me ? current.syncStandby : [];
  const next = [...change.standbys].sort();
  const keyChanged = current?.leader !== me || old.slice().sort().join(',') !== next.join(',');
  const guc: SyncStep = { type: 'set_guc', value: change.guc };
  if (!keyChanged) return [guc];
  const key: SyncStep = {
    type: 'write_key', value: JSON.stringify({ leader: me, sync_standby: next.length ? next.join(',') : null }), modRevision: change.keyModRevision,
  };
  const removed = old.some((n) => !next.includes(n));
  return removed ? [key, guc] : [guc, key];
}
