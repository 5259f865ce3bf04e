import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ClientAuthExchange, MAX_AUTH_MESSAGE_BYTES, type AuthStep, type AuthType } from '../../../../src/router/auth/client-auth';
import { ServerLogin } from '../../../../src/router/auth/server-login';
import { parseSecret, scramSecretFromPassword, type Secret } from '../../../../src/router/auth/secrets';
import { keysForPassword } from '../../../../src/router/auth/scram';
import { encodeSASLInitialResponse, encodeSASLResponse, encodePasswordMessage } from '../../../../src/router/auth/messages';

const body = (msg: Buffer): Buffer => msg.subarray(5);
const md5hex = (s: string | Buffer): string => createHash('md5').update(s).digest('hex');
const PASSWORD = 'open sesame';
const plain: Secret = { kind: 'plain', password: PASSWORD };
const scram = scramSecretFromPassword(PASSWORD);
const md5: Secret = { kind: 'md5', hash: `md5${md5hex(PASSWORD + 'ann')}` };

/** Runs a whole exchange with ServerLogin as the client (holding `clientSecret`); returns the router's last step. */
function exchange(type: AuthType, secret: Secret | undefined, clientSecret: Secret, user = 'ann'): { step: AuthStep; rounds: number; methods: number[] } {
  const server = new ClientAuthExchange({ user, secret, type });
  const client = new ServerLogin({ user, secret: clientSecret });
  let step = server.start();
  const methods: number[] = [];
  let rounds = 0;
  while (step.kind === 'send') {
    rounds++;
    const reply = client.receive(body(step.messages[0]!));
    methods.push(step.messages[0]!.readInt32BE(5));
    assert.ok(reply.send, `client answers (${reply.error ?? ''})`);
    step = server.receive(body(reply.send));
  }
  if (step.kind === 'ok') {
    for (const m of step.messages) assert.deepEqual(client.receive(body(m)), {}, 'the client checks the server signature');
  }
  return { step, rounds, methods };
}

/** The router after a started SCRAM exchange; `first` is the client-first-message. */
function scramAt(secret: Secret | undefined = scram, first = 'n,,n=,r=clientnonce') {
  const server = new ClientAuthExchange({ user: 'ann', secret, type: 'scram-sha-256' });
  server.start();
  const step = server.receive(body(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from(first))));
  const serverFirst = step.kind === 'send' ? body(step.messages[0]!).subarray(4).toString() : '';
  return { server, step, serverFirst, nonce: /r=([^,]+)/.exec(serverFirst)?.[1] ?? '' };
}

const failed = (step: AuthStep, sqlstate: string, reason: string, message?: RegExp) => {
  assert.equal(step.kind, 'fail', JSON.stringify(step));
  if (step.kind !== 'fail') return;
  assert.equal(step.sqlstate, sqlstate);
  assert.equal(step.reason, reason);
  if (message) assert.match(step.message, message);
  assert.ok(!step.message.includes(PASSWORD));
};

