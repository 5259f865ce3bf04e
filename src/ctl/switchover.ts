/**
 * `pgha ctl switchover` and `failover` (reference §7, patronictl's _do_failover_or_switchover): print the
 * topology, check the request against the cluster, confirm, POST /switchover (or /failover) to the leader's API
 * (the candidate's when there is no leader), print the answer and the topology again. When the API cannot be
 * reached, the `failover` key is written directly, as patronictl falls back to the DCS.
 *
 * Beyond patronictl's checks, a candidate tagged `nofailover`, or (for a switchover) one lagging more than
 * `maximum_lag_on_failover`, is refused here with the reason, before anything is asked of the cluster.
 */
import type { ClusterView } from '../model/cluster';
import { memberTag } from '../model/member';
import { isClusterPaused } from '../api/cluster-doc';
import { DYNAMIC_DEFAULTS } from '../config/dynamic';
import { renderList } from './list';
import { CtlError, readExistingView, timestamp, type CtlSession } from './session';

export type FailoverAction = 'switchover' | 'failover';

export interface FailoverOptions {
  leader?: string;
  candidate?: string;
  scheduled?: string;
  force: boolean;
}

const title = (a: FailoverAction) => (a === 'switchover' ? 'Switchover' : 'Failover');
const MB = 1024 * 1024;

/** Members that may take over from `leader`, sorted (patronictl's candidate_names): not the leader, no nofailover. */
export function candidateNames(view: ClusterView, leader: string | undefined): string[] {
  return [...view.members.values()]
    .filter((m) => m.name !== leader && !memberTag(m.doc, 'nofailover'))
    .map((m) => m.name)
    .sort();
}

/** `maximum_lag_on_failover` from the config key (Patroni's default without one). */
export function maximumLagOnFailover(view: ClusterView): number {
  const v = view.config?.valid ? view.config.value.maximum_lag_on_failover : undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : DYNAMIC_DEFAULTS.maximum_lag_on_failover;
}

/**
 * Why `candidate` cannot take over (undefined: it can), in patronictl's words where it has them. Pure: tests
 * build views and assert the sentences.
 */
export function candidateRefusal(view: ClusterView, scope: string, action: FailoverAction, leader: string | undefined, candidate: string): string | undefined {
  if (candidate === leader) return `${title(action)} target and source are the same.`;
  const member = view.members.get(candidate);
  if (!member) {
    const names = [...view.members.keys()].sort().join(', ');
    return `Member ${candidate} does not exist in cluster ${scope}${names ? ` (members: ${names})` : ''}`;
  }
  if (memberTag(member.doc, 'nofailover')) return `Member ${candidate} is tagged nofailover: it cannot become the leader`;
  if (action === 'switchover' && view.optime !== undefined) {
    const lsn = member.doc.xlog_location;
    const max = maximumLagOnFailover(view);
    if (typeof lsn !== 'number') return `Member ${candidate} has not reported a WAL position: its lag is unknown`;
    const lag = Math.max(0, view.optime - lsn);
    if (lag > max) {
      return `Member ${candidate} lags the leader by ${lag} bytes (${(lag / MB).toFixed(1)} MB), more than maximum_lag_on_failover (${max} bytes); wait for it to catch up, or use failover`;
    }
  }
  return undefined;
}

/** Local-time ISO with offset (Python's isoformat of an aware datetime), e.g. 2026-11-28T15:00:00+01:00. */
export function isoWithOffset(date: Date, offsetMinutes: number): string {
  const shifted = new Date(date.getTime() + offsetMinutes * 60_000);
  const p = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');
  const ms = shifted.getUTCMilliseconds();
  const sign = offsetMinutes < 0 ? '-' : '+';
  return `${shifted.getUTCFullYear()}-${p(shifted.getUTCMonth() + 1)}-${p(shifted.getUTCDate())}T${p(shifted.getUTCHours())}:` +
    `${p(shifted.getUTCMinutes())}:${p(shifted.getUTCSeconds())}${ms ? `.${p(ms, 3)}000` : ''}` +
    `${sign}${p(Math.trunc(Math.abs(offsetMinutes) / 60))}:${p(Math.abs(offsetMinutes) % 60)}`;
}

/**
 * patronictl's parse_scheduled: `now` (or nothing) → undefined; an ISO 8601 date-time, local time when it has no
 * zone → isoformat with the offset.
 */
export function parseScheduled(text: string | undefined): string | undefined {
  if (text === undefined || text === '' || text === 'now') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(text.trim());
  const bad = () => new CtlError(`Unable to parse scheduled timestamp (${text}). It should be in an unambiguous format (e.g. ISO 8601)`);
  if (!m) throw bad();
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '0', tz] = m;
  const ms = Math.trunc(Number(`0.${frac}`) * 1000);
  let date: Date;
  let offset: number;
  if (tz) {
    offset = tz.toUpperCase() === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(-2)));
    date = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +sec, ms) - offset * 60_000);
  } else {
    date = new Date(+y!, +mo! - 1, +d!, +h, +mi, +sec, ms);
    offset = -date.getTimezoneOffset();
  }
  if (Number.isNaN(date.getTime()) || +mo! > 12 || +d! > 31 || +h > 23 || +mi > 59 || +sec > 59) throw bad();
  return isoWithOffset(date, offset);
}

