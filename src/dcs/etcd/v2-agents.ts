/**
 * Live Patroni agents on etcd's **v2** API, for the agent's start-up guard.
 *
 * Patroni nodes configured with `etcd:` use the v2 API, whose keyspace is separate from v3's (reference §1.4).
 * pgha speaks v3 whatever the section is called, so next to live Patroni v2 agents it would see an empty cluster:
 * no `initialize` key, no leader. With a data directory it would then publish its own system identifier and could
 * take a leader key that no Patroni node sees: two primaries. That is the trap of a rolling migration from an
 * `etcd:` cluster (docs/migration.md: move Patroni to `etcd3:` first), so the agent asks before it starts.
 *
 * Only keys with a TTL count (the `leader` key and `members/*`): they vanish `ttl` seconds after their agent stops,
 * so the permanent leftovers of a finished v2 → v3 move (`initialize`, `config`, `history`) do not block anyone.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';

export interface V2ProbeOptions {
  hosts: { host: string; port: number }[];
  protocol: 'http' | 'https';
  /** `/<namespace>/<scope>`, runs of `/` collapsed. */
  prefix: string;
  username?: string;
  password?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  timeoutMs?: number;
}

export interface V2Agents {
  /** The v2 `leader` key's value, when it is set. */
  leader?: string;
  /** Names under `members/`. */
  members: string[];
  /** The endpoint that answered. */
  endpoint: string;
}

interface V2Node {
  key?: string;
  value?: string;
  dir?: boolean;
  nodes?: V2Node[];
}

/**
 * Reads `<prefix>` from the v2 API of the first endpoint that answers. Returns undefined when no endpoint answers
 * at all (the agent's own etcd checks report that), and an empty result when v2 is disabled (etcd 3.4+ default,
 * removed in 3.6) or holds nothing live for this scope.
 */
export async function liveV2Agents(o: V2ProbeOptions): Promise<V2Agents | undefined> {
  for (const h of o.hosts) {
    const endpoint = `${o.protocol}://${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
    const answer = await get(`${endpoint}/v2/keys${encodeURI(o.prefix)}?recursive=true`, o).catch(() => undefined);
    if (!answer) continue;
    const found: V2Agents = { members: [], endpoint };
    if (answer.status !== 200) return found;
    let root: V2Node | undefined;
    try {
      root = (JSON.parse(answer.body) as { node?: V2Node }).node;
    } catch {
      return found;
    }
    for (const child of root?.nodes ?? []) {
      const name = child.key?.slice((root?.key ?? o.prefix).length + 1);
      if (name === 'leader' && child.value) found.leader = child.value;
      if (name === 'members' && child.dir) {
        for (const m of child.nodes ?? []) if (m.key) found.members.push(m.key.slice(m.key.lastIndexOf('/') + 1));
      }
    }
    found.members.sort();
    return found;
  }
  return undefined;
}

function get(url: string, o: V2ProbeOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (o.username !== undefined && o.password !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
    }
    const tls = o.protocol === 'https'
      ? {
        ...(o.cacert ? { ca: readFileSync(o.cacert) } : {}),
        ...(o.cert ? { cert: readFileSync(o.cert) } : {}),
        ...(o.key ? { key: readFileSync(o.key) } : {}),
      }
      : {};
    const req = (o.protocol === 'https' ? httpsRequest : httpRequest)(url, { method: 'GET', headers, timeout: o.timeoutMs ?? 3000, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 1_000_000) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** The refusal, in words an operator can act on; undefined when nothing live runs on v2. */
export function v2Refusal(found: V2Agents | undefined, prefix: string): string | undefined {
  if (!found || (!found.leader && found.members.length === 0)) return undefined;
  const who = [found.leader ? `leader key held by ${found.leader}` : '', found.members.length ? `members ${found.members.join(', ')}` : '']
    .filter(Boolean).join('; ');
  return `refusing to start: etcd's v2 API at ${found.endpoint} has live Patroni agents of this cluster under ${prefix} (${who}). ` +
    'Patroni with an etcd: section uses the v2 keyspace, which pgha (etcd v3 only) cannot see: joining would make a second, ' +
    'separate cluster with its own leader. Move the Patroni cluster to an etcd3: section first (all nodes), then replace ' +
    'the nodes one at a time: see docs/migration.md.';
}