describe('ClientAuthExchange: a client logs in to the router', () => {
  it('SCRAM-SHA-256 for a SCRAM secret: the client gets SASLFinal and the router the ClientKey to log in upstream', () => {
    const { step, methods } = exchange('scram-sha-256', scram, plain);
    assert.deepEqual(methods, [10, 11]);
    assert.equal(step.kind, 'ok');
    assert.ok(step.kind === 'ok' && step.clientKey?.equals(keysForPassword(PASSWORD, scram.salt, scram.iterations).clientKey));
  });

  it('SCRAM-SHA-256 for a plain password entry (a secret derived per user), md5 for an md5 hash entry', () => {
    assert.equal(exchange('scram-sha-256', plain, plain).step.kind, 'ok');
    const viaMd5 = exchange('scram-sha-256', md5, plain);
    assert.deepEqual(viaMd5.methods, [5]);
    assert.equal(viaMd5.step.kind, 'ok');
  });

  it('md5 type: md5 for password and hash entries (the client may hold the hash), SCRAM for a SCRAM secret', () => {
    assert.deepEqual(exchange('md5', plain, md5).methods, [5]);
    assert.equal(exchange('md5', plain, md5).step.kind, 'ok');
    assert.equal(exchange('md5', md5, plain).step.kind, 'ok');
    assert.deepEqual(exchange('md5', scram, plain).methods, [10, 11]);
  });

  it('plain type: cleartext checked against every kind of entry; a SCRAM entry yields the ClientKey', () => {
    for (const secret of [plain, md5, scram]) assert.equal(exchange('plain', secret, plain).step.kind, 'ok', secret.kind);
    const step = exchange('plain', scram, plain).step;
    assert.ok(step.kind === 'ok' && step.clientKey?.length === 32);
  });

  it('trust: no exchange at all', () => {
    assert.deepEqual(new ClientAuthExchange({ user: 'ann', secret: undefined, type: 'trust' }).start(), { kind: 'ok', messages: [] });
  });

  it('a wrong password fails with 28P01 in every method, never naming the password', () => {
    const wrong: Secret = { kind: 'plain', password: 'not it' };
    for (const [type, secret] of [['scram-sha-256', scram], ['scram-sha-256', plain], ['scram-sha-256', md5], ['md5', plain], ['plain', scram]] as const) {
      failed(exchange(type, secret, wrong).step, '28P01', 'wrong_password', /^password authentication failed for user "ann"$/);
    }
  });

  it('an unknown user runs a whole SCRAM exchange against a stable made-up salt and fails exactly like a wrong password', () => {
    const run = exchange('scram-sha-256', undefined, plain, 'nobody');
    assert.deepEqual(run.methods, [10, 11], 'the full exchange');
    failed(run.step, '28P01', 'unknown_user', /^password authentication failed for user "nobody"$/);
    assert.equal(exchange('md5', undefined, plain, 'nobody').step.kind, 'fail');
    const salt = () => /s=([^,]+)/.exec(scramAt(undefined).serverFirst)![1];
    assert.equal(salt(), salt(), 'the same salt on every attempt');
  });
});

