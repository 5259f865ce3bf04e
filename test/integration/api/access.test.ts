/**
 * restapi.allowlist, allowlist_include_members and the extra headers over real sockets (a stub status, as in
 * server.test.ts): the list guards the write endpoints only, is checked before the password, takes the members'
 * api_url addresses from the cluster view, and the headers go on every answer with headers.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentStatus } from '../../../src/agent/status';
import { startRestApi, type RestApi } from '../../../src/api/server';
import { RestAccess } from '../../../src/api/access';
import { silentLogger } from '../../../src/log/logger';
import { aMember, aPrimaryStatus, aView, NOW } from '../../support/builders';

const AUTH = { username: 'patroni', password: 's3cret' };
const BASIC = `Basic ${Buffer.from('patroni:s3cret').toString('base64')}`;

let api: RestApi;
let status: AgentStatus = aPrimaryStatus();

const call = async (method: string, path: string, auth = true) => {
  const res = await fetch(`http://127.0.0.1:${api.port}${path}`, {
    method, headers: auth ? { Authorization: BASIC } : {}, signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
};

before(async () => {
  api = await startRestApi({
    listen: { host: '127.0.0.1', port: 0 },
    status: () => status,
    now: () => NOW,
    readCluster: async () => status.view!,
    metrics: async () => '',
    logger: silentLogger(),
    unsafe: { 'POST /reload': { body: 'none', handle: () => ({ code: 202, body: 'reload scheduled' }) } },
    authentication: AUTH,
    access: { allowlist: ['10.0.0.0/8', '192.0.2.7'], httpExtraHeaders: { 'X-Frame-Options': 'SAMEORIGIN' } },
  });
});

after(async () => {
  await api.close();
});

describe('restapi.allowlist', () => {
  test('a write from outside the list: 403 Access is denied, before the password is asked for', async () => {
    const r = await call('POST', '/reload', false);
    assert.equal(r.status, 403);
    assert.equal(r.body, 'Access is denied');
  });

  test('reads are never filtered, and carry the extra header; so does a refusal', async () => {
    const r = await call('GET', '/patroni', false);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal((await call('POST', '/reload')).headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal((await call('GET', '/no-such')).headers.get('x-frame-options'), 'SAMEORIGIN');
  });

  test('a CIDR that holds the client lets it through to the password check', async () => {
    await api.update({ authentication: AUTH, access: { allowlist: ['127.0.0.0/8'] } });
    assert.equal((await call('POST', '/reload', false)).status, 401);
    assert.equal((await call('POST', '/reload')).status, 202);
    assert.equal((await call('GET', '/patroni')).headers.get('x-frame-options'), null);
  });

  test('allowlist_include_members: a member\'s api_url address (from the cluster view) is allowed', async () => {
    await api.update({ authentication: AUTH, access: { allowlist: ['10.0.0.1'], allowlistIncludeMembers: true } });
    assert.equal((await call('POST', '/reload')).status, 403, 'no member at 127.0.0.1 yet');
    status = aPrimaryStatus({
      view: aView({ leader: 'node1', members: [aMember('node1', { role: 'master' }), aMember('node2', { api_url: 'http://127.0.0.1:8009/patroni' })] }),
    });
    assert.equal((await call('POST', '/reload')).status, 202);
  });
});

describe('RestAccess', () => {
  test('host names are resolved; an IPv4 client on a dual-stack socket is checked as IPv4; a name that fails is skipped', async () => {
    const access = new RestAccess(false, silentLogger(), async (host) => {
      if (host === 'app.example') return ['10.1.1.1', 'fd00::1'];
      throw new Error('ENOTFOUND');
    });
    await access.update({ allowlist: ['app.example', 'gone.example', '2001:db8::/32'] });
    const none = () => [];
    assert.equal(await access.allows('10.1.1.1', none), true);
    assert.equal(await access.allows('::ffff:10.1.1.1', none), true);
    assert.equal(await access.allows('fd00::1', none), true);
    assert.equal(await access.allows('2001:db8::5', none), true);
    assert.equal(await access.allows('10.1.1.2', none), false);
    assert.equal(await access.allows(undefined, none), false);
  });

  test('https_extra_headers are added only when serving HTTPS; without a list every address is allowed', async () => {
    const settings = { httpExtraHeaders: { A: '1', B: '2' }, httpsExtraHeaders: { B: 'tls', C: '3' } };
    const plain = new RestAccess(false, silentLogger());
    await plain.update(settings);
    assert.deepEqual(plain.headers(), { A: '1', B: '2' });
    const tls = new RestAccess(true, silentLogger());
    await tls.update(settings);
    assert.deepEqual(tls.headers(), { A: '1', B: 'tls', C: '3' });
    assert.equal(await tls.allows('203.0.113.9', () => []), true);
  });
});
