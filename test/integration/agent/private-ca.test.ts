/**
 * A 2-node cluster of real agents whose REST APIs use certificates from a private CA made here with openssl, and
 * `verify_client: required` (PATRONI_RESTAPI_* for both nodes). The agents call each other with `restapi.cafile`
 * and their own certificate as client certificate: a switchover through the API succeeds (the candidate is
 * reachable). Routers check the agents over HTTPS: the embedded one (node 1's `router:` section, inheriting the
 * agent's cafile and certificate) and a standalone one with `health.cacert`/`cert`/`key` (a client-only
 * certificate) both route writes to the leader, before and after the switchover.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { Client } from 'pg';
import { PASSWORD, startTestCluster, type TestCluster } from '../../support/cluster';
import { makeTestCerts, type TestCerts } from '../../support/etcd-tls';
import { freePort } from '../../support/ports';
import { postgresUser } from '../../support/tmp';
import { waitFor } from '../../support/wait';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { loadRouterConfig, startRouter, type RunningRouter } from '../../../src/router/index';

const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();

async function writePort(port: number): Promise<number> {
  const c = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 30_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const row = (await c.query('select inet_server_port() as port, pg_is_in_recovery() as rec')).rows[0] as { port: number; rec: boolean };
    assert.equal(row.rec, false);
    return row.port;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function post(port: number, path: string, body: unknown, certs: TestCerts): Promise<{ status: number; body: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'POST', agent: false,
      ca: readFileSync(certs.ca), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey),
      headers: { 'content-type': 'application/json', 'content-length': String(payload.length) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.setTimeout(90_000, () => req.destroy(new Error('no answer')));
    req.end(payload);
  });
}

describe('REST API with a private CA and verify_client: required', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let certs: TestCerts;
  let standalone: RunningRouter | undefined;
  const embedded = { write: 0, metrics: 0 };

  before(async () => {
    certs = makeTestCerts();
    // The agents run as postgres: they read the certificates and keys.
    const owner = postgresUser();
    if (owner) for (const f of readdirSync(certs.dir)) chownSync(join(certs.dir, f), owner.uid, owner.gid);
    embedded.write = await freePort();
    embedded.metrics = await freePort();
    c = await startTestCluster({
      nodes: 2,
      dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 },
      env: {
        PATRONI_RESTAPI_CERTFILE: certs.serverCert,
        PATRONI_RESTAPI_KEYFILE: certs.serverKey,
        PATRONI_RESTAPI_CAFILE: certs.ca,
        PATRONI_RESTAPI_VERIFY_CLIENT: 'required',
      },
      extra: (i) => (i === 0
        ? `router:
  listeners:
    - {name: write, role: primary, listen: "127.0.0.1:${embedded.write}", hold_timeout: 30s}
  metrics: {listen: "127.0.0.1:${embedded.metrics}"}
  health: {interval: 500ms, timeout: 500ms, fast_interval: 50ms}
`
        : ''),
    });
    await c.waitHealthy(180_000);
    standalone = await startRouter(loadRouterConfig({
      scope: c.scope,
      etcd: { hosts: [c.etcd.endpoint] },
      listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '30s' }],
      health: { interval: '500ms', timeout: '500ms', fast_interval: '50ms', cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      drain_timeout: '1s',
    }, 'private CA test'), { logger: log });
  });

  after(async () => {
    await standalone?.stop().catch(() => undefined);
    if (c) await c.close();
    certs?.remove();
  });

  const routedTo = (port: number) => waitFor('a routed write', () => writePort(port).catch(() => undefined), { timeoutMs: 60_000, intervalMs: 200 });

  it('the agents publish https api_urls; both routers route writes to the leader over HTTPS health checks', async () => {
    const view = await c.view();
    for (const m of view.members.values()) assert.match(String(m.doc.api_url), /^https:\/\/127\.0\.0\.1:\d+\/patroni$/);
    const leaderPort = c.nodes[c.leaderIndex(view)]!.pgPort;
    assert.equal(await routedTo(embedded.write), leaderPort);
    assert.equal(await routedTo(standalone!.ports.write!), leaderPort);
    await waitFor('the embedded router reaches both agents', async () => {
      const status = await fetch(`http://127.0.0.1:${embedded.metrics}/status`).then((r) => r.json()) as { members: { up: boolean }[] };
      return status.members.length === 2 && status.members.every((m) => m.up);
    }, { timeoutMs: 30_000, intervalMs: 100 });
  });

  it('a switchover through the API succeeds (the candidate is reachable); the routers follow', async (t) => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const leader = c.nodes[li]!;
    const candidate = c.nodes[1 - li]!;
    const t0 = Date.now();
    const res = await post(leader.apiPort, '/switchover', { leader: leader.name, candidate: candidate.name }, certs);
    assert.equal(res.status, 200, `${res.status} ${res.body}\n${c.logTail(li, 20)}`);
    assert.match(res.body, new RegExp(`Successfully switched over to "${candidate.name}"`));
    await waitFor('the candidate leads', async () => (await c.view()).leader?.name === candidate.name, { timeoutMs: 60_000, intervalMs: 200 });
    await waitFor('routed to the new leader', async () => (await writePort(embedded.write).catch(() => 0)) === candidate.pgPort
      && (await writePort(standalone!.ports.write!).catch(() => 0)) === candidate.pgPort, { timeoutMs: 60_000, intervalMs: 200 });
    t.diagnostic(`switchover ${leader.name} -> ${candidate.name} and both routers on the new leader in ${Date.now() - t0} ms`);
    await c.waitHealthy(120_000);
  });
});
