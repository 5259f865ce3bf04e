/**
 * Calls between members over TLS with a private CA (lib/json-get.ts), against the REST API with
 * `verify_client: required`: the agent's peer fetcher and the router's health TLS read `/patroni` with the CA and
 * a client certificate; without the certificate, or with the system CA store, the member reads as unreachable.
 * With a private CA the host name is not compared (Patroni's rule for member calls); the chain still is.
 * Unusable files are refused naming their setting.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRestApi, type RestApi } from '../../../src/api/server';
import { peerFetcher } from '../../../src/agent/peers';
import { clientTls, getJson, type ClientTlsFiles } from '../../../src/lib/json-get';
import { healthTls } from '../../../src/router/health';
import { ConfigError } from '../../../src/lib/errors';
import { silentLogger } from '../../../src/log/logger';
import { aPrimaryStatus } from '../../support/builders';
import { makeTestCerts, type TestCerts } from '../../support/etcd-tls';

describe('member calls with a private CA and client certificates', () => {
  let certs: TestCerts;
  let api: RestApi;
  let otherHostApi: RestApi;
  let files: ClientTlsFiles;
  const url = (a: RestApi) => `https://127.0.0.1:${a.port}/patroni`;

  async function start(certfile: string, keyfile: string): Promise<RestApi> {
    const status = aPrimaryStatus();
    return startRestApi({
      listen: { host: '127.0.0.1', port: 0 },
      status: () => status,
      readCluster: async () => status.view!,
      metrics: async () => '',
      logger: silentLogger(),
      tls: { certfile, keyfile, cafile: certs.ca, verifyClient: 'required' },
      unsafe: {},
    });
  }

  before(async () => {
    certs = makeTestCerts();
    // A certificate from the same CA that names another host: member calls accept it (the chain is the identity).
    const p = (n: string) => join(certs.dir, n);
    writeFileSync(p('other.ext'), 'subjectAltName=DNS:elsewhere.invalid\nextendedKeyUsage=serverAuth,clientAuth\n');
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=elsewhere.invalid', '-keyout', p('other.key'), '-out', p('other.csr'));
    openssl('x509', '-req', '-in', p('other.csr'), '-CA', certs.ca, '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p('other.ext'), '-out', p('other.crt'));
    openssl('pkey', '-in', certs.clientKey, '-aes256', '-passout', 'pass:kp4ss', '-out', p('client-enc.key'));
    api = await start(certs.serverCert, certs.serverKey);
    otherHostApi = await start(p('other.crt'), p('other.key'));
    files = { ca: { file: certs.ca, field: 'restapi.cafile' }, cert: { file: certs.clientCert, field: 'restapi.certfile' }, key: { file: certs.clientKey, field: 'restapi.keyfile' } };
  });
  after(async () => {
    await api?.close();
    await otherHostApi?.close();
    certs?.remove();
  });

  test('the agent reads a peer with the CA and its client certificate; without them the peer is unreachable', async () => {
    const doc = await peerFetcher(clientTls(files))(url(api), 5000);
    assert.equal(doc?.role, 'master');
    assert.equal(await peerFetcher(clientTls({ ca: files.ca }))(url(api), 5000), undefined, 'no client certificate');
    assert.equal(await peerFetcher()(url(api), 5000), undefined, 'system CA store');
  });

  test('the router\'s health TLS: an encrypted key with key_password works', async () => {
    const tls = healthTls({
      intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 1, fastIntervalMs: 100, maxAgeMs: 3000, verifyTls: true,
      tls: { ca: { file: certs.ca, field: 'health.cacert' }, cert: { file: certs.clientCert, field: 'health.cert' }, key: { file: join(certs.dir, 'client-enc.key'), field: 'health.key' }, passphrase: 'kp4ss' },
    });
    assert.equal(((await getJson(url(api), 5000, tls)) as { role: string }).role, 'master');
  });

  test('with a private CA the host name is not compared; the chain is', async () => {
    assert.equal((await peerFetcher(clientTls(files))(url(otherHostApi), 5000))?.role, 'master');
    const foreign = makeTestCerts();
    try {
      const wrongCa = { ...files, ca: { file: foreign.ca, field: 'restapi.cafile' } };
      await assert.rejects(getJson(url(api), 5000, clientTls(wrongCa)), /self[- ]signed|unable to verify|certificate/i);
    } finally {
      foreign.remove();
    }
  });

  test('unusable files are refused naming their setting', () => {
    const refused = (f: ClientTlsFiles, field: string, pattern: RegExp) =>
      assert.throws(() => clientTls(f), (e: unknown) => e instanceof ConfigError && e.field === field && pattern.test(e.message));
    refused({ ...files, ca: { file: join(certs.dir, 'nope.pem'), field: 'restapi.cafile' } }, 'restapi.cafile', /cannot read .*nope\.pem: ENOENT/);
    refused({ ...files, key: { file: join(certs.dir, 'client-enc.key'), field: 'health.key' }, passphrase: 'wrong' }, 'health.key', /cannot be used/);
    refused({ ...files, key: { file: certs.serverKey, field: 'restapi.keyfile' } }, 'restapi.keyfile', /cannot be used.*belong together/);
  });
});
