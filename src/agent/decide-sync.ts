/**
 * Synchronous mode (reference §7.4), as pure helpers of decide(): which standbys the leader makes synchronous, the
 * `synchronous_standby_names` value that says so, and who may take the leader key when sync mode is on.
 */
import type { ClusterView } from '../model/cluster';
import { memberTag } from '../model/member';
import type { Action } from './actions';
import type { Observation } from './observation';

/** Strict mode with no eligible standby: a name no standby has, so commits wait (Patroni ≤ 4.1.4 uses `*`). */
export const STRICT_PLACEHOLDER = '*';

/** quote_ident: bare when the name is a plain lower-case identifier, else double-quoted. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The GUC for a set of standbys: `a` for one, `N (a,b)` for several (names sorted, no FIRST keyword). */
export function syncStandbyNames(names: readonly string[], count: number): string {
  const sorted = [...names].sort();
  if (sorted.length === 0) return '';
  if (sorted.length === 1 && sorted[0] !== STRICT_PLACEHOLDER) return quoteIdent(sorted[0]!);
  if (sorted.length === 1) return STRICT_PLACEHOLDER;
  return `${Math.min(count, sorted.length)} (${sorted.map(quoteIdent).join(',')})`;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * The leader's sync action for this cycle: which standbys to make synchronous (GUC) and which of them to publish
 * in the `sync` key (only those postgres already reports as `sync`: adding sets the GUC first, the key after).
 */
export function leaderSyncAction(obs: Observation, view: ClusterView): Action | undefined {
  const current = view.sync?.leader && same(view.sync.leader, obs.name) ? view.sync.syncStandby : [];
  if (!obs.dynamic.synchronousMode) {
    return view.sync?.leader ? { type: 'sync', guc: undefined, standbys: [], keyModRevision: view.sync.modRevision, off: true } : undefined;
  }
  const rows = obs.postgres.probe.replication ?? [];
  const eligible = rows.filter((r) => {
    const m = view.members.get(r.application_name);
    return r.state === 'streaming' && m && m.name !== obs.name && !memberTag(m.doc, 'nosync') && m.doc.state === 'running';
  });
  const inKey = (n: string) => current.some((c) => same(c, n));
  const isSync = (r: (typeof rows)[number]) => r.sync_state === 'sync' || r.sync_state === 'quorum';
  // Patroni's ranking: the published standbys, then those postgres has synchronous now, then the most advanced. A
  // standby back from a crash (streaming again, as advanced) must not take the role from the one that replaced it:
  // commits would wait until its walsender counts it as synchronous (scenario kill-postgres-sync-standby: 10.5 s).
  eligible.sort((a, b) =>
    Number(inKey(b.application_name)) - Number(inKey(a.application_name)) || Number(isSync(b)) - Number(isSync(a)) || (b.flushLsn ?? 0) - (a.flushLsn ?? 0));
  const count = Math.max(1, obs.dynamic.synchronousNodeCount);
  const picks = eligible.slice(0, count).map((r) => r.application_name);
  const confirmed = picks.filter((n) => rows.some((r) => r.application_name === n && isSync(r)));
  let guc = syncStandbyNames(picks, count);
  if (!picks.length && obs.dynamic.synchronousModeStrict) guc = current.length ? syncStandbyNames(current, count) : STRICT_PLACEHOLDER;
  // Strict mode keeps the published standbys in the key while none is available: only they may be promoted.
  const standbys = !picks.length && obs.dynamic.synchronousModeStrict ? current : confirmed;
  return { type: 'sync', guc, standbys, ...(view.sync ? { keyModRevision: view.sync.modRevision } : {}) };
}

/** In sync mode only the synchronous standbys (and the leader they were synchronous with) may take the key. */
export function whyNotSyncCandidate(obs: Observation, view: ClusterView, name = obs.name): string | undefined {
  if (!obs.dynamic.synchronousMode || !view.sync?.leader) return undefined;
  if (same(view.sync.leader, name) || view.sync.syncStandby.some((s) => same(s, name))) return undefined;
  return `${name === obs.name ? 'I am' : `${name} is`} not a synchronous standby (sync: ${view.sync.syncStandby.join(',') || 'none'})`;
}

/**
 * Patroni's enforce_primary_role: before promoting in synchronous mode, make myself the sync key's leader with no
 * synchronous standby (CAS on the key's version: a lost CAS postpones the promotion) and, in strict mode, set
 * `synchronous_standby_names` to `*` so no commit is acknowledged before a standby confirms it. Until the first
 * sync cycle names a standby, only I am a legal candidate, so nothing I acknowledge can be lost by a failover.
 */
export function promotionSyncActions(obs: Observation, view: ClusterView): Action[] {
  if (!obs.dynamic.synchronousMode) return [];
  return [{
    type: 'claim_sync',
    guc: obs.dynamic.synchronousModeStrict ? STRICT_PLACEHOLDER : '',
    ...(view.sync ? { keyModRevision: view.sync.modRevision } : {}),
  }];
}
