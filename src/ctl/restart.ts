/**
 * `pgha ctl restart`, `reload`, `reinit` and `flush` (patronictl 3.0.2): choose the members, then call each one's
 * REST API (`POST /restart`, `POST /reload`, `POST /reinitialize`, `DELETE /restart`) and print patronictl's
 * `Success:` / `Failed:` lines. The exit code is 1 when any member failed (patronictl exits 0 regardless).
 */
import { isClusterPaused } from '../api/cluster-doc';
import type { Member } from '../model/member';
import type { MemberRole } from './args';
import { apiUrlOf, chooseMembers, confirmMembersAction } from './members';
import { CtlError, readExistingView, timestamp, type CtlSession } from './session';
import { parseScheduled } from './switchover';
import { PROGRESS_POLL_MS, ProgressPrinter, patroniDoc, progressOf, withProgress } from './progress';

export interface RestartOptions {
  members: string[];
  role: MemberRole;
  any: boolean;
  scheduled?: string;
  pgVersion?: string;
  pending: boolean;
  timeout?: string;
  force: boolean;
}

/** Patroni's postgres_version_to_int accepts `X.Y.Z` (before 10) and `X.Y` or `X` (10+). */
export function checkPgVersion(version: string): void {
  const parts = version.split('.');
  const ok = parts.every((p) => /^\d+$/.test(p)) && parts.length >= 1 && parts.length <= 3 && (Number(parts[0]) >= 10 ? parts.length <= 2 : parts.length === 3);
  if (!ok) throw new CtlError(`${version} is not a valid PostgreSQL version: use X.Y for 10 and later (e.g. 15.4), X.Y.Z before (e.g. 9.6.24)`);
}

const RESTART_TIMEOUT_MS = 600_000;

export async function runRestart(s: CtlSession, o: RestartOptions): Promise<number> {
  const { io } = s;
  const view = await readExistingView(s);
  let members = await chooseMembers(s, view, o.members, o.role, o.force, 'restart', false);
  let scheduled = o.scheduled;
  if (scheduled === undefined && !o.force) {
    const nextHour = timestamp(new Date(io.now().getTime() + 3_600_000), 0).slice(0, 16).replace(' ', 'T');
    scheduled = await io.prompter.ask(`When should the restart take place (e.g. ${nextHour}) `, { default: 'now', hint: 'give --scheduled now, or --force' });
  }
  const scheduledAt = parseScheduled(scheduled);
  await confirmMembersAction(s, members, o.force, 'restart', scheduledAt);
  if (o.any) members = [members[Math.floor(Math.random() * members.length)]!];
  let version = o.pgVersion;
  if (version === undefined && !o.force) {
    version = await io.prompter.ask('Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ', { default: '', hint: 'give --pg-version, or --force' });
  }
  const content: Record<string, unknown> = {};
  if (o.pending) content.restart_pending = true;
  if (version) {
    checkPgVersion(version);
    content.postgres_version = version;
  }
  if (scheduledAt) {
    if (isClusterPaused(view)) throw new CtlError("Can't schedule restart in the paused state");
    content.schedule = scheduledAt;
  }
  if (o.timeout !== undefined) content.timeout = o.timeout;
  let failed = 0;
  for (const member of members) {
    try {
      const url = apiUrlOf(member);
      if (content.schedule && o.force && member.doc.scheduled_restart) {
        const d = await s.rest.request(url, 'DELETE', 'restart');
        if (d.status >= 400) io.out(`Failed: flush scheduled restart for member ${member.name}, status code=${d.status}, (${d.body})`);
      }
      const post = s.rest.request(url, 'POST', 'restart', content, RESTART_TIMEOUT_MS);
      const r = content.schedule ? await post : await withProgress(s, member.name, url, post);
      if (r.status === 200) io.out(`Success: restart on member ${member.name}`);
      else if (r.status === 202) io.out(`Success: restart scheduled on member ${member.name}`);
      else {
        failed++;
        if (r.status === 409) io.out(`Failed: another restart is already scheduled on member ${member.name}`);
        else io.out(`Failed: restart for member ${member.name}, status code=${r.status}, (${r.body})`);
      }
    } catch (err) {
      failed++;
      io.out(`Failed: restart for member ${member.name}, ${(err as Error).message}`);
    }
  }
  return failed ? 1 : 0;
}

export async function runReload(s: CtlSession, o: { members: string[]; role: MemberRole; force: boolean }): Promise<number> {
  const view = await readExistingView(s);
  const members = await chooseMembers(s, view, o.members, o.role, o.force, 'reload');
  const loopWait = view.config?.value.loop_wait;
  let failed = 0;
  for (const member of members) {
    try {
      const r = await s.rest.request(apiUrlOf(member), 'POST', 'reload');
      if (r.status === 200) s.io.out(`No changes to apply on member ${member.name}`);
      else if (r.status === 202) {
        s.io.out(`Reload request received for member ${member.name} and will be processed within ${loopWait === undefined ? 'None' : String(loopWait)} seconds`);
      } else {
        failed++;
        s.io.out(`Failed: reload for member ${member.name}, status code=${r.status}, (${r.body})`);
      }
    } catch (err) {
      failed++;
      s.io.out(`Failed: reload for member ${member.name}, ${(err as Error).message}`);
    }
  }
  return failed ? 1 : 0;
}

