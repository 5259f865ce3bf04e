/**
 * `pgha ctl pause` / `resume` (patronictl's toggle_pause): `PATCH /config {"pause": true}` (or `null`) to the
 * first member whose API answers, leader first. `--wait` polls the member keys until every member that was
 * there shows the new `pause` flag, for up to loop_wait + 1 seconds.
 */
import { isClusterPaused } from '../api/cluster-doc';
import type { ClusterView } from '../model/cluster';
import type { Member } from '../model/member';
import { CtlError, readExistingView, readView, type CtlSession } from './session';

export function membersLeaderFirst(view: ClusterView): Member[] {
  const leader = view.leader ? view.members.get(view.leader.name) : undefined;
  const out: Member[] = [];
  if (leader?.doc.api_url) out.push(leader);
  for (const m of [...view.members.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (m.doc.api_url && m !== leader) out.push(m);
  }
  return out;
}

export async function togglePause(s: CtlSession, paused: boolean, wait: boolean): Promise<number> {
  const { io } = s;
  const view = await readExistingView(s);
  if (isClusterPaused(view) === paused) throw new CtlError(`Cluster is ${paused ? 'already' : 'not'} paused`);
  const word = paused ? 'pause' : 'resume';
  for (const member of membersLeaderFirst(view)) {
    let r;
    try {
      r = await s.rest.request(member.doc.api_url!, 'PATCH', 'config', { pause: paused ? true : null });
    } catch (err) {
      io.warn(`Member ${member.name} is not accessible: ${(err as Error).message}`);
      continue;
    }
    if (r.status !== 200) {
      io.out(`Failed: ${word} cluster management status code=${r.status}, (${r.body})`);
      return 1;
    }
    if (wait) return waitUntilPauseApplied(s, paused, view);
    io.out(`Success: cluster management is ${paused ? 'paused' : 'resumed'}`);
    return 0;
  }
  throw new CtlError('Can not find accessible cluster member');
}

async function waitUntilPauseApplied(s: CtlSession, paused: boolean, old: ClusterView): Promise<number> {
  const { io } = s;
  io.out(`'${paused ? 'pause' : 'resume'}' request sent, waiting until it is recognized by all nodes`);
  const names = new Set([...old.members.values()].filter((m) => m.doc.api_url).map((m) => m.name));
  const lw = Number(old.config?.value.loop_wait);
  const loopWait = Number.isFinite(lw) && lw > 0 ? lw : 10;
  const deadline = io.now().getTime() + (loopWait + 1) * 1000;
  let remaining: string[] = [];
  for (;;) {
    const view = await readView(s);
    remaining = [...view.members.values()].filter((m) => names.has(m.name) && (m.doc.pause === true) !== paused).map((m) => m.name);
    if (!remaining.length) break;
    if (io.now().getTime() >= deadline) {
      io.out(`${remaining.join(', ')} members didn't recognized pause state after ${loopWait} seconds`);
      return 1;
    }
    await io.sleep(1000);
  }
  io.out(`Success: cluster management is ${paused ? 'paused' : 'resumed'}`);
  return 0;
}
