/**
 * backendTls (tls.server_mode) against a fake server on loopback: what each mode does with 'N', with data smuggled
 * after 'S', and with a certificate whose name does not match.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, createSecureContext } from 'node:tls';
import { realScheduler } from '../../../src/lib/clock';
import { BackendTlsError, backendTls } from '../../../src/router/tls/backend';
import type { ServerTlsMode } from '../../../src/router/types';

describe('backendTls: TLS from the router to PostgreSQL by server_mode', () => {
  let dir: string;
  let server: Server;
  let port: number;
  /** What the fake server answers to SSLRequest: 'N', 'S' (then TLS as CN=pg.example), or 'S' plus smuggled bytes. */
  let answer: 'N' | 'S' | 'S+data' = 'N';
  let ca: Buffer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgha-tls-backend-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=pg.example', '-addext', 'subjectAltName=DNS:pg.example', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'c'));
    const context = createSecureContext({ cert: ca, key: readFileSync(join(dir, 'k')) });
    server = createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => {
        if (answer === 'N') return void s.write('N');
        s.write(answer === 'S' ? 'S' : 'Sinjected');
        const tls = new TLSSocket(s, { isServer: true, secureContext: context });
        tls.on('error', () => undefined);
        tls.on('data', (d) => tls.write(d)); // echo
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function negotiate(mode: ServerTlsMode, host = '127.0.0.1'): Promise<Socket> {
    const s = connect({ host: '127.0.0.1', port });
    await new Promise((r) => s.once('connect', r));
    s.pause();
    return backendTls(mode, s, host, { ca, scheduler: realScheduler, timeoutMs: 5000 }).catch((err: unknown) => {
      s.destroy();
      throw err;
    });
  }

  test('a server without TLS: prefer goes on in plain text, require and the verify modes refuse with words', async () => {
    answer = 'N';
    const plain = await negotiate('prefer');
    assert.equal((plain as Partial<TLSSocket>).encrypted, undefined);
    plain.destroy();
    for (const mode of ['require', 'verify-ca', 'verify-full'] as const) {
      await assert.rejects(negotiate(mode), (err: unknown) => err instanceof BackendTlsError && err.message === `the server does not support SSL, but tls.server_mode is ${mode}`);
    }
  });

  test('bytes after the S are refused (they would pass as if from inside TLS)', async () => {
    answer = 'S+data';
    await assert.rejects(negotiate('require'), /unexpected data after its answer to SSLRequest/);
  });

  test('require does not check the certificate; verify-ca checks the chain only; verify-full also the name', async () => {
    answer = 'S';
    for (const [mode, host] of [['require', '127.0.0.1'], ['verify-ca', '127.0.0.1'], ['verify-full', 'pg.example']] as const) {
      const tls = await negotiate(mode, host);
      tls.write('ping');
      assert.equal(String(await new Promise<Buffer>((r) => tls.once('data', r))), 'ping', mode);
      tls.destroy();
    }
    await assert.rejects(negotiate('verify-full', '127.0.0.1'), /TLS to the server failed: .*127\.0\.0\.1/);
  });
});
