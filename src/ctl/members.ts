/**
 * Choosing the members a verb acts on (patronictl's get_all_members / get_members): by role, then by the names
 * given, with a confirmation. Names that are not members are refused with the cluster's member list.
 */
import type { ClusterView } from '../model/cluster';
import { isPrimaryRole, type Member } from '../model/member';
import type { MemberRole } from './args';
import { renderList } from './list';
import { CtlError, type CtlSession } from './session';

/** The members of `role` (leader roles: the leader key's holder, if its member key exists). Pure. */
export function membersWithRole(view: ClusterView, role: MemberRole): Member[] {
  const leaderName = view.leader?.name;
  if (role === 'leader' || isPrimaryRole(role) || role === 'standby-leader') {
    const leader = leaderName ? view.members.get(leaderName) : undefined;
    if (!leader) return [];
    const r = leader.doc.role;
    if (role === 'leader') return [leader];
    if (role === 'standby-leader') return !isPrimaryRole(r) ? [leader] : [];
    return r !== 'standby_leader' ? [leader] : [];
  }
  return [...view.members.values()]
    .filter((m) => role === 'any' || m.name !== leaderName)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Which of `role`'s members the named ones are (all of them when none are named, except for reinitialize).
 * Throws for a name that is not a member at all, and when none of the names has the role.
 */
export function selectMembers(view: ClusterView, scope: string, names: readonly string[], role: MemberRole, action: string): Member[] {
  const members = membersWithRole(view, role);
  const all = [...view.members.keys()].sort();
  const strangers = names.filter((n) => !view.members.has(n));
  if (strangers.length) {
    throw new CtlError(`${strangers.join(', ')} ${strangers.length > 1 ? 'are not members' : 'is not a member'} of cluster ${scope}${all.length ? ` (members: ${all.join(', ')})` : ''}`);
  }
  if (names.length) {
    const chosen = members.filter((m) => names.includes(m.name));
    if (!chosen.length) throw new CtlError(`No ${role} among provided members`);
    return chosen;
  }
  return action === 'reinitialize' ? [] : members;
}

/** get_members: prints the topology, selects, asks which member when none was chosen, and confirms. */
export async function chooseMembers(
  s: CtlSession,
  view: ClusterView,
  names: readonly string[],
  role: MemberRole,
  force: boolean,
  action: string,
  askConfirmation = true,
): Promise<Member[]> {
  const candidates = membersWithRole(view, role);
  if (!names.length && !candidates.length) throw new CtlError(`${s.scope} cluster doesn't have any members`);
  s.io.write(renderList(view, s.scope, { format: 'pretty' }));
  let chosen = selectMembers(view, s.scope, names, role, action);
  if (!chosen.length) {
    if (force) throw new CtlError(`name the member to ${action}`);
    const answer = await s.io.prompter.ask(`Which member do you want to ${action} [${candidates.map((m) => m.name).join(', ')}]?`, {
      default: '',
      hint: 'name the member on the command line',
    });
    const member = candidates.find((m) => m.name === answer);
    if (!member) throw new CtlError(`${answer} is not a member of cluster`);
    chosen = [member];
  }
  if (askConfirmation) await confirmMembersAction(s, chosen, force, action);
  return chosen;
}

export async function confirmMembersAction(s: CtlSession, members: readonly Member[], force: boolean, action: string, scheduledAt?: string): Promise<void> {
  if (force) return;
  const names = members.map((m) => m.name).join(', ');
  if (scheduledAt) {
    if (!(await s.io.prompter.confirm(`Are you sure you want to schedule ${action} of members ${names} at ${scheduledAt}?`))) {
      throw new CtlError(`Aborted scheduled ${action}`);
    }
  } else if (!(await s.io.prompter.confirm(`Are you sure you want to ${action} members ${names}?`))) {
    throw new CtlError(`Aborted ${action}`);
  }
}

export function apiUrlOf(member: Member): string {
  const url = member.doc.api_url;
  if (typeof url !== 'string' || !url) throw new CtlError(`member ${member.name} has no api_url in its member key`);
  return url;
}
