import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ServerLogin } from '../../../../src/router/auth/server-login';
import { formatScramSecret, parseSecret, scramSecretFromPassword, type Secret } from '../../../../src/router/auth/secrets';
import {
  clientProof, keysForPassword, parseAttributes, recoverClientKey, serverSignature, sha256, saslprep, decodeBase64,
} from '../../../../src/router/auth/scram';
import { encodeAuthentication, encodeAuthenticationSASL } from '../../../../src/router/auth/messages';

/** The body of a whole message (after type byte and length), as the pool's framing hands it over. */
const body = (msg: Buffer): Buffer => msg.subarray(5);
const R = (code: number, data?: Buffer | string): Buffer => body(encodeAuthentication(code, typeof data === 'string' ? Buffer.from(data) : data));
const md5hex = (s: string | Buffer): string => createHash('md5').update(s).digest('hex');
/** The random source, fixed: the client nonce is then base64 of 18 bytes of 7s. */
const sevens = (n: number): Buffer => Buffer.alloc(n, 7);
const CLIENT_NONCE = sevens(18).toString('base64');

/** A PasswordMessage's text. */
const passwordOf = (msg: Buffer): string => {
  assert.equal(String.fromCharCode(msg[0]!), 'p');
  assert.equal(msg.readInt32BE(1), msg.length - 1);
  return msg.toString('utf8', 5, msg.length - 1);
};

/** SASLInitialResponse → [mechanism, data]. */
const initialResponseOf = (msg: Buffer): [string, string] => {
  const nul = msg.indexOf(0, 5);
  const mechanism = msg.toString('utf8', 5, nul);
  const length = msg.readInt32BE(nul + 1);
  const data = msg.toString('utf8', nul + 5);
  assert.equal(data.length, length);
  return [mechanism, data];
};

/**
 * A SCRAM server, written out from RFC 5802 in the test (not through ServerLogin): the first two server messages
 * for the login under test, and a check of its proof.
 */
function scramServer(secret: Extract<Secret, { kind: 'scram' }>, serverNonceTail = 'srvTAIL') {
  let clientFirstBare = '';
  let serverFirst = '';
  return {
    first(initial: string): Buffer {
      assert.ok(initial.startsWith('n,,'), 'no channel binding');
      clientFirstBare = initial.slice(3);
      const r = parseAttributes(clientFirstBare)!.find(([k]) => k === 'r')![1];
      serverFirst = `r=${r}${serverNonceTail},s=${secret.salt.toString('base64')},i=${secret.iterations}`;
      return R(11, serverFirst);
    },
    final(response: string, signatureOverride?: Buffer): { ok: boolean; msg: Buffer } {
      const proofAt = response.lastIndexOf(',p=');
      const withoutProof = response.slice(0, proofAt);
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const clientKey = recoverClientKey(secret.storedKey, authMessage, decodeBase64(response.slice(proofAt + 3))!);
      const ok = sha256(clientKey).equals(secret.storedKey);
      const sig = signatureOverride ?? serverSignature(secret.serverKey, authMessage);
      return { ok, msg: R(12, `v=${sig.toString('base64')}`) };
    },
  };
}