/** States a member passes through while it is reinitialized; any other state after `creating replica` is a failure. */
const REINIT_PASSING = new Set(['creating replica', 'stopping', 'starting', 'restarting', 'running']);

export async function runReinit(s: CtlSession, o: { members: string[]; force: boolean; wait: boolean }): Promise<number> {
  const { io } = s;
  const view = await readExistingView(s);
  const members = await chooseMembers(s, view, o.members, 'replica', o.force, 'reinitialize');
  const waitOn: { member: Member; startedAt: unknown; sawCreating: boolean }[] = [];
  let failed = 0;
  for (const member of members) {
    const url = apiUrlOf(member);
    const startedAt = o.wait ? (await patroniDoc(s, url))?.postmaster_start_time : undefined;
    const body = { force: o.force };
    for (;;) {
      let r;
      try {
        r = await s.rest.request(url, 'POST', 'reinitialize', body);
      } catch (err) {
        failed++;
        io.out(`Failed: reinitialize for member ${member.name}, ${(err as Error).message}`);
        break;
      }
      if (r.status < 400) {
        io.out(`Success: reinitialize for member ${member.name}`);
        if (o.wait) waitOn.push({ member, startedAt, sawCreating: false });
        break;
      }
      io.out(`Failed: reinitialize for member ${member.name}, status code=${r.status}, (${r.body})`);
      if (r.body.endsWith(' already in progress') && !body.force && io.prompter.interactive &&
        (await io.prompter.confirm('Do you want to cancel it and reinitialize anyway?'))) {
        body.force = true;
        continue;
      }
      failed++;
      break;
    }
  }
  if (waitOn.length) io.out(`Waiting for reinitialize to complete on: ${waitOn.map((w) => w.member.name).join(', ')}`);
  const printer = new ProgressPrinter(io);
  while (waitOn.length) {
    await io.sleep(PROGRESS_POLL_MS);
    for (const w of [...waitOn]) {
      const doc = await patroniDoc(s, apiUrlOf(w.member));
      if (!doc) continue; // the API is busy or restarting: ask again
      const state = String(doc.state ?? '');
      if (state === 'creating replica') w.sawCreating = true;
      // Done once postgres runs again after the rebuild (patronictl only waits for "creating replica" to end,
      // which can come before the reinitialize has even started).
      const done = state === 'running' && (w.sawCreating || doc.postmaster_start_time !== w.startedAt);
      const failedNow = w.sawCreating && !REINIT_PASSING.has(state);
      printer.show(w.member.name, done || failedNow ? undefined : progressOf(doc));
      if (!done && !failedNow) continue;
      printer.done();
      if (failedNow) {
        failed++;
        io.out(`Reinitialize failed on: ${w.member.name} (state: ${state})`);
      } else {
        io.out(`Reinitialize is completed on: ${w.member.name}`);
      }
      waitOn.splice(waitOn.indexOf(w), 1);
    }
  }
  return failed ? 1 : 0;
}

/** `flush CLUSTER [MEMBER...] restart|switchover`: discard scheduled restarts, or the scheduled switchover. */
export async function runFlush(s: CtlSession, o: { members: string[]; target: string; role: MemberRole; force: boolean }): Promise<number> {
  const view = await readExistingView(s);
  if (o.target === 'restart') {
    let failed = 0;
    for (const member of await chooseMembers(s, view, o.members, o.role, o.force, 'flush')) {
      if (!member.doc.scheduled_restart) {
        s.io.out(`No scheduled restart for member ${member.name}`);
        continue;
      }
      const r = await s.rest.request(apiUrlOf(member), 'DELETE', 'restart');
      if (r.status >= 400) {
        failed++;
        s.io.out(`Failed: flush scheduled restart for member ${member.name}, status code=${r.status}, (${r.body})`);
      } else s.io.out(`Success: flush scheduled restart for member ${member.name}`);
    }
    return failed ? 1 : 0;
  }
  if (o.target !== 'switchover') throw new CtlError(`flush: expected restart or switchover, got ${o.target}`);
  if (!view.failover?.scheduledAt) {
    s.io.out('No pending scheduled switchover');
    return 0;
  }
  const ordered = [...view.members.values()].filter((m) => m.doc.api_url).sort((a, b) => Number(b.name === view.leader?.name) - Number(a.name === view.leader?.name));
  for (const member of ordered) {
    try {
      const r = await s.rest.request(apiUrlOf(member), 'DELETE', 'switchover');
      if (r.status === 200 || r.status === 404) {
        s.io.out(`${r.status === 200 ? 'Success' : 'Failed'}: ${r.body}`);
        return r.status === 200 ? 0 : 1;
      }
      s.io.out(`Failed: member=${member.name}, status_code=${r.status}, (${r.body})`);
    } catch (err) {
      s.io.warn(`Member ${member.name} is not accessible: ${(err as Error).message}`);
    }
  }
  s.io.out(`${timestamp(s.io.now())} Could not find any accessible member of cluster ${s.scope}`);
  await s.store.putIfModRevision(s.keys.failover, '{}', view.failover.modRevision);
  return 0;
}
