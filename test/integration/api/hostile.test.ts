/**
 * Hostile input against a real agent (`pgha agent`, its own process, with its postgres and a real etcd):
 *
 *  - its REST API: malformed JSON on every write endpoint, seeded well-formed JSON whose fields hold the wrong
 *    types, 10 MB bodies (with a Content-Length, and chunked without one), every wrong method on every path;
 *  - its etcd keys: a member key that is not JSON, config/history/failover/sync/status garbage, and a leader
 *    key naming an unknown member.
 *
 * The agent never exits, never answers 500, changes nothing it was not asked to (postgres is not restarted,
 * the config key is untouched), and its memory stays bounded. Patroni's reading of garbage keys applies:
 * a member without data, an invalid config ignored, a leader key naming someone else obeyed (it demotes) until
 * the key goes, then it leads again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'node:http';
import { sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';
import { Rng } from '../../support/sim/rng';
import { clusterKeys, type ClusterKeys } from '../../../src/model/keys';

const PGHA_BIN = join(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');
const USER = 'patroni';
const PASS = 'hostile s3cret';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
const SEED = Number(process.env.PGHA_HOSTILE_SEED ?? 20261129);
const MB = 1024 * 1024;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

describe('agent under hostile REST input and garbage etcd keys', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let keys: ClusterKeys;
  let port: number;
  let pid: number;
  let name: string;
  let pgStartedAt: string;
  let configBefore: string | undefined;
  const figures: Record<string, number | string> = { seed: SEED };

  function http(method: string, path: string, opts: { body?: string | Buffer; headers?: Record<string, string>; auth?: boolean } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...(opts.auth === false ? {} : { Authorization: BASIC }), ...opts.headers };
      const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.end(opts.body);
    });
  }

  /** Raw bytes; everything the server writes until it closes (or 15 s). */
  function raw(write: (s: ReturnType<typeof connect>) => void): Promise<string> {
    return new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => s.destroy(), 15_000);
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('latin1'));
      });
      s.once('connect', () => write(s));
    });
  }

  const startTime = async (): Promise<string> => (await sql<{ t: string }>(c.nodes[0]!.pgPort, 'select pg_postmaster_start_time()::text as t'))[0]!.t;
  const alive = (): void => {
    assert.equal(c.agents[0]?.child.exitCode, null, `the agent exited; log tail:\n${c.logTail(0, 30)}`);
  };
  const stillLeads = async (): Promise<void> => {
    alive();
    const p = await http('GET', '/patroni', { auth: false });
    assert.equal(p.status, 200);
    assert.equal((JSON.parse(p.body) as { role: string }).role, 'master');
    assert.equal((await c.view()).leader?.name, name);
  };

  before(async () => {
    c = await startTestCluster({
      nodes: 1,
      command: (file) => ({ file: process.execPath, args: [PGHA_BIN, 'agent', '-c', file], env: { PATRONI_RESTAPI_USERNAME: USER, PATRONI_RESTAPI_PASSWORD: PASS } }),
    });
    try {
      await c.waitHealthy(120_000);
    } catch (err) {
      throw new Error(`${String(err)}\n${c.logTail(0, 30)}`);
    }
    keys = clusterKeys('/service', c.scope);
    port = c.nodes[0]!.apiPort;
    pid = c.agents[0]!.pid;
    name = c.nodes[0]!.name;
    pgStartedAt = await startTime();
    configBefore = (await c.store.get(keys.config))?.value;
    figures.rssStartMB = Math.round(rssBytes(pid) / 1e6);
  });

  after(async () => {
    if (c) await c.close();
    console.log(`agent hostile-input figures: ${JSON.stringify(figures)}`);
  });

  test('malformed JSON on every write endpoint → 400 with a message, nothing changed', async () => {
    const endpoints: [string, string][] = [
      ['POST', '/switchover'], ['POST', '/failover'], ['POST', '/restart'], ['POST', '/reinitialize'], ['PATCH', '/config'], ['PUT', '/config'],
    ];
    const bodies = ['{"leader":', '{', '}', '[1,2', 'null', '"text"', '[]', '42', 'nan', '{"a":1}}', '\u0000\u00ff', '{\'leader\': \'x\'}', '{"a":1,}'];
    for (const [method, path] of endpoints) {
      for (const body of bodies) {
        const r = await http(method, path, { body, headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } });
        assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)} → ${r.status} ${r.body}`);
        assert.ok(r.body.length > 0, `${method} ${path}: a 400 without a message`);
      }
    }
    // Deep nesting within the size limit: parsed or refused, never a stack overflow that takes the agent down.
    const deep = `{"postgresql":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    for (const method of ['PATCH', 'PUT']) {
      const d = await http(method, '/config', { body: deep, headers: { 'Content-Length': String(Buffer.byteLength(deep)) } });
      assert.equal(d.status, 400, `deeply nested ${method} /config → ${d.status} ${d.body.slice(0, 200)}`);
      assert.match(d.body, /nests deeper than 64 levels/);
    }
    for (const [method, path] of [['POST', '/switchover'], ['POST', '/failover'], ['POST', '/restart'], ['POST', '/reinitialize']]) {
      const d = await http(method!, path!, { body: deep, headers: { 'Content-Length': String(Buffer.byteLength(deep)) } });
      assert.ok((d.status >= 400 && d.status < 500) || d.status === 503, `deeply nested ${method} ${path} → ${d.status} ${d.body.slice(0, 200)}`);
    }
    assert.equal((await c.store.get(keys.config))?.value, configBefore, 'the config key is untouched');
    await stillLeads();
  });

  test('seeded well-formed JSON with wrong field types: a 4xx with a message, never a 500, nothing done', async () => {
    const r = new Rng(SEED);
    const garbage = (): unknown =>
      r.pick<() => unknown>([
        () => null, () => true, () => r.int(-3, 3), () => -1e308, () => '', () => 'nobody', () => 'x'.repeat(r.int(1, 2000)),
        () => [], () => ['primary'], () => ({}), () => ({ a: { b: [1] } }), () => '2026-13-45T99:99:99', () => 'NaN', () => '\ud800',
      ])();
    const shapes: [string, string, string[]][] = [
      ['POST', '/switchover', ['leader', 'candidate', 'member', 'scheduled_at']],
      ['POST', '/failover', ['leader', 'candidate', 'member', 'scheduled_at']],
      ['POST', '/restart', ['role', 'postgres_version', 'timeout', 'schedule', 'restart_pending']],
      ['POST', '/reinitialize', ['force', 'from_leader']],
      ['PATCH', '/config', ['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'postgresql', 'synchronous_mode', 'check_timeline', 'pause']],
      ['PUT', '/config', ['ttl', 'loop_wait', 'retry_timeout', 'postgresql', 'standby_cluster']],
    ];
    const seen: Record<string, number> = {};
    for (let i = 0; i < 240; i++) {
      const [method, path, fields] = shapes[i % shapes.length]!;
      const body: Record<string, unknown> = {};
      for (const f of fields) if (r.chance(0.5)) body[f] = garbage();
      // At least one field, and always a wrong one: a restart needs a bad role, a config a bad ttl.
      if (path === '/restart') body.role = r.pick(['leader', '', 5, null, ['replica']]);
      if (path === '/config') body.ttl = r.pick(['soon', -1, 0, true, [], { s: 30 }, 1e12]);
      if (path === '/switchover' || path === '/failover') body.candidate = r.pick(['nobody', '', 5, null, {}]);
      if (path === '/reinitialize' && Object.keys(body).length === 0) body.force = garbage();
      const text = JSON.stringify(body);
      const res = await http(method, path, { body: text, headers: { 'Content-Type': 'application/json' } });
      const key = `${method} ${path} ${res.status}`;
      seen[key] = (seen[key] ?? 0) + 1;
      // A refusal: 4xx, or 503 where Patroni answers it (the leader cannot reinitialize, restart conditions unmet).
      assert.ok((res.status >= 400 && res.status < 500 && res.status !== 413) || res.status === 503, `${method} ${path} ${text.slice(0, 300)} → ${res.status} ${res.body.slice(0, 300)}`);
      assert.ok(res.body.length > 0, `${method} ${path} ${text.slice(0, 200)}: ${res.status} without a message`);
    }
    figures.fuzzAnswers = JSON.stringify(seen);
    assert.equal((await c.store.get(keys.config))?.value, configBefore, 'the config key is untouched');
    assert.equal((await c.store.get(keys.failover))?.value ?? '', '', 'no failover key written');
    assert.equal(await startTime(), pgStartedAt, 'postgres was not restarted');
    await stillLeads();
  });

  test('10 MB bodies: 413 (or 411 without a length) and the agent does not hold them', async () => {
    const big = Buffer.alloc(10 * MB, 0x7b);
    const rss0 = rssBytes(pid);
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
    try {
      for (const [method, path] of [['PATCH', '/config'], ['POST', '/switchover'], ['POST', '/restart'], ['PUT', '/config']] as const) {
        const r = await http(method, path, { body: big, headers: { 'Content-Type': 'application/json' } });
        assert.equal(r.status, 413, `${method} ${path}`);
      }
      // Chunked, no Content-Length: a required body is 411 after reading no more than the drain bound (8 MB),
      // so a 10 MB body may see the connection closed under it before the answer arrives: either is fine.
      const chunked = await raw((s) => {
        s.write(`PATCH /config HTTP/1.1\r\nHost: x\r\nAuthorization: ${BASIC}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
        for (let i = 0; i < 10; i++) s.write(`${(MB).toString(16)}\r\n${big.subarray(0, MB).toString('latin1')}\r\n`);
        s.end('0\r\n\r\n');
      });
      assert.ok(chunked === '' || /^HTTP\/1\.1 411 /.test(chunked), chunked.slice(0, 100));
      figures.chunked10MB = chunked === '' ? 'closed' : '411';
      // Ten at once.
      const many = await Promise.all(Array.from({ length: 10 }, () => http('PATCH', '/config', { body: big }).catch((err: Error) => ({ status: 0, body: err.message, headers: {} }))));
      for (const r of many) assert.ok(r.status === 413 || r.status === 0, `concurrent 10 MB → ${r.status} ${r.body}`);
    } finally {
      clearInterval(sampler);
    }
    figures.bigBodiesRssPeakGrowthMB = Math.round((peak - rss0) / 1e6);
    assert.ok(peak - rss0 < 64 * MB, `the agent's RSS grew by ${peak - rss0} bytes while refusing 10 MB bodies`);
    await stillLeads();
  });

  test('every wrong method on every path: 405 with Allow, 404 or 501 (400 for a method HTTP does not know), never a 500', async () => {
    const paths = ['/', '/patroni', '/cluster', '/history', '/config', '/switchover', '/failover', '/restart', '/reinitialize', '/reload', '/metrics', '/liveness', '/readiness', '/primary', '/replica', '/health', '/nothing'];
    const methods = ['PUT', 'DELETE', 'PATCH', 'POST', 'TRACE', 'PROPFIND', 'BREW', 'CONNECT'];
    const seen: Record<string, number> = {};
    for (const path of paths) {
      for (const method of methods) {
        if (method === 'CONNECT') {
          const text = await raw((s) => s.end(`CONNECT ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
          // As Patroni: 501 (node's HTTP server would close a CONNECT without a 'connect' listener).
          assert.match(text, /^HTTP\/1\.1 501 /, `CONNECT ${path}: ${text.slice(0, 80)}`);
          seen[`CONNECT ${text === '' ? 'closed' : text.slice(9, 12)}`] = (seen[`CONNECT ${text === '' ? 'closed' : text.slice(9, 12)}`] ?? 0) + 1;
          continue;
        }
        if (['PUT', 'DELETE', 'PATCH', 'POST'].includes(method) && ((method === 'POST' && ['/switchover', '/failover', '/restart', '/reinitialize', '/reload'].includes(path)) || (path === '/config' && ['PATCH', 'PUT'].includes(method)) || (method === 'DELETE' && ['/switchover', '/restart'].includes(path)))) {
          continue; // a real endpoint: covered above
        }
        const body = method === 'TRACE' ? undefined : '{"x":1}';
        const res = await http(method, path, { body, headers: body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } : {} });
        seen[res.status] = (seen[res.status] ?? 0) + 1;
        // 400 only for a method token node's HTTP parser does not know (BREW): refused before any handler.
        assert.ok([404, 405, 501].includes(res.status) || (res.status === 400 && method === 'BREW'), `${method} ${path} → ${res.status} ${res.body.slice(0, 200)}`);
        if (res.status === 405) assert.ok(res.headers.allow, `${method} ${path}: 405 without Allow`);
      }
    }
    figures.wrongMethodStatuses = JSON.stringify(seen);
    await stillLeads();
  });

  test('garbage etcd keys beside a running agent: read as Patroni does, the agent keeps leading', async () => {
    await c.store.put(keys.member('ghost'), 'not json {');
    await c.store.put(keys.member('half'), '{"conn_url": 5, "api_url": ["x"], "role": {}, "tags": "nofailover", "xlog_location": "0/1"}');
    await c.store.put(keys.config, '{"ttl": 30, ');
    await c.store.put(keys.history, '[[1, "x"], "garbage", null, {}]');
    await c.store.put(keys.failover, '[1,2');
    await c.store.put(keys.sync, 'sync?');
    await c.store.put(keys.status, '{"optime": "NaN", "slots": "{{"}');
    // Several HA loops with the garbage in place: dcs_last_seen (seconds) advances with each successful read.
    const lastSeen = async (): Promise<number> => (JSON.parse((await http('GET', '/patroni', { auth: false })).body) as { dcs_last_seen?: number }).dcs_last_seen ?? 0;
    for (let i = 0; i < 3; i++) {
      const before = await lastSeen();
      await waitFor('the agent to read etcd again (one HA loop)', async () => (alive(), (await lastSeen()) > before), { timeoutMs: 60_000, intervalMs: 200 });
    }
    await stillLeads();
    const cluster = await http('GET', '/cluster', { auth: false });
    assert.equal(cluster.status, 200, cluster.body);
    const members = (JSON.parse(cluster.body) as { members: { name: string }[] }).members.map((m) => m.name).sort();
    assert.deepEqual(members, [name, 'ghost', 'half'].sort());
    assert.equal((await http('GET', '/history', { auth: false })).status, 200);
    assert.ok([200, 502].includes((await http('GET', '/config', { auth: false })).status));
    assert.ok((await sql<{ ok: number }>(c.nodes[0]!.pgPort, 'select 1 as ok'))[0]!.ok === 1);
    assert.equal(await startTime(), pgStartedAt, 'postgres was not restarted by garbage keys');
    alive();
  });

  test('a leader key naming an unknown member is obeyed as Patroni does (no writes here), then the agent leads again', async () => {
    // Take the key away from the agent's lease: a key with no lease naming a member that does not exist.
    await c.store.put(keys.leader, 'nobody');
    await waitFor('the agent to stop being a writable primary', async () => {
      alive();
      const p = JSON.parse((await http('GET', '/patroni', { auth: false })).body) as { role?: string };
      return p.role !== 'master' && p.role !== 'primary';
    }, { timeoutMs: 90_000, intervalMs: 300 });
    alive();
    figures.demotedUnderUnknownLeader = 'yes';
    await c.store.delete(keys.leader);
    await waitFor('the agent to lead again', async () => {
      alive();
      const v = await c.view();
      const p = JSON.parse((await http('GET', '/patroni', { auth: false })).body) as { role?: string };
      return v.leader?.name === name && p.role === 'master';
    }, { timeoutMs: 120_000, intervalMs: 300 });
    // Clean up the garbage; the agent is still the same process.
    for (const m of ['ghost', 'half']) await c.store.delete(keys.member(m));
    for (const k of [keys.history, keys.failover, keys.sync, keys.status]) await c.store.delete(k);
    if (configBefore !== undefined) await c.store.put(keys.config, configBefore);
    await stillLeads();
    assert.equal(c.agents[0]!.pid, pid, 'the same agent process throughout');
    figures.rssEndMB = Math.round(rssBytes(pid) / 1e6);
  });
});
