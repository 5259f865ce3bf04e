/**
 * Scenarios for a pool's server connection opened with tls.server_mode (pool/server-tls.ts), against tiny fake
 * servers on loopback: what the pool logs when the server cannot be reached or refuses TLS, and that prefer falls
 * back to a plain login when the server answers 'N'.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { realScheduler } from '../../../../src/lib/clock';
import { openServer } from '../../../../src/router/pool/server-tls';
import type { OpenOptions } from '../../../../src/router/pool/server-conn';
import type { ServerTlsMode } from '../../../../src/router/types';

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A fake PostgreSQL: `onConnect` gets each accepted socket. */
async function fakeServer(onConnect: (socket: Socket) => void): Promise<number> {
  const server = createServer(onConnect);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const tls = (serverMode: ServerTlsMode) => ({ server: createSecureContext(), serverMode });
const options = (port: number): OpenOptions => ({
  backend: { member: 'node1', host: '127.0.0.1', port, weight: 1 },
  user: 'admin',
  database: 'postgres',
  secret: undefined,
  scheduler: realScheduler,
  timeoutMs: 5000,
  keepaliveMs: 0,
});

/** AuthenticationOk, then ReadyForQuery 'I': a trust login. */
const TRUST_LOGIN = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]);

test('require against a server that answers N: the pool gets the server_mode error, nothing is logged in', async () => {
  const port = await fakeServer((s) => s.once('data', () => s.write('N')));
  await assert.rejects(openServer(options(port), tls('require')), /the server does not support SSL, but tls.server_mode is require/);
});

test('require against a port nobody listens on: the connection error is what the pool sees, not a TLS symptom', async () => {
  const port = await fakeServer(() => undefined);
  const closed = servers.pop()!;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(openServer(options(port), tls('require')), (err: Error & { code?: string }) => err.code === 'ECONNREFUSED');
});

test('prefer against a server that answers N: the login goes on in plain text on the same connection', async () => {
  const port = await fakeServer((s) => {
    s.once('data', () => {
      s.write('N');
      // The StartupMessage follows on the same connection: answer it with a trust login.
      s.once('data', () => s.write(TRUST_LOGIN));
    });
  });
  const conn = await openServer(options(port), tls('prefer'));
  try {
    assert.equal(conn.member, 'node1');
    assert.equal(conn.closed, false);
  } finally {
    conn.cut();
  }
});
