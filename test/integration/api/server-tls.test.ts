/**
 * The REST API over HTTPS (restapi.certfile/keyfile, keyfile_password, cafile + verify_client), with a stub status
 * provider and a throwaway CA: reads work over TLS, plain HTTP does not, and with verify_client: optional the write
 * endpoints need a client certificate (403 without one) while GETs do not.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { startRestApi, type RestApi } from '../../../src/api/server';
import { silentLogger } from '../../../src/log/logger';
import { aPrimaryStatus } from '../../support/builders';
import { makeTestCerts, type TestCerts } from '../../support/etcd-tls';

interface Reply {
  status: number;
  body: string;
}

function https(port: number, method: string, path: string, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, ...tls, headers: { 'content-length': '0' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.end();
  });
}

describe('REST API over TLS', () => {
  let certs: TestCerts;
  let encryptedKey: string;
  const apis: RestApi[] = [];
  const read = (f: string) => readFileSync(f);

  before(() => {
    certs = makeTestCerts();
    encryptedKey = join(certs.dir, 'server-enc.key');
    execFileSync('openssl', ['pkey', '-in', certs.serverKey, '-aes256', '-passout', 'pass:kp4ss', '-out', encryptedKey], { stdio: 'pipe' });
  });
  after(async () => {
    await Promise.all(apis.map((a) => a.close()));
    certs?.remove();
  });

  async function start(tls: Parameters<typeof startRestApi>[0]['tls']): Promise<RestApi> {
    const status = aPrimaryStatus();
    const api = await startRestApi({
      listen: { host: '127.0.0.1', port: 0 },
      status: () => status,
      readCluster: async () => status.view!,
      metrics: async () => '',
      logger: silentLogger(),
      ...(tls ? { tls } : {}),
      unsafe: { 'POST /reload': { body: 'none', handle: () => ({ code: 202, body: 'reload scheduled' }) } },
    });
    apis.push(api);
    return api;
  }

  test('serves HTTPS with an encrypted key (keyfile_password); plain HTTP is refused', async () => {
    const api = await start({ certfile: certs.serverCert, keyfile: encryptedKey, keyfilePassword: 'kp4ss' });
    const res = await https(api.port, 'GET', '/patroni', { ca: read(certs.ca) });
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { role: string }).role, 'master');
    await assert.rejects(fetch(`http://127.0.0.1:${api.port}/patroni`, { signal: AbortSignal.timeout(5000) }));
  });

  test('verify_client: optional → writes need a client certificate, reads do not', async () => {
    const api = await start({ certfile: certs.serverCert, keyfile: certs.serverKey, cafile: certs.ca, verifyClient: 'optional' });
    const ca = read(certs.ca);
    assert.equal((await https(api.port, 'GET', '/patroni', { ca })).status, 200);
    const refused = await https(api.port, 'POST', '/reload', { ca });
    assert.deepEqual([refused.status, refused.body], [403, 'client certificate required']);
    const allowed = await https(api.port, 'POST', '/reload', { ca, cert: read(certs.clientCert), key: read(certs.clientKey) });
    assert.deepEqual([allowed.status, allowed.body], [202, 'reload scheduled']);
  });

  test('verify_client: required → no certificate, no connection', async () => {
    const api = await start({ certfile: certs.serverCert, keyfile: certs.serverKey, cafile: certs.ca, verifyClient: 'required' });
    const ca = read(certs.ca);
    await assert.rejects(https(api.port, 'GET', '/patroni', { ca }));
    const ok = await https(api.port, 'GET', '/patroni', { ca, cert: read(certs.clientCert), key: read(certs.clientKey) });
    assert.equal(ok.status, 200);
  });

  test('a missing certificate file fails the start with its path', async () => {
    await assert.rejects(start({ certfile: join(certs.dir, 'nope.crt') }), /restapi\.certfile .*nope\.crt/);
  });
});
