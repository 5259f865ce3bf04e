import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ConfiguredAuthSource, AUTH_QUERY_CACHE_MS, type AuthQueryRunner } from '../../../../src/router/auth/auth-source';
import { DEFAULT_AUTH_QUERY, type AuthConfig } from '../../../../src/router/auth/types';
import { formatScramSecret, scramSecretFromPassword } from '../../../../src/router/auth/secrets';
import { ConfigError } from '../../../../src/lib/errors';
import { createLogger } from '../../../../src/log/logger';
import { ManualClock } from '../../../support/manual-clock';

const AUTH_PW = 'auth-user-pw';
const TARGET = { host: '10.0.0.1', port: 5432, database: 'app' };

/** An AuthSource over an in-memory file and a scripted auth_query; `logs` collects the log lines. */
function source(files: Record<string, string>, config: Partial<AuthConfig> = {}, runQuery?: AuthQueryRunner) {
  const logs: string[] = [];
  const clock = new ManualClock(1000);
  const logger = createLogger({ level: 'debug', destination: new Writable({ write: (chunk, _e, cb) => (logs.push(String(chunk)), cb()) }) });
  const auth = new ConfiguredAuthSource({
    config: { file: '/etc/pgha/userlist.txt', type: 'scram-sha-256', query: DEFAULT_AUTH_QUERY, ...config },
    scheduler: clock,
    logger,
    defaultTarget: () => TARGET,
    readText: async (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return text;
    },
    ...(runQuery ? { runQuery } : {}),
  });
  return { auth, clock, logs, files };
}

const isConfigError = (field: string, message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ConfigError);
  assert.equal(err.field, field);
  assert.match(err.message, message);
  assert.doesNotMatch(err.message, /topsecret|auth-user-pw/);
  return true;
};

describe('AuthSource: the userlist file', () => {
  it('is read at load and answers lookups; users it does not list are unknown without auth_query', async () => {
    const { auth } = source({ '/etc/pgha/userlist.txt': '"alice" "pw"\n' });
    await auth.load();
    assert.deepEqual(await auth.lookup('alice'), { kind: 'plain', password: 'pw' });
    assert.equal(await auth.lookup('bob'), undefined);
    assert.equal(auth.size, 1);
  });

  it('a broken line stops the load with auth.file, the file name and the line number; no secret in it', async () => {
    const { auth } = source({ '/etc/pgha/userlist.txt': '"alice" "pw"\n"bob" topsecret\n' });
    await assert.rejects(auth.load(), isConfigError('auth.file', /\/etc\/pgha\/userlist\.txt line 2: expected the password or secret of "bob"/));
    const missing = source({});
    await assert.rejects(missing.auth.load(), isConfigError('auth.file', /cannot read \/etc\/pgha\/userlist\.txt: ENOENT/));
  });

  it('reload: a good file replaces the list; a broken one is refused and the previous list stays in force', async () => {
    const s = source({ '/etc/pgha/userlist.txt': '"alice" "pw"\n' });
    await s.auth.load();
    s.files['/etc/pgha/userlist.txt'] = '"alice" "new"\n"carol" "c"\n';
    await s.auth.load();
    assert.deepEqual(await s.auth.lookup('alice'), { kind: 'plain', password: 'new' });
    s.files['/etc/pgha/userlist.txt'] = '"alice" "topsecret\n';
    await assert.rejects(s.auth.load(), /line 1/);
    assert.deepEqual(await s.auth.lookup('carol'), { kind: 'plain', password: 'c' });
  });

  it("auth.user must be listed with a plain password (the router logs in with it)", async () => {
    const scram = formatScramSecret(scramSecretFromPassword('x'));
    await assert.rejects(source({ '/etc/pgha/userlist.txt': '' }, { user: 'pgha_auth' }).auth.load(), isConfigError('auth.user', /"pgha_auth" in \/etc\/pgha\/userlist\.txt is missing/));
    await assert.rejects(source({ '/etc/pgha/userlist.txt': `"pgha_auth" "${scram}"` }, { user: 'pgha_auth' }).auth.load(), isConfigError('auth.user', /is not a plain password/));
  });
});

describe('AuthSource: auth_query for users the file lacks', () => {
  const files = { '/etc/pgha/userlist.txt': `"pgha_auth" "${AUTH_PW}"\n"alice" "listed"\n` };

  it('runs as auth.user with its password on the target, $1 = the user; listed users never query', async () => {
    const calls: unknown[] = [];
    const secret = formatScramSecret(scramSecretFromPassword('bobpw'));
    const { auth } = source(files, { user: 'pgha_auth' }, async (q) => (calls.push(q), q.user === 'bob' ? secret : null));
    await auth.load();
    assert.deepEqual(await auth.lookup('alice'), { kind: 'plain', password: 'listed' });
    const bob = await auth.lookup('bob');
    assert.equal(bob?.kind, 'scram');
    assert.equal(await auth.lookup('nobody', { host: 'h2', port: 6432, database: 'other' }), undefined);
    assert.deepEqual(calls, [
      { target: TARGET, sql: DEFAULT_AUTH_QUERY, user: 'bob', authUser: 'pgha_auth', password: AUTH_PW },
      { target: { host: 'h2', port: 6432, database: 'other' }, sql: DEFAULT_AUTH_QUERY, user: 'nobody', authUser: 'pgha_auth', password: AUTH_PW },
    ]);
  });

  it('answers (found or not) are cached for a short time; concurrent lookups share one query', async () => {
    let calls = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { auth, clock } = source(files, { user: 'pgha_auth' }, async () => (calls++, await gate, 'md5' + 'a'.repeat(32)));
    await auth.load();
    const burst = Promise.all([auth.lookup('bob'), auth.lookup('bob'), auth.lookup('bob')]);
    release();
    assert.deepEqual((await burst).map((s) => s?.kind), ['md5', 'md5', 'md5']);
    assert.equal(calls, 1, 'one query for the burst');
    clock.advance(AUTH_QUERY_CACHE_MS - 1);
    await auth.lookup('bob');
    assert.equal(calls, 1, 'cached');
    clock.advance(1);
    await auth.lookup('bob');
    assert.equal(calls, 2, 'expired: asked again');
  });

  it('a failing query counts as an unknown user, is logged with its error and without the password, and is not cached', async () => {
    let fail = true;
    const { auth, logs } = source(files, { user: 'pgha_auth' }, async () => {
      if (fail) throw new Error('connect ECONNREFUSED 10.0.0.1:5432');
      return 'bobpw';
    });
    await auth.load();
    assert.equal(await auth.lookup('bob'), undefined);
    const line = logs.find((l) => l.includes('auth_query failed'))!;
    assert.match(line, /"err":\{.*ECONNREFUSED/);
    assert.match(line, /"user":"bob"/);
    assert.doesNotMatch(logs.join(''), new RegExp(AUTH_PW));
    fail = false;
    assert.deepEqual(await auth.lookup('bob'), { kind: 'plain', password: 'bobpw' });
  });

  it('a damaged secret from the query is logged (which part, not the text) and counts as unknown', async () => {
    const { auth, logs } = source(files, { user: 'pgha_auth' }, async () => 'SCRAM-SHA-256$4096:topsecret');
    await auth.load();
    assert.equal(await auth.lookup('bob'), undefined);
    assert.match(logs.join(''), /unusable secret/);
    assert.doesNotMatch(logs.join(''), /topsecret/);
  });
});
