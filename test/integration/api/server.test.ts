/**
 * The REST API over real sockets, with a stub status provider (the API layer only reads snapshots).
 * Raw TCP where the exact bytes matter (HEAD/OPTIONS status line, malformed requests, oversized bodies).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'node:http';
import type { AgentStatus } from '../../../src/agent/status';
import type { ClusterView } from '../../../src/model/cluster';
import { startRestApi, type RestApi, type UnsafeHandler } from '../../../src/api/server';
import { AgentMetrics } from '../../../src/metrics/agent-metrics';
import { silentLogger } from '../../../src/log/logger';
import { aMember, aPrimaryStatus, aView, NOW } from '../../support/builders';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const AUTH = { username: 'patroni', password: 's3cret' };
const BASIC = `Basic ${Buffer.from('patroni:s3cret').toString('base64')}`;

let api: RestApi;
let status: AgentStatus = aPrimaryStatus();
let clusterRead: () => Promise<ClusterView> = async () => status.view!;
let configRead: () => Promise<Record<string, unknown> | undefined> = async () => ({ ttl: 30, loop_wait: 10 });
const seen: { body?: Record<string, unknown> } = {};

const handlers: Record<string, UnsafeHandler> = {
  'POST /reload': { body: 'none', handle: () => ({ code: 202, body: 'reload scheduled' }) },
  'PATCH /config': {
    body: 'required',
    handle: (req) => {
      seen.body = req.body;
      return { code: 200, body: { ...req.body, patched: true } };
    },
  },
  'POST /restart': { body: 'optional', handle: (req) => ({ code: 200, body: `restarted with ${Object.keys(req.body).length} filters` }) },
  'POST /reinitialize': { body: 'optional', handle: () => { throw new Error('exploded'); } },
  'POST /switchover': { body: 'optional', timeoutMs: 150, handle: () => new Promise(() => undefined) },
};

function http(method: string, path: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: api.port, method, path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.end(opts.body);
  });
}

/** Sends raw bytes and returns everything the server writes until it closes the connection. */
function raw(bytes: string | Buffer, { timeoutMs = 5_000 } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(api.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(err);
    });
    socket.write(bytes);
  });
}

before(async () => {
  const metrics = new AgentMetrics({ scope: 'pgcluster', name: 'node1', version: '0.1.0', status: () => status, now: () => NOW });
  api = await startRestApi({
    listen: { host: '127.0.0.1', port: 0 },
    status: () => status,
    now: () => NOW,
    readCluster: () => clusterRead(),
    readConfig: () => configRead(),
    metrics: () => metrics.render(),
    logger: silentLogger(),
    unsafe: handlers,
    authentication: AUTH,
    readTimeoutMs: 300,
  });
});

after(async () => {
  await api.close();
});

