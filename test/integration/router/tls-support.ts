/**
 * Test support for TLS at the router: a certificate for 127.0.0.1/localhost (its own CA), the router's counters
 * read from /metrics, raw TLS connections through the router (SSLRequest then TLS, or direct TLS), and the asyncpg
 * cancel runner (Debian's python3-asyncpg sends its CancelRequest inside TLS).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { encodeSslRequest } from '../../../src/router/wire';
import type { TestPostgres } from '../../support/postgres';
import { removeDir, tempDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';
import { PASSWORD, enableTls, psql, selfSignedCert } from './harness';

/** A self-signed certificate with 127.0.0.1 and localhost in its SAN: clients use it as their root (verify-full). */
export function routerCert(): { dir: string; cert: string; key: string; remove(): void } {
  const dir = tempDir('router-tls');
  const cert = join(dir, 'router.crt');
  const key = join(dir, 'router.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pgha-router', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  chmodSync(dir, 0o755);
  chmodSync(cert, 0o644);
  return { dir, cert, key, remove: () => removeDir(dir) };
}

export interface RouterTls {
  cert: string;
  key: string;
  /** The certificate's bytes, as node clients take their root. */
  ca: Buffer;
  /** A libpq conninfo for the test user through `port`, with `root` (the router's certificate by default) to verify. */
  conninfo(port: number, sslmode: string, root?: string): string;
  remove(): void;
}

/** The router's certificate as the TLS tests use it: its files, its bytes for node clients, a libpq conninfo. */
export function routerTls(): RouterTls {
  const c = routerCert();
  return {
    cert: c.cert,
    key: c.key,
    ca: readFileSync(c.cert),
    conninfo: (port, sslmode, root = c.cert) => `host=127.0.0.1 port=${port} user=admin dbname=postgres sslmode=${sslmode} sslrootcert=${root} gssencmode=disable`,
    remove: c.remove,
  };
}

/**
 * ssl = on for each server with one self-signed certificate (CN localhost), returned for the caller to remove;
 * waits until each server really offers TLS (pg_reload_conf() only signals the postmaster).
 */
export async function serverTls(pgs: TestPostgres[]): Promise<ReturnType<typeof selfSignedCert>> {
  const pgCert = selfSignedCert();
  try {
    for (const pg of pgs) await enableTls(pg, pgCert.cert, pgCert.key);
    for (const pg of pgs) {
      await waitFor(`TLS on port ${pg.port}`, async () => (await psql(`host=127.0.0.1 port=${pg.port} user=admin dbname=postgres sslmode=require gssencmode=disable`, 'select 1')).code === 0, { timeoutMs: 20_000, intervalMs: 100 });
    }
  } catch (err) {
    pgCert.remove();
    throw err;
  }
  return pgCert;
}

/** The sum of a counter's samples whose labels include all of `labels`, from the router's /metrics. */
export async function counter(metricsPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** A plain socket to `port` that sent SSLRequest and read the router's one-byte answer. */
export async function afterSslRequest(port: number): Promise<{ socket: Socket; answer: string }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(encodeSslRequest());
  const answer = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('close', () => reject(new Error('closed before answering SSLRequest')));
  });
  socket.removeAllListeners('close');
  return { socket, answer: answer.toString() };
}

/** TLS with the router: after SSLRequest ('S'), or direct (`direct`: a ClientHello first). Rejects when refused. */
export async function tlsTo(port: number, ca: Buffer, opts: { direct?: boolean } & ConnectionOptions = {}): Promise<TLSSocket> {
  const { direct, ...tlsOpts } = opts;
  const base = direct ? { host: '127.0.0.1', port } : { socket: (await afterSslRequest(port)).socket };
  const tls = tlsConnect({ ...base, ca, servername: 'localhost', ...tlsOpts });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
    tls.once('close', () => reject(new Error('closed during the handshake')));
  });
  return tls;
}

/** Resolves when `socket` closes (whatever it reads is dropped). */
export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
  });
}

const ASYNCPG_CANCELS = `
import asyncio, json, ssl, sys, time
import asyncpg
port, cafile, replicas, rounds = int(sys.argv[1]), sys.argv[2], [int(p) for p in sys.argv[3].split(',')], int(sys.argv[4])
password = sys.argv[5]
async def running(marker, task):
    # The query must be running before the cancel is sent: a cancel that reaches an idle backend does nothing.
    # Found by a marker in its text: a pooled server connection does not carry the client's application_name.
    for _ in range(400):
        if task.done():
            return None
        for p in replicas:
            c = await asyncpg.connect(host='127.0.0.1', port=p, user='admin', password=password, database='postgres', ssl=False)
            try:
                n = await c.fetchval("select count(*) from pg_stat_activity where state = 'active' and query like $1", '%' + marker + '%')
            finally:
                await c.close()
            if n:
                return p
        await asyncio.sleep(0.05)
    raise RuntimeError('query never seen running')
async def main():
    ctx = ssl.create_default_context(cafile=cafile)
    out = []
    strays = 0
    i = 0
    while len(out) < rounds:
        i += 1
        marker = 'asyncpg-cancel-%d' % i
        # statement_cache_size=0: unnamed statements, which a transaction-mode pool runs on any server connection.
        conn = await asyncpg.connect(host='127.0.0.1', port=port, user='admin', password=password, database='postgres', ssl=ctx, statement_cache_size=0)
        task = asyncio.ensure_future(conn.fetchval('select pg_sleep(30) /* %s */' % marker))
        replica = await running(marker, task)
        if replica is None:
            # Cancelled before it ran, most likely by PostgreSQL itself: its postmaster signals a cancelled backend
            # twice (its pid, then its process group), and a second SIGINT landing while the backend reads the next
            # message is kept for the next statement; a pool that hands the server connection on before the cancel
            # connection closed exposes it (the router's cancel guard waits). Counted, so a test can refuse any,
            # and retried.
            if not isinstance(task.exception(), asyncpg.exceptions.QueryCanceledError):
                raise task.exception()
            strays += 1
            await conn.close()
            continue
        t0 = time.monotonic()
        task.cancel()  # asyncpg sends a CancelRequest, inside TLS, on a new connection
        try:
            await task
        except asyncio.CancelledError:
            pass
        await conn.fetchval('select 1')  # waits until the server answered the cancelled query
        out.append({'replica': replica, 'seconds': time.monotonic() - t0, 'strays': strays})
        await conn.close()
    print(json.dumps(out))
asyncio.run(main())
`;

/**
 * `rounds` pg_sleep(30) queries through `port`, each cancelled by asyncpg: per round, the replica, the seconds, and
 * the queries cancelled so far before they ran (strays, retried; see the script).
 */
export function asyncpgCancels(port: number, cafile: string, replicaPorts: number[], rounds: number): Promise<{ replica: number; seconds: number; strays: number }[]> {
  const dir = tempDir('asyncpg');
  const script = join(dir, 'cancels.py');
  writeFileSync(script, ASYNCPG_CANCELS);
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', [script, String(port), cafile, replicaPorts.join(','), String(rounds), PASSWORD], { timeout: 240_000 }, (err, stdout, stderr) => {
      removeDir(dir);
      if (err) reject(new Error(`asyncpg cancels failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as { replica: number; seconds: number; strays: number }[]);
    });
  });
}
