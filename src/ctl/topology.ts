/**
 * `pgha ctl topology`: `list` in replication-tree order (patronictl's topology_sort). Replicas hang under the
 * member named by their `replicatefrom` tag (when it is another replica), else under the leader; a member `level`
 * deep is shown as `'  ' * (level - 1) + '+ ' + name`. Without a leader, the replicas are shown one level deep.
 */
import type { ClusterMemberEntry } from '../api/cluster-doc';

const isLeaderRole = (m: ClusterMemberEntry) => m.role.endsWith('leader');

export function topologySort(members: readonly ClusterMemberEntry[]): ClusterMemberEntry[] {
  const leader = members.find(isLeaderRole);
  const replicas = new Set(members.filter((m) => !isLeaderRole(m)).map((m) => m.name));
  const children = new Map<string | undefined, ClusterMemberEntry[]>();
  for (const m of members) {
    if (isLeaderRole(m)) continue;
    const tags = m.tags && typeof m.tags === 'object' ? (m.tags as Record<string, unknown>) : {};
    const from = typeof tags.replicatefrom === 'string' ? tags.replicatefrom : undefined;
    const parent = from && from !== m.name && replicas.has(from) ? from : leader?.name;
    children.set(parent, [...(children.get(parent) ?? []), m]);
  }
  const out: ClusterMemberEntry[] = [];
  const seen = new Set<string>();
  const walk = (level: number, node: ClusterMemberEntry | undefined, key: string | undefined): void => {
    if (node) {
      if (seen.has(node.name)) return; // a replicatefrom cycle: show each member once
      seen.add(node.name);
      out.push(level > 0 ? { ...node, name: `${' '.repeat((level - 1) * 2)}+ ${node.name}` } : node);
    }
    for (const child of children.get(key) ?? []) walk(level + 1, child, child.name);
  };
  walk(0, leader, leader?.name);
  return out;
}
