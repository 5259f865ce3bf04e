/**
 * ServerLogin against a real PostgreSQL 15: the router logs in over a raw socket (a tiny driver here: startup,
 * then each 'R' message fed to ServerLogin, then one query) as users whose passwords pg_authid stores as SCRAM
 * secrets and as md5 hashes, with a cleartext pg_hba line and a trust line, from a plain password, from the md5
 * hash, and from the SCRAM secret plus the ClientKey a client proof would reveal.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { ServerLogin } from '../../../src/router/auth/server-login';
import { formatScramSecret, parseSecret, scramSecretFromPassword, type Secret } from '../../../src/router/auth/secrets';
import { keysForPassword } from '../../../src/router/auth/scram';
import { decodeErrorResponse, encodeStartup } from '../../../src/router/wire';
import { initPrimary, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';

const SCRAM_PW = 'scr%am pw';
const MD5_PW = 'md5 pw';
const CLEAR_PW = 'clear pw';
const DEADLINE_MS = 20_000;

interface LoginResult {
  /** current_user, after a successful login and query. */
  user?: string;
  /** ServerLogin's own error. */
  loginError?: string;
  /** The server's ErrorResponse fields. */
  serverError?: Record<string, string>;
}

/** Logs in as `user` with ServerLogin over a raw socket, then runs SELECT current_user. */
function login(port: number, user: string, secret: Secret | undefined, clientKey?: Buffer): Promise<LoginResult> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const exchange = new ServerLogin({ user, secret, clientKey });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`login as ${user}: no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    const finish = (result: LoginResult | Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    let result: LoginResult = {};
    sock.on('error', (err) => finish(err));
    sock.on('connect', () => sock.write(encodeStartup({ user, database: 'postgres' })));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
        const whole = buf.subarray(0, 1 + buf.readInt32BE(1));
        buf = buf.subarray(whole.length);
        const type = String.fromCharCode(whole[0]!);
        if (type === 'R') {
          const step = exchange.receive(whole.subarray(5));
          if (step.error) return finish({ loginError: step.error });
          if (step.send) sock.write(step.send);
        } else if (type === 'E') {
          return finish({ serverError: decodeErrorResponse(whole) });
        } else if (type === 'Z' && result.user === undefined) {
          const sql = Buffer.from('SELECT current_user\0');
          const q = Buffer.alloc(5);
          q[0] = 0x51;
          q.writeInt32BE(4 + sql.length, 1);
          sock.write(Buffer.concat([q, sql]));
          result = { user: '' };
        } else if (type === 'D') {
          // DataRow: int16 columns, int32 length, value.
          result = { user: whole.toString('utf8', 11, 11 + whole.readInt32BE(7)) };
        } else if (type === 'Z') {
          return finish(result);
        }
      }
    });
  });
}

describe('ServerLogin against a real PostgreSQL', () => {
  let pg: TestPostgres;
  const authid = new Map<string, string>();

  before(async () => {
    pg = await initPrimary({ name: 'auth-login' });
    const admin = new Client({ host: '127.0.0.1', port: pg.port, user: pg.superuser.username, password: pg.superuser.password, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query("SET password_encryption = 'scram-sha-256'");
      await admin.query(`CREATE ROLE scram_user LOGIN PASSWORD '${SCRAM_PW}'`);
      await admin.query(`CREATE ROLE clear_user LOGIN PASSWORD '${CLEAR_PW}'`);
      await admin.query('CREATE ROLE trust_user LOGIN');
      await admin.query("SET password_encryption = 'md5'");
      await admin.query(`CREATE ROLE md5_user LOGIN PASSWORD '${MD5_PW}'`);
      const rows = await admin.query<{ rolname: string; rolpassword: string }>("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('scram_user', 'md5_user')");
      for (const r of rows.rows) authid.set(r.rolname, r.rolpassword);
      // Lines before pgha's md5 lines: a cleartext method for one user, trust for another.
      const hba = join(pg.dataDir, 'pg_hba.conf');
      writeFileSync(hba, `host all clear_user 127.0.0.1/32 password\nhost all trust_user 127.0.0.1/32 trust\n${readFileSync(hba, 'utf8')}`);
      await admin.query('SELECT pg_reload_conf()');
    } finally {
      await admin.end();
    }
    await waitFor('the trust line to apply', async () => (await login(pg.port, 'trust_user', undefined)).user === 'trust_user', { timeoutMs: DEADLINE_MS });
  });

  after(async () => {
    await pg?.destroy();
  });

  it("derives the very SCRAM secret PostgreSQL stores (same salt and iterations)", () => {
    const stored = parseSecret(authid.get('scram_user')!);
    assert.equal(stored.kind, 'scram');
    if (stored.kind !== 'scram') return;
    assert.equal(formatScramSecret(scramSecretFromPassword(SCRAM_PW, stored.salt, stored.iterations)), authid.get('scram_user'));
  });

  it('SCRAM-SHA-256: logs in from the plain password, and from the secret plus the ClientKey', async () => {
    assert.deepEqual(await login(pg.port, 'scram_user', { kind: 'plain', password: SCRAM_PW }), { user: 'scram_user' });
    const secret = parseSecret(authid.get('scram_user')!);
    assert.ok(secret.kind === 'scram');
    const { clientKey } = keysForPassword(SCRAM_PW, secret.salt, secret.iterations);
    assert.deepEqual(await login(pg.port, 'scram_user', secret, clientKey), { user: 'scram_user' });
  });

  it('SCRAM-SHA-256: a wrong password is refused by the server (28P01), a wrong ClientKey by the router; no secret in either', async () => {
    const wrong = await login(pg.port, 'scram_user', { kind: 'plain', password: 'not it' });
    assert.equal(wrong.serverError?.C, '28P01');
    assert.doesNotMatch(JSON.stringify(wrong), /not it|scr%am/);
    const secret = parseSecret(authid.get('scram_user')!);
    assert.ok(secret.kind === 'scram');
    const other = await login(pg.port, 'scram_user', secret, keysForPassword('not it', secret.salt, secret.iterations).clientKey);
    assert.match(other.loginError!, /client proof does not match/);
    assert.ok(!other.loginError!.includes(secret.storedKey.toString('base64')));
  });

  it('md5: logs in from the plain password and from the hash pg_authid stores; a wrong one gets 28P01', async () => {
    assert.deepEqual(await login(pg.port, 'md5_user', { kind: 'plain', password: MD5_PW }), { user: 'md5_user' });
    assert.deepEqual(await login(pg.port, 'md5_user', parseSecret(authid.get('md5_user')!)), { user: 'md5_user' });
    const wrong = await login(pg.port, 'md5_user', { kind: 'plain', password: 'nope' });
    assert.equal(wrong.serverError?.C, '28P01');
    assert.doesNotMatch(JSON.stringify(wrong), /nope/);
  });

  it('cleartext: logs in from the plain password; an md5 hash cannot answer it (the router says so, secret-free)', async () => {
    assert.deepEqual(await login(pg.port, 'clear_user', { kind: 'plain', password: CLEAR_PW }), { user: 'clear_user' });
    const hash = 'md5' + '0'.repeat(32);
    const r = await login(pg.port, 'clear_user', parseSecret(hash));
    assert.match(r.loginError!, /only an md5 hash for user "clear_user"/);
    assert.ok(!r.loginError!.includes(hash));
  });

  it('trust: logs in with no secret at all', async () => {
    assert.deepEqual(await login(pg.port, 'trust_user', undefined), { user: 'trust_user' });
  });
});
