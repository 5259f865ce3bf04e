import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadRouterConfig } from '../../../src/config/router';
import { parseRouterFlags } from '../../../src/config/router-flags';
import { DEFAULT_AUTH_QUERY } from '../../../src/router/auth/types';

const base = { scope: 'c', etcd: { hosts: ['127.0.0.1:2379'] }, listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:5000' }] };
const load = (auth: unknown) => loadRouterConfig({ ...base, auth }, 'router.yml');
const refused = (auth: unknown, message: RegExp) => assert.throws(() => load(auth), (err: Error) => message.test(err.message) && !/hunter2/.test(err.message));

describe('router config: auth', () => {
  it('absent: no router authentication (passthrough listeners need none)', () => {
    assert.equal(loadRouterConfig(base, 'router.yml').auth, undefined);
  });

  it('defaults: scram-sha-256 and PgBouncer\'s auth_query', () => {
    assert.deepEqual(load({ file: '/etc/pgha/userlist.txt' }).auth, { file: '/etc/pgha/userlist.txt', type: 'scram-sha-256', query: DEFAULT_AUTH_QUERY });
    assert.deepEqual(load({ type: 'trust' }).auth, { type: 'trust', query: DEFAULT_AUTH_QUERY });
    assert.deepEqual(load({ file: 'u.txt', type: 'MD5', user: 'pgha_auth', query: 'SELECT usename, passwd FROM my_shadow($1)' }).auth, {
      file: 'u.txt', type: 'md5', user: 'pgha_auth', query: 'SELECT usename, passwd FROM my_shadow($1)',
    });
  });

  it('errors name the field, never a secret', () => {
    refused({ file: 'u.txt', type: 'scram' }, /^auth\.type: got "scram".*use one of: scram-sha-256, md5, plain, trust/);
    refused({ type: 'md5' }, /^auth\.file: is missing \(auth\.type is md5\)/);
    refused({ type: 'trust', user: 'pgha_auth' }, /^auth\.user: is set without auth\.file/);
    refused({ file: 'u.txt', query: 'SELECT 1' }, /^auth\.query: is set without auth\.user/);
    refused({ file: 'u.txt', user: 'a', query: 'SELECT rolname, rolpassword FROM pg_authid' }, /^auth\.query: does not use \$1/);
    refused({ file: 'u.txt', password: 'hunter2' }, /^auth\.password: is not a router setting/);
    refused('hunter2', /^auth: is not a map of settings/);
  });

  it('flags: --auth-file, --auth-user, --auth-query map onto the section', () => {
    const flags = ['--etcd', '127.0.0.1:2379', '--scope', 'c'];
    assert.equal(parseRouterFlags(flags).auth, undefined);
    assert.deepEqual(parseRouterFlags([...flags, '--auth-file', 'u.txt', '--auth-user=pgha_auth', '--auth-query', 'SELECT a, b FROM f($1)']).auth, {
      file: 'u.txt', type: 'scram-sha-256', user: 'pgha_auth', query: 'SELECT a, b FROM f($1)',
    });
    assert.throws(() => parseRouterFlags([...flags, '--auth-user', 'pgha_auth']), /auth\.user: is set without auth\.file/);
  });
});