describe('GET endpoints', () => {
  test('/patroni: 200, application/json, the status document', async () => {
    const r = await http('GET', '/patroni');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    const doc = JSON.parse(r.body);
    assert.equal(doc.role, 'master');
    assert.deepEqual(doc.xlog, { location: 67_419_744 });
    assert.deepEqual(doc.patroni, { version: '3.0.2', scope: 'pgcluster', name: 'node1' });
    assert.ok(r.body.startsWith('{"state": "running", '), 'Python json.dumps spacing');
  });

  test('health paths answer with the evaluated code and the status JSON', async () => {
    for (const [path, code] of [['/', 200], ['/primary', 200], ['/leader', 200], ['/replica', 503], ['/read-only', 200],
      ['/health', 200], ['/async', 503], ['/replica?lag=16MB&tag_dc=east', 503], ['/no-such-endpoint', 503]] as const) {
      const r = await http('GET', path);
      assert.equal(r.status, code, path);
      assert.equal(r.headers['content-type'], 'application/json', path);
      assert.equal(JSON.parse(r.body).role, 'master', path);
    }
  });

  test('the code flips on the agent\'s own lock validity', async () => {
    const previous = status;
    status = aPrimaryStatus({ leaderValidUntilMs: NOW - 1 });
    try {
      assert.equal((await http('GET', '/primary')).status, 503);
    } finally {
      status = previous;
    }
  });

  test('/cluster: a fresh read, 503 with an error JSON when etcd is unreachable or too slow', async () => {
    const ok = await http('GET', '/cluster');
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body).members.map((m: { name: string; role: string }) => [m.name, m.role]), [['node1', 'leader']]);

    const previous = clusterRead;
    try {
      clusterRead = async () => {
        throw new Error('etcd: connection refused');
      };
      const down = await http('GET', '/cluster');
      assert.equal(down.status, 503);
      assert.equal(down.headers['content-type'], 'application/json');
      assert.match(JSON.parse(down.body).error, /connection refused/);

      clusterRead = () => new Promise(() => undefined);
      const started = Date.now();
      const slow = await http('GET', '/cluster');
      assert.equal(slow.status, 503);
      assert.ok(Date.now() - started < 3_000, 'answered within the read deadline');
    } finally {
      clusterRead = previous;
    }
  });

  test('/history: the cached view\'s history, [] without one', async () => {
    assert.deepEqual(JSON.parse((await http('GET', '/history')).body), []);
    const previous = status;
    status = aPrimaryStatus({ view: aView({ leader: 'node1', history: [[1, 25_165_984, 'no recovery target specified', '2024-08-28T19:40:00+00:00', 'node1']], members: [aMember('node1')] }) });
    try {
      assert.deepEqual(JSON.parse((await http('GET', '/history')).body), [[1, 25_165_984, 'no recovery target specified', '2024-08-28T19:40:00+00:00', 'node1']]);
    } finally {
      status = previous;
    }
  });

  test('/config: 200 with the key\'s JSON, 502 when missing', async () => {
    assert.deepEqual(JSON.parse((await http('GET', '/config')).body), { ttl: 30, loop_wait: 10 });
    const previous = configRead;
    configRead = async () => undefined;
    try {
      assert.equal((await http('GET', '/config')).status, 502);
    } finally {
      configRead = previous;
    }
  });

  test('/metrics: Prometheus text with patroni_* and pgha_agent_* names', async () => {
    const r = await http('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^patroni_primary\{scope="pgcluster",name="node1"\} 1$/m);
    assert.match(r.body, /^pgha_agent_is_leader 1$/m);
    assert.match(r.body, /^pgha_agent_ha_cycles_total 0$/m);
  });
});

