/**
 * The start-up guard against live Patroni agents on etcd's v2 API (src/dcs/etcd/v2-agents.ts), against a fake v2
 * endpoint answering as etcd 3.4 does: with v2 on (a cluster, an empty scope), with v2 off, and not at all.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { liveV2Agents, v2Refusal } from '../../../src/dcs/etcd/v2-agents';

/** What etcd 3.4 answers to GET /v2/keys/service/<scope>?recursive=true, by scope. */
const ANSWERS: Record<string, { status: number; body: string }> = {
  '/v2/keys/service/live?recursive=true': {
    status: 200,
    body: JSON.stringify({
      action: 'get',
      node: {
        key: '/service/live', dir: true, nodes: [
          { key: '/service/live/initialize', value: '7268616322854375442' },
          { key: '/service/live/leader', value: 'node1', ttl: 28 },
          { key: '/service/live/members', dir: true, nodes: [
            { key: '/service/live/members/node2', value: '{}', ttl: 29 },
            { key: '/service/live/members/node1', value: '{}', ttl: 28 },
          ] },
        ],
      },
    }),
  },
  '/v2/keys/service/leftovers?recursive=true': {
    status: 200,
    body: JSON.stringify({ action: 'get', node: { key: '/service/leftovers', dir: true, nodes: [
      { key: '/service/leftovers/initialize', value: '7268616322854375442' },
      { key: '/service/leftovers/config', value: '{}' },
    ] } }),
  },
  '/v2/keys/service/absent?recursive=true': {
    status: 404,
    body: JSON.stringify({ errorCode: 100, message: 'Key not found', cause: '/service/absent', index: 7 }),
  },
};

describe('live Patroni agents on etcd v2', () => {
  let v2on: Server;
  let v2off: Server;
  const port = (s: Server) => (s.address() as AddressInfo).port;
  const seen: string[] = [];

  before(async () => {
    v2on = createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization ?? ''}`);
      const a = ANSWERS[req.url ?? ''] ?? { status: 404, body: '{"errorCode":100}' };
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
    });
    v2off = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n'));
    await Promise.all([v2on, v2off].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  });
  after(() => {
    v2on.close();
    v2off.close();
  });

  const probe = (prefix: string, ...servers: (Server | number)[]) => liveV2Agents({
    hosts: servers.map((s) => ({ host: '127.0.0.1', port: typeof s === 'number' ? s : port(s) })),
    protocol: 'http', prefix, username: 'root', password: 'pw', timeoutMs: 1000,
  });

  it('finds the leader and members of a scope with live v2 agents, and refuses with the way out', async () => {
    const found = await probe('/service/live', v2on);
    assert.deepEqual(found, { leader: 'node1', members: ['node1', 'node2'], endpoint: `http://127.0.0.1:${port(v2on)}` });
    assert.match(seen.at(-1)!, /^\/v2\/keys\/service\/live\?recursive=true Basic /);
    const refusal = v2Refusal(found, '/service/live');
    assert.match(refusal!, /leader key held by node1; members node1, node2/);
    assert.match(refusal!, /etcd3: section first.*docs\/migration\.md/);
  });

  it('lets the agent start over permanent leftovers, an absent scope, a disabled v2 API, or no answer', async () => {
    const closed = await new Promise<number>((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = port(s);
        s.close(() => r(p));
      });
    });
    for (const [prefix, servers] of [
      ['/service/leftovers', [v2on]], ['/service/absent', [v2on]], ['/service/live', [v2off]], ['/service/live', [closed]],
    ] as const) {
      const found = await probe(prefix, ...servers);
      assert.equal(v2Refusal(found, prefix), undefined, `${prefix} on ${JSON.stringify(found)}`);
    }
    assert.equal(await probe('/service/live', closed), undefined);
  });

  it('asks the next endpoint when one does not answer', async () => {
    const closed = await new Promise<number>((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = port(s);
        s.close(() => r(p));
      });
    });
    const found = await probe('/service/live', closed, v2on);
    assert.equal(found?.leader, 'node1');
  });
});