describe('SCRAM-SHA-256 primitives: RFC 7677 test vector', () => {
  it('gives the RFC proof and server signature for user "user", password "pencil"', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const keys = keysForPassword('pencil', salt, 4096);
    const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
    const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    const withoutProof = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
    assert.equal(clientProof(keys.clientKey, authMessage).toString('base64'), 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    assert.equal(serverSignature(keys.serverKey, authMessage).toString('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    // A verifier holding only StoredKey recovers ClientKey from the proof.
    const recovered = recoverClientKey(keys.storedKey, authMessage, Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64'));
    assert.ok(recovered.equals(keys.clientKey));
  });

  it('SASLprep maps non-ASCII spaces and drops soft hyphens; refused input is used raw, as PostgreSQL does', () => {
    assert.equal(saslprep('I\u00adX').toString(), 'IX');
    assert.equal(saslprep('a\u00a0b').toString(), 'a b');
    assert.equal(saslprep('\u2168').toString(), 'IX'); // NFKC
    assert.equal(saslprep('bell\u0007').toString(), 'bell\u0007');
  });
});

describe('secrets: the text forms of pg_authid and userlists', () => {
  it('parses md5 hashes, SCRAM secrets and takes anything else as a plain password', () => {
    const scram = scramSecretFromPassword('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    const text = formatScramSecret(scram);
    assert.match(text, /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    assert.deepEqual(parseSecret(text), scram);
    assert.deepEqual(parseSecret('md53175bce1d3201d16594cebf9d7eb3f9d'), { kind: 'md5', hash: 'md53175bce1d3201d16594cebf9d7eb3f9d' });
    assert.deepEqual(parseSecret('md5 is not a hash'), { kind: 'plain', password: 'md5 is not a hash' });
    assert.deepEqual(parseSecret(''), { kind: 'plain', password: '' });
  });

  it('refuses a damaged SCRAM secret, saying which part, without repeating it', () => {
    const good = formatScramSecret(scramSecretFromPassword('hunter2'));
    const [head, keys] = good.split('$').slice(1);
    const cases: [string, RegExp][] = [
      ['SCRAM-SHA-256$4096:c2FsdA==', /no "\$"/],
      [`SCRAM-SHA-256$0:${head!.split(':')[1]}$${keys}`, /iteration count/],
      [`SCRAM-SHA-256$${head}$${keys!.split(':')[0]}`, /number of fields/],
      [`SCRAM-SHA-256$4096:not*base64$${keys}`, /salt/],
      [`SCRAM-SHA-256$${head}$c2hvcnQ=:${keys!.split(':')[1]}`, /StoredKey/],
    ];
    for (const [text, why] of cases) {
      assert.throws(() => parseSecret(text), (err: Error) => why.test(err.message) && !err.message.includes(keys!.split(':')[1]!) && !err.message.includes(text));
    }
  });
});

describe('ServerLogin: the router logs in to PostgreSQL', () => {
  it('trust: AuthenticationOk at once is a login, with or without a secret', () => {
    assert.deepEqual(new ServerLogin({ user: 'u', secret: undefined }).receive(R(0)), { done: true });
    assert.deepEqual(new ServerLogin({ user: 'u', secret: { kind: 'plain', password: 'x' } }).receive(R(0)), { done: true });
  });

  it('cleartext: sends the plain password; an md5 hash or SCRAM secret cannot answer it', () => {
    const login = new ServerLogin({ user: 'u', secret: { kind: 'plain', password: 'p w' } });
    assert.equal(passwordOf(login.receive(R(3)).send!), 'p w');
    assert.deepEqual(login.receive(R(0)), { done: true });
    const step = new ServerLogin({ user: 'u', secret: parseSecret('md53175bce1d3201d16594cebf9d7eb3f9d') }).receive(R(3));
    assert.match(step.error!, /cleartext.*only an md5 hash for user "u"/);
    assert.ok(!step.error!.includes('3175bce'));
  });

  it("md5: answers md5(md5(password + user) + salt), from the password or from pg_authid's hash", () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const expected = 'md5' + md5hex(Buffer.concat([Buffer.from(md5hex('postgrespostgres')), salt]));
    const fromPassword = new ServerLogin({ user: 'postgres', secret: { kind: 'plain', password: 'postgres' } });
    assert.equal(passwordOf(fromPassword.receive(R(5, salt)).send!), expected);
    const fromHash = new ServerLogin({ user: 'postgres', secret: parseSecret('md53175bce1d3201d16594cebf9d7eb3f9d') });
    assert.equal(passwordOf(fromHash.receive(R(5, salt)).send!), expected);
    assert.match(new ServerLogin({ user: 'u', secret: scramSecretFromPassword('x') }).receive(R(5, salt)).error!, /md5 .*only a SCRAM secret/);
    assert.match(new ServerLogin({ user: 'u', secret: undefined }).receive(R(5, salt)).error!, /holds no password for user "u"/);
  });

  it('SCRAM from a plain password: the full exchange, and the server signature is checked', () => {
    const password = 'correct horse';
    const secret = scramSecretFromPassword(password);
    const server = scramServer(secret);
    const login = new ServerLogin({ user: 'alice', secret: { kind: 'plain', password }, random: sevens });
    const [mechanism, initial] = initialResponseOf(login.receive(body(encodeAuthenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']))).send!);
    assert.equal(mechanism, 'SCRAM-SHA-256');
    assert.equal(initial, `n,,n=,r=${CLIENT_NONCE}`);
    const response = login.receive(server.first(initial)).send!.toString('utf8', 5);
    assert.match(response, new RegExp(`^c=biws,r=${CLIENT_NONCE.replace(/[+/]/g, '\\$&')}srvTAIL,p=`));
    const { ok, msg } = server.final(response);
    assert.ok(ok, 'the server accepts the proof');
    assert.deepEqual(login.receive(msg), {});
    assert.deepEqual(login.receive(R(0)), { done: true });
  });

  it('SCRAM from a secret plus the ClientKey a client proof revealed (how a pooler logs in without the password)', () => {
    const secret = scramSecretFromPassword('s3cret');
    const { clientKey } = keysForPassword('s3cret', secret.salt, secret.iterations);
    const server = scramServer(secret);
    const login = new ServerLogin({ user: 'bob', secret, clientKey });
    const [, initial] = initialResponseOf(login.receive(body(encodeAuthenticationSASL(['SCRAM-SHA-256']))).send!);
    const { ok, msg } = server.final(login.receive(server.first(initial)).send!.toString('utf8', 5));
    assert.ok(ok);
    assert.deepEqual(login.receive(msg), {});
    assert.deepEqual(login.receive(R(0)), { done: true });

    const noKey = new ServerLogin({ user: 'bob', secret });
    assert.match(noKey.receive(body(encodeAuthenticationSASL(['SCRAM-SHA-256']))).error!, /no client proof/);
  });

  it('SCRAM: a server that does not hold the secret is refused (wrong signature, early Ok, server error)', () => {
    const secret = scramSecretFromPassword('pw');
    const start = () => {
      const login = new ServerLogin({ user: 'eve', secret: { kind: 'plain', password: 'pw' } });
      const server = scramServer(secret);
      const [, initial] = initialResponseOf(login.receive(body(encodeAuthenticationSASL(['SCRAM-SHA-256']))).send!);
      const response = login.receive(server.first(initial)).send!.toString('utf8', 5);
      return { login, server, response };
    };
    const a = start();
    const wrong = a.login.receive(a.server.final(a.response, Buffer.alloc(32, 1)).msg);
    assert.match(wrong.error!, /signature is wrong/);
    assert.deepEqual(a.login.receive(R(0)), wrong, 'a failed login stays failed');

    const b = start();
    assert.match(b.login.receive(R(0)).error!, /before completing the SCRAM exchange/);

    const c = start();
    assert.match(c.login.receive(R(12, 'e=invalid-proof')).error!, /refused the SCRAM exchange: invalid-proof/);
  });

  it('SCRAM: a hostile server-first-message is an error, never a throw', () => {
    const bad = [
      'r=someoneelse,s=c2FsdA==,i=4096',
      `r=${CLIENT_NONCE},s=c2FsdA==,i=4096`, // does not extend the nonce
      `r=${CLIENT_NONCE}x,s=***,i=4096`,
      `r=${CLIENT_NONCE}x,s=c2FsdA==,i=0`,
      `r=${CLIENT_NONCE}x,s=c2FsdA==,i=99999999999`,
      `r=${CLIENT_NONCE}x,s=c2FsdA==`,
      '',
      'garbage',
    ];
    for (const text of bad) {
      const login = new ServerLogin({ user: 'u', secret: { kind: 'plain', password: 'pw' }, random: sevens });
      login.receive(body(encodeAuthenticationSASL(['SCRAM-SHA-256'])));
      const step = login.receive(R(11, text));
      assert.ok(step.error && !step.send, `refused: ${JSON.stringify(text)}`);
      assert.ok(!step.error.includes('pw'));
    }
  });

  it('refuses what it cannot do: unknown methods, no SCRAM offered, malformed or out-of-order requests', () => {
    const pw: Secret = { kind: 'plain', password: 'pw' };
    assert.match(new ServerLogin({ user: 'u', secret: pw }).receive(R(7)).error!, /not support \(code 7\)/);
    assert.match(new ServerLogin({ user: 'u', secret: pw }).receive(body(encodeAuthenticationSASL(['SCRAM-SHA-256-PLUS']))).error!, /offered: SCRAM-SHA-256-PLUS/);
    assert.match(new ServerLogin({ user: 'u', secret: pw }).receive(Buffer.from([0, 0])).error!, /shorter than its code/);
    assert.match(new ServerLogin({ user: 'u', secret: pw }).receive(R(5, Buffer.from([1]))).error!, /4-byte salt/);
    assert.match(new ServerLogin({ user: 'u', secret: pw }).receive(R(11, 'r=x')).error!, /unexpected SASLContinue/);
    assert.match(new ServerLogin({ user: 'u', secret: pw }).receive(R(12, 'v=x')).error!, /unexpected SASLFinal/);
    const sasl = Buffer.concat([Buffer.from([0, 0, 0, 10]), Buffer.from('SCRAM-SHA-256')]);
    assert.match(new ServerLogin({ user: 'u', secret: pw }).receive(sasl).error!, /mechanism list/);
  });
});