describe('ClientAuthExchange: hostile clients get clean failures, never a throw', () => {
  it('truncated or malformed SASLInitialResponse → 08P01', () => {
    const whole = body(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from('n,,n=,r=abc')));
    for (let cut = 0; cut < whole.length; cut++) {
      const server = new ClientAuthExchange({ user: 'ann', secret: scram, type: 'scram-sha-256' });
      server.start();
      const step = server.receive(whole.subarray(0, cut));
      assert.equal(step.kind, 'fail', `cut at ${cut}`);
      assert.ok(step.kind === 'fail' && ['protocol', 'method'].includes(step.reason));
    }
    for (const first of ['', 'x,,n=,r=a', 'n,n=,r=a', 'n,,r=a', 'n,,n=,r=', 'n,,n=,r=a,b', 'n,,garbage']) {
      failed(scramAt(scram, first).step, '08P01', 'protocol');
    }
  });

  it('the wrong mechanism, channel binding requested, an authzid or a mandatory extension → 28000', () => {
    const server = new ClientAuthExchange({ user: 'ann', secret: scram, type: 'scram-sha-256' });
    server.start();
    failed(server.receive(body(encodeSASLInitialResponse('SCRAM-SHA-256-PLUS', Buffer.from('p=tls-server-end-point,,n=,r=a')))), '28000', 'method', /invalid SASL authentication mechanism/);
    failed(scramAt(scram, 'p=tls-server-end-point,,n=,r=a').step, '28000', 'method', /channel binding/);
    failed(scramAt(scram, 'n,a=ann,n=,r=a').step, '28000', 'method', /authorization identity/);
    failed(scramAt(scram, 'n,,m=ext,n=,r=a').step, '28000', 'method', /mandatory extensions/);
    assert.equal(scramAt(scram, 'y,,n=,r=a').step.kind, 'send', '"y": the client could bind, the server offers no -PLUS: fine');
  });

  it('wrong nonce, wrong channel binding, bad base64 or bad proof in the client-final-message', () => {
    const proof = Buffer.alloc(32, 9).toString('base64');
    const cases: [(nonce: string) => string, string, string][] = [
      [(n) => `c=biws,r=${n}x,p=${proof}`, '08P01', 'protocol'],
      [(n) => `c=eSws,r=${n},p=${proof}`, '08P01', 'protocol'], // "y,," where the client sent "n,,"
      [(n) => `c=biws,r=${n},p=***`, '08P01', 'protocol'],
      [(n) => `c=biws,r=${n},p=c2hvcnQ=`, '08P01', 'protocol'], // base64 but not 32 bytes
      [(n) => `c=biws,r=${n}`, '08P01', 'protocol'],
      [(n) => `r=${n},c=biws,p=${proof}`, '08P01', 'protocol'],
      [(n) => `c=biws,r=${n},p=${proof}`, '28P01', 'wrong_password'],
    ];
    for (const [final, sqlstate, reason] of cases) {
      const { server, nonce } = scramAt();
      failed(server.receive(body(encodeSASLResponse(Buffer.from(final(nonce))))), sqlstate, reason);
      failed(server.receive(Buffer.from('again')), '08P01', 'protocol', /unexpected authentication message/);
    }
  });

  it('md5 response of the wrong length or shape, a password message without its NUL → 08P01', () => {
    for (const response of [body(encodePasswordMessage('md5abc')), body(encodePasswordMessage(`md5${'g'.repeat(32)}`)), Buffer.from('md5'), Buffer.from('a\0b\0')]) {
      const server = new ClientAuthExchange({ user: 'ann', secret: md5, type: 'md5' });
      server.start();
      failed(server.receive(response), '08P01', 'protocol');
    }
    const server = new ClientAuthExchange({ user: 'ann', secret: plain, type: 'plain' });
    server.start();
    failed(server.receive(Buffer.from(PASSWORD)), '08P01', 'protocol', /malformed password message/);
  });

  it('an oversized message → 08P01 before any parsing or hashing', () => {
    const server = new ClientAuthExchange({ user: 'ann', secret: plain, type: 'plain' });
    server.start();
    failed(server.receive(Buffer.alloc(MAX_AUTH_MESSAGE_BYTES + 1, 0x61)), '08P01', 'protocol', /too long/);
  });

  it('a message before start or after the end → 08P01', () => {
    failed(new ClientAuthExchange({ user: 'ann', secret: plain, type: 'md5' }).receive(Buffer.from('x\0')), '08P01', 'protocol');
    const done = new ClientAuthExchange({ user: 'ann', secret: undefined, type: 'trust' });
    done.start();
    failed(done.receive(Buffer.from('x\0')), '08P01', 'protocol');
  });

  it('seeded random bytes at each step: always a step, never a throw', () => {
    let seed = 13;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    for (let i = 0; i < 500; i++) {
      const junk = Buffer.from(Array.from({ length: rnd() % 80 }, rnd));
      const type = (['scram-sha-256', 'md5', 'plain'] as const)[i % 3];
      const secret: Secret | undefined = [scram, md5, plain, undefined][i % 4];
      const server: ClientAuthExchange = new ClientAuthExchange({ user: 'ann', secret, type });
      server.start();
      const step = server.receive(junk);
      assert.ok(['send', 'fail'].includes(step.kind));
      if (step.kind === 'send') assert.equal(server.receive(junk).kind, 'fail');
    }
  });
});

describe('secrets in the round trip', () => {
  it("pg_authid's md5 form parses to what the exchange uses", () => {
    assert.deepEqual(parseSecret(`md5${md5hex(PASSWORD + 'ann')}`), md5);
  });
});
