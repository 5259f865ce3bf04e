/**
 * Idle connections through the router: a fake backend (its own process: it needs one fd per connection too) that
 * completes every startup and then idles, and N clients that connect through the router and stay.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { encodeStartup, parseFrontendPacket } from '../../src/router/wire';
import { freePort } from '../../test/support/ports';
import { waitPort } from './procs';

/** AuthenticationOk, BackendKeyData (pid 1, key 2), ReadyForQuery (idle). */
const STARTUP_REPLY = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x4b, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0x5a, 0, 0, 0, 5, 0x49]);

/** A backend that answers every startup with STARTUP_REPLY, then idles. Runs until the process is killed. */
export async function serveFakeBackend(port: number): Promise<void> {
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const p = parseFrontendPacket(buf);
      if (p.kind === 'startup') {
        sock.removeListener('data', onData);
        sock.write(STARTUP_REPLY);
      } else if (p.kind !== 'incomplete') sock.destroy();
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => r()));
}

/** The fake backend in a child process: `node dist/bench/router.js --fake-backend <port>`. */
export async function startFakeBackendProcess(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(__dirname, '..', 'router.js'), '--fake-backend', String(port)], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitPort(port, child);
  return { port, child };
}

/** Opens n client connections through `port` (200 at a time), each past the startup reply, and keeps them. */
export async function idleConnections(port: number, n: number): Promise<Socket[]> {
  const socks: Socket[] = [];
  const startup = encodeStartup({ user: 'bench', database: 'postgres' });
  const batch = 200;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from(
        { length: Math.min(batch, n - i) },
        () =>
          new Promise<void>((resolveOne, reject) => {
            const s = connect({ port, host: '127.0.0.1' }, () => s.write(startup));
            s.on('error', reject);
            let got = 0;
            const onData = (d: Buffer) => {
              got += d.length;
              if (got >= STARTUP_REPLY.length) {
                s.removeListener('data', onData);
                socks.push(s);
                resolveOne();
              }
            };
            s.on('data', onData);
          }),
      ),
    );
  }
  return socks;
}

/** The open-file limit of this process (and of the router it spawns). */
export function fdLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1024;
}
