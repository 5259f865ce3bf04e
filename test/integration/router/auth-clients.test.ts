/**
 * ClientAuthExchange against real clients: node-postgres (`pg`) and psql (libpq) log in to a tiny server in this
 * file (node:net) that answers SSLRequest/GSSENCRequest with 'N', drives ClientAuthExchange with each 'p'
 * message, then greets and answers every simple query with CommandComplete. Right and wrong passwords, SCRAM,
 * plain and md5 userlist entries, an unknown user. libpq checks the router's SASLFinal signature itself, so a
 * successful psql login also proves the server half of SCRAM.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { ClientAuthExchange, type AuthStep, type AuthType } from '../../../src/router/auth/client-auth';
import { parseUserlist } from '../../../src/router/auth/userlist';
import { formatScramSecret, scramSecretFromPassword, type Secret } from '../../../src/router/auth/secrets';
import { encodeAuthentication, message } from '../../../src/router/auth/messages';
import { encodeErrorResponse, parseFrontendPacket } from '../../../src/router/wire';
import { findBinDir } from '../../../src/postgres/bin';

const PW = { scram: 'scr%am pw', plain: 'pl@in pw', md5: 'md5 pw' };
const USERLIST = [
  `"scram_user" "${formatScramSecret(scramSecretFromPassword(PW.scram))}"`,
  `"plain_user" "${PW.plain}"`,
  `"md5_user" "md5${createHash('md5').update(PW.md5 + 'md5_user').digest('hex')}"`,
].join('\n');
const CLIENT_TIMEOUT_MS = 20_000;

interface AuthServer {
  port: number;
  /** The failure reasons seen, in order (what the router's metric would count). */
  failures: string[];
  close(): Promise<void>;
}

const cstr = (s: string) => Buffer.from(`${s}\0`);
const readyForQuery = () => message('Z', Buffer.from('I'));

function greeting(messages: Buffer[]): Buffer {
  const params = { server_version: '15.0', server_encoding: 'UTF8', client_encoding: 'UTF8', DateStyle: 'ISO, MDY', integer_datetimes: 'on', standard_conforming_strings: 'on' };
  const key = Buffer.alloc(8);
  key.writeInt32BE(4242, 0);
  key.writeInt32BE(99, 4);
  return Buffer.concat([
    ...messages,
    encodeAuthentication(0),
    ...Object.entries(params).map(([k, v]) => message('S', Buffer.concat([cstr(k), cstr(v)]))),
    message('K', key),
    readyForQuery(),
  ]);
}

/** One client connection: first packet(s), then 'p' messages into the exchange, then simple queries. */
function serve(sock: Socket, users: Map<string, Secret>, type: AuthType, failures: string[]): void {
  let buf = Buffer.alloc(0);
  let exchange: ClientAuthExchange | undefined;
  let ready = false;
  let refused = false;
  const apply = (step: AuthStep) => {
    if (step.kind === 'send') sock.write(Buffer.concat(step.messages));
    else if (step.kind === 'ok') {
      ready = true;
      sock.write(greeting(step.messages));
    } else {
      failures.push(step.reason);
      refused = true;
      sock.end(encodeErrorResponse({ sqlstate: step.sqlstate, message: step.message }));
    }
  };
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    // After a refusal nothing more is read (a client's Terminate would look like another failure).
    while (!sock.destroyed && !refused) {
      if (!exchange) {
        const first = parseFrontendPacket(buf);
        if (first.kind === 'incomplete') return;
        if (first.kind === 'ssl' || first.kind === 'gssenc') {
          buf = buf.subarray(8);
          sock.write('N');
          continue;
        }
        if (first.kind !== 'startup') return void sock.destroy();
        buf = buf.subarray(first.length);
        const user = first.params.user ?? '';
        exchange = new ClientAuthExchange({ user, secret: users.get(user), type });
        apply(exchange.start());
        continue;
      }
      if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
      const whole = buf.subarray(0, 1 + buf.readInt32BE(1));
      buf = buf.subarray(whole.length);
      const kind = String.fromCharCode(whole[0]!);
      if (!ready) apply(kind === 'p' ? exchange.receive(whole.subarray(5)) : { kind: 'fail', sqlstate: '08P01', message: 'expected a password message', reason: 'protocol' });
      else if (kind === 'Q') sock.write(Buffer.concat([message('C', cstr('SET')), readyForQuery()]));
      else if (kind === 'X') sock.end();
    }
  });
}

async function startAuthServer(type: AuthType): Promise<AuthServer> {
  const users = parseUserlist(USERLIST, 'test userlist');
  const failures: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    serve(sock, users, type, failures);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    failures,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** node-postgres: connect and run one query; the error's code and message, or 'ok'. */
async function withPg(port: number, user: string, password: string): Promise<string> {
  const client = new Client({ host: '127.0.0.1', port, user, password, database: 'app', connectionTimeoutMillis: CLIENT_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SET application_name = x');
    return 'ok';
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** psql (libpq, sslmode=prefer: it asks for TLS first and gets 'N'): 'ok' or its stderr. */
function withPsql(port: number, user: string, password: string): Promise<string> {
  const psql = join(findBinDir(), 'psql');
  return new Promise((resolve) => {
    execFile(
      psql,
      ['-X', '-w', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'app', '-c', 'SET application_name = x'],
      { env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '20', PGSSLMODE: 'prefer' }, timeout: CLIENT_TIMEOUT_MS },
      (err, stdout, stderr) => resolve(err ? stderr.trim() : stdout.trim() === 'SET' ? 'ok' : `unexpected output: ${stdout}`),
    );
  });
}

const clients = { pg: withPg, psql: withPsql };

describe('ClientAuthExchange with real clients (pg, psql)', () => {
  let scramServer: AuthServer;
  let md5Server: AuthServer;
  before(async () => {
    scramServer = await startAuthServer('scram-sha-256');
    md5Server = await startAuthServer('md5');
  });
  after(async () => {
    await scramServer?.close();
    await md5Server?.close();
  });

  for (const [name, connect] of Object.entries(clients)) {
    it(`${name}: logs in with SCRAM (secret and plain entries) and md5 (hash entry), right passwords`, async () => {
      assert.equal(await connect(scramServer.port, 'scram_user', PW.scram), 'ok');
      assert.equal(await connect(scramServer.port, 'plain_user', PW.plain), 'ok');
      assert.equal(await connect(scramServer.port, 'md5_user', PW.md5), 'ok');
      assert.equal(await connect(md5Server.port, 'plain_user', PW.plain), 'ok', 'auth type md5, plain entry');
      assert.equal(await connect(md5Server.port, 'scram_user', PW.scram), 'ok', 'auth type md5, SCRAM entry: SCRAM');
    });

    it(`${name}: wrong passwords and an unknown user get the same 28P01, counted by reason`, async () => {
      const before = scramServer.failures.length;
      for (const user of ['scram_user', 'plain_user', 'md5_user', 'nobody']) {
        const r = await connect(scramServer.port, user, 'wrong pw');
        assert.match(r, new RegExp(`password authentication failed for user "${user}"`));
        if (name === 'pg') assert.match(r, /^28P01: /);
        assert.doesNotMatch(r, /scr%am|pl@in|md5 pw/);
      }
      assert.deepEqual(scramServer.failures.slice(before), ['wrong_password', 'wrong_password', 'wrong_password', 'unknown_user']);
    });
  }
});