export async function runFailover(s: CtlSession, requested: FailoverAction, o: FailoverOptions): Promise<number> {
  const { io, scope } = s;
  // patronictl: a failover that names the leader is a switchover
  const action: FailoverAction = requested === 'failover' && o.leader ? 'switchover' : requested;
  let view = await readExistingView(s);
  io.out('Current cluster topology');
  io.write(renderList(view, scope, { format: 'pretty' }));
  if (action === 'switchover' && !view.leader) {
    throw new CtlError(`This cluster has no leader: a switchover needs one; use pgha ctl failover --candidate NAME`);
  }
  let leader = o.leader;
  if (leader === undefined) {
    leader = o.force || action === 'failover'
      ? view.leader?.name
      : await io.prompter.ask('Primary', { default: view.leader!.name, hint: 'give --leader, or --force' });
  }
  if (leader !== undefined && view.leader && view.leader.name !== leader) {
    throw new CtlError(`Member ${leader} is not the leader of cluster ${scope}`);
  }
  const names = candidateNames(view, leader);
  let candidate = o.candidate;
  if (candidate !== undefined) {
    const refusal = candidateRefusal(view, scope, action, leader, candidate);
    if (refusal) throw new CtlError(refusal);
  }
  if (!names.length) throw new CtlError(`No candidates found to ${action} to`);
  if (candidate === undefined && !o.force) {
    candidate = await io.prompter.ask(`Candidate ${pyList(names)}`, { default: '', hint: 'give --candidate, or --force' });
    if (candidate === '') candidate = undefined;
    if (candidate !== undefined) {
      const refusal = candidateRefusal(view, scope, action, leader, candidate);
      if (refusal) throw new CtlError(refusal);
    }
  }
  if (action === 'failover' && !candidate) throw new CtlError('Failover could be performed only to a specific candidate');

  let scheduledAt: string | undefined;
  if (action === 'switchover') {
    let scheduled = o.scheduled;
    if (scheduled === undefined && !o.force) {
      const nextHour = new Date(io.now().getTime() + 3_600_000);
      const example = `${timestamp(nextHour, 0).slice(0, 16).replace(' ', 'T')}`;
      scheduled = await io.prompter.ask(`When should the switchover take place (e.g. ${example} ) `, { default: 'now', hint: 'give --scheduled, or --force' });
    }
    scheduledAt = parseScheduled(scheduled);
    if (scheduledAt && isClusterPaused(view)) throw new CtlError("Can't schedule switchover in the paused state");
  }
  if (!o.force) {
    const demote = leader ? `, demoting current leader ${leader}` : '';
    const question = scheduledAt
      ? `Are you sure you want to schedule ${action} of cluster ${scope} at ${scheduledAt}${demote}?`
      : `Are you sure you want to ${action} cluster ${scope}${demote}?`;
    if (!(await io.prompter.confirm(question))) throw new CtlError(`Aborting ${scheduledAt ? 'scheduled ' : ''}${action}`);
  }

  const body = { leader: leader ?? null, candidate: candidate ?? null, scheduled_at: scheduledAt ?? null };
  const target = view.leader ? view.members.get(view.leader.name) : candidate ? view.members.get(candidate) : undefined;
  try {
    const apiUrl = target?.doc.api_url;
    if (!apiUrl) throw new Error(`member ${target?.name ?? leader ?? candidate ?? '?'} has no api_url`);
    // The API waits for the outcome (up to 2*max(10, loop_wait) s in Patroni): allow for it.
    const r = await s.rest.request(apiUrl, 'POST', action, body, 180_000);
    if (r.status === 200 || r.status === 202) {
      io.out(`${timestamp(io.now())} ${r.body}`);
      view = await readExistingView(s);
    } else {
      io.out(`${title(action)} failed, details: ${r.status}, ${r.body}`);
      return 1;
    }
  } catch (err) {
    io.warn(`${(err as Error).message}`);
    io.out(`${timestamp(io.now())} Could not ${action} using Patroni api, falling back to DCS`);
    const value: Record<string, string> = {};
    if (leader) value.leader = leader;
    if (candidate) value.member = candidate;
    if (scheduledAt) value.scheduled_at = scheduledAt;
    await s.store.put(s.keys.failover, JSON.stringify(value));
  }
  io.write(renderList(view, scope, { format: 'pretty' }));
  return 0;
}

/** Python's str() of a list of names: ['a', 'b']. */
function pyList(names: readonly string[]): string {
  return `[${names.map((n) => `'${n}'`).join(', ')}]`;
}