describe('bare status lines (HAProxy/Consul checks)', () => {
  test('HEAD /primary: exactly "HTTP/1.0 200 OK\\r\\n\\r\\n", no headers, no body', async () => {
    assert.equal(await raw('HEAD /primary HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP/1.0 200 OK\r\n\r\n');
  });

  test('OPTIONS /replica on a primary: 503 status line', async () => {
    assert.equal(await raw('OPTIONS /replica HTTP/1.0\r\n\r\n'), 'HTTP/1.0 503 Service Unavailable\r\n\r\n');
  });

  test('HEAD /patroni runs the generic check: 503', async () => {
    assert.equal(await raw('HEAD /patroni HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP/1.0 503 Service Unavailable\r\n\r\n');
  });

  test('pipelined after a JSON reply on a keep-alive connection: still answered', async () => {
    const both = await raw('GET /patroni HTTP/1.1\r\nHost: x\r\n\r\nHEAD /primary HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(both, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(both.endsWith('}HTTP/1.0 200 OK\r\n\r\n'));
  });

  test('GET /liveness and /readiness: status line only', async () => {
    assert.equal(await raw('GET /liveness HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP/1.0 200 OK\r\n\r\n');
    assert.equal(await raw('GET /readiness HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP/1.0 200 OK\r\n\r\n');
  });
});

describe('write endpoints', () => {
  test('401 with WWW-Authenticate when the auth header is missing or wrong', async () => {
    const missing = await http('POST', '/reload');
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], 'Basic realm="Patroni"');
    assert.equal(missing.body, 'no auth header received');

    const wrong = await http('POST', '/reload', { headers: { Authorization: `Basic ${Buffer.from('patroni:nope').toString('base64')}` } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body, 'not authenticated');

    const notBasic = await http('POST', '/reload', { headers: { Authorization: 'Bearer abc' } });
    assert.equal(notBasic.status, 401);
  });

  test('authenticated POST /reload → 202 text/html', async () => {
    const r = await http('POST', '/reload', { headers: { Authorization: BASIC } });
    assert.equal(r.status, 202);
    assert.equal(r.headers['content-type'], 'text/html');
    assert.equal(r.body, 'reload scheduled');
  });

  test('PATCH /config: the JSON object reaches the handler, the reply is JSON', async () => {
    const r = await http('PATCH', '/config', {
      headers: { Authorization: BASIC, 'Content-Type': 'application/json' }, body: '{"ttl":20,"pause":null}',
    });
    assert.equal(r.status, 200);
    assert.deepEqual(seen.body, { ttl: 20, pause: null });
    assert.deepEqual(JSON.parse(r.body), { ttl: 20, pause: null, patched: true });
  });

  test('a 1 MB body → 413, and the client gets the answer rather than a reset', async () => {
    const big = Buffer.alloc(1024 * 1024, 0x61);
    const r = await http('PATCH', '/config', { headers: { Authorization: BASIC }, body: big });
    assert.equal(r.status, 413);
    const chunked = await raw(
      `PATCH /config HTTP/1.1\r\nHost: x\r\nAuthorization: ${BASIC}\r\nContent-Length: ${big.length}\r\n\r\n${big.toString()}`,
    );
    assert.match(chunked, /^HTTP\/1\.1 413 /);
  });

  test('malformed JSON, a non-object, and an empty object where a body is required → 400', async () => {
    for (const body of ['{"ttl":', '[1,2]', '"text"', '{}', '']) {
      const r = await http('PATCH', '/config', { headers: { Authorization: BASIC, 'Content-Length': String(Buffer.byteLength(body)) }, body });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
  });

  test('no Content-Length where a body is required → 411; optional bodies may be absent', async () => {
    const chunked = await raw(
      `PATCH /config HTTP/1.1\r\nHost: x\r\nAuthorization: ${BASIC}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{"a":\r\n0\r\n\r\n`,
    );
    assert.match(chunked, /^HTTP\/1\.1 411 /);
    const none = await http('POST', '/restart', { headers: { Authorization: BASIC } });
    assert.equal(none.status, 200);
    assert.equal(none.body, 'restarted with 0 filters');
    const some = await http('POST', '/restart', { headers: { Authorization: BASIC }, body: '{"role":"replica"}' });
    assert.equal(some.body, 'restarted with 1 filters');
  });

  test('unknown endpoint → 404; a GET-only endpoint → 405 with Allow', async () => {
    assert.equal((await http('POST', '/nothing-here', { headers: { Authorization: BASIC } })).status, 404);
    const r = await http('DELETE', '/patroni');
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET');
    assert.equal((await http('PUT', '/reload')).headers.allow, 'POST');
  });

  test('a throwing handler → 500, a hanging one → 503 at its deadline; the server keeps serving', async () => {
    assert.equal((await http('POST', '/reinitialize', { headers: { Authorization: BASIC } })).status, 500);
    const hung = await http('POST', '/switchover', { headers: { Authorization: BASIC } });
    assert.equal(hung.status, 503);
    assert.match(hung.body, /longer than 150 ms/);
    assert.equal((await http('GET', '/patroni')).status, 200);
  });
});

describe('robustness', () => {
  test('garbage instead of HTTP → 400, and the server stays up', async () => {
    assert.match(await raw('\x00\x01GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw('GET /patroni HTTP/1.1\r\nBad Header Without Colon\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.equal((await http('GET', '/patroni')).status, 200);
  });

  test('an unsupported method → 501', async () => {
    assert.match(await raw('TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 501 /);
  });

  test('a status provider that throws → 500 JSON, not a crash', async () => {
    const previous = status;
    status = undefined as unknown as AgentStatus;
    try {
      const r = await http('GET', '/patroni');
      assert.equal(r.status, 500);
      assert.equal(r.headers['content-type'], 'application/json');
    } finally {
      status = previous;
    }
    assert.equal((await http('GET', '/patroni')).status, 200);
  });
});
