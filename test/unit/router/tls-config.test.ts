/**
 * `tls:` in router.yml and `--tls-cert/--tls-key`: the shape is checked at load, the files where the router starts
 * or reloads (loadRouterTls), each refusal naming its field and the fix.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/lib/errors';
import { loadRouterConfig, parseRouterFlags } from '../../../src/router/index';
import { loadRouterTls } from '../../../src/router/tls/context';

const minimal = { scope: 'pgcluster', etcd: { hosts: ['10.0.0.1:2379'] } };

function refused(run: () => unknown, field: string, pattern: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.field, field);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('tls: the router\'s own certificate', () => {
  let dir: string;
  const cert = () => join(dir, 'a.crt');
  const key = () => join(dir, 'a.key');
  const otherKey = () => join(dir, 'b.key');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgha-tls-config-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=a', '-keyout', key(), '-out', cert()], { stdio: 'ignore' });
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', otherKey()], { stdio: 'ignore' });
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('absent: TLS stays end to end; present: the files and server_mode prefer by default', () => {
    assert.equal(loadRouterConfig(minimal, 'router.yml').tls, undefined);
    const c = loadRouterConfig({ ...minimal, tls: { cert_file: cert(), key_file: key() } }, 'router.yml');
    assert.deepEqual(c.tls, { certFile: cert(), keyFile: key(), serverMode: 'prefer' });
    assert.equal(loadRouterTls(c.tls!).serverMode, 'prefer');
  });

  test('the flags --tls-cert and --tls-key fill the same section', () => {
    const c = parseRouterFlags(['--etcd', 'e:2379', '--scope', 's', '--tls-cert', cert(), `--tls-key=${key()}`]);
    assert.deepEqual(c.tls, { certFile: cert(), keyFile: key(), serverMode: 'prefer' });
    refused(() => parseRouterFlags(['--etcd', 'e:2379', '--scope', 's', '--tls-cert', cert()]), 'tls.key_file', /is missing/);
  });

  test('a bad shape is refused at load, naming the field', () => {
    refused(() => loadRouterConfig({ ...minimal, tls: { key_file: key() } }, 'router.yml'), 'tls.cert_file', /is missing/);
    refused(() => loadRouterConfig({ ...minimal, tls: { cert_file: cert(), key_file: key(), server_mode: 'allow' } }, 'router.yml'), 'tls.server_mode', /got "allow"/);
    refused(() => loadRouterConfig({ ...minimal, tls: { cert_file: cert(), key_file: key(), server_mode: 'verify-ca' } }, 'router.yml'), 'tls.ca_file', /missing while server_mode is verify-ca/);
    refused(() => loadRouterConfig({ ...minimal, tls: { cert_file: cert(), key_file: key(), password: 'x' } }, 'router.yml'), 'tls.password', /is not a router setting/);
  });

  test('missing, unreadable or mismatched files are refused where they are read, naming the field', () => {
    refused(() => loadRouterTls({ certFile: join(dir, 'nope.crt'), keyFile: key(), serverMode: 'prefer' }), 'tls.cert_file', /cannot read .*nope\.crt: ENOENT/);
    refused(() => loadRouterTls({ certFile: cert(), keyFile: otherKey(), serverMode: 'prefer' }), 'tls.key_file', /cannot be used: .*key values mismatch/);
    refused(() => loadRouterTls({ certFile: join(dir, 'junk.pem'), keyFile: key(), serverMode: 'prefer' }), 'tls.key_file', /cannot be used/);
    refused(() => loadRouterTls({ certFile: cert(), keyFile: key(), caFile: join(dir, 'junk.pem'), serverMode: 'verify-ca' }), 'tls.ca_file', /cannot be used/);
    assert.ok(loadRouterTls({ certFile: cert(), keyFile: key(), caFile: cert(), serverMode: 'verify-full' }).ca);
  });
});
