/**
 * The spliced data path (splice.ts) over real loopback sockets: a fake backend answers the startup packet, then
 * both sides stream 50 MB to slow readers. The backend → client direction reads into a reused buffer, so a write
 * the kernel could not take at once must never see its bytes overwritten by the next read: checksums prove it.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { LARGE_READ_BYTES, SMALL_READ_BYTES, Splice, type SpliceOwner } from '../../../src/router/splice';
import { encodeStartup, parseFrontendPacket } from '../../../src/router/wire';

const MB = 1024 * 1024;
/** AuthenticationOk, BackendKeyData (pid 4242, secret 99), ReadyForQuery. */
const STARTUP_REPLY = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x4b, 0, 0, 0, 12, 0, 0, 0x10, 0x92, 0, 0, 0, 99, 0x5a, 0, 0, 0, 5, 0x49]);

interface Session {
  spliced: boolean;
  key?: [number, number];
}

const owner: SpliceOwner<Session> = {
  spliced: (s) => (s.spliced = true),
  backendKey: (s, pid, secret) => (s.key = [pid, secret]),
};

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/**
 * Sends `total` random bytes in writes of `piece` bytes, one per event-loop turn (so they arrive as separate small
 * reads, as PostgreSQL's 8 kB sends do), honouring backpressure; resolves with their sha256 once all are queued.
 */
async function sendRandom(sock: Socket, total: number, piece: number): Promise<string> {
  const hash = createHash('sha256');
  const data = randomBytes(MB);
  for (let sent = 0; sent < total; sent += piece) {
    const chunk = Buffer.from(data.subarray(sent % MB, (sent % MB) + Math.min(piece, total - sent)));
    chunk[0] = sent & 0xff;
    hash.update(chunk);
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
    else await new Promise((r) => setImmediate(r));
  }
  return hash.digest('hex');
}

/**
 * Reads `total` bytes slowly (a pause of a few ms after every read, so the sender's writes back up in the kernel
 * and in the router), skipping `skip` leading bytes; resolves with their sha256.
 */
function readSlowly(sock: Socket, total: number, skip = 0): Promise<string> {
  const hash = createHash('sha256');
  let got = 0;
  let toSkip = skip;
  return new Promise((resolve, reject) => {
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      if (toSkip > 0) {
        const n = Math.min(toSkip, d.length);
        toSkip -= n;
        d = d.subarray(n);
      }
      hash.update(d);
      got += d.length;
      if (got >= total) {
        resolve(hash.digest('hex'));
        return;
      }
      sock.pause();
      setTimeout(() => sock.resume(), 2);
    });
  });
}

describe('splice: the data path between a client and its backend', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  it('relays 50 MB each way to slow readers without corrupting a byte, and learns the cancel key on the way', async () => {
    const total = 50 * MB;
    // The backend: reads the startup packet, answers it, then streams `total` bytes and checks what it receives.
    let backendGot!: Promise<string>;
    let backendSent!: Promise<string>;
    const backend = createServer((sock) => {
      sockets.push(sock);
      let buf = Buffer.alloc(0);
      const onStartup = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        const p = parseFrontendPacket(buf);
        if (p.kind !== 'startup') return;
        sock.removeListener('data', onStartup);
        sock.write(STARTUP_REPLY);
        backendSent = sendRandom(sock, total, 8192);
        backendGot = readSlowly(sock, total);
      };
      sock.on('data', onStartup);
    });
    servers.push(backend);
    const backendPort = await listen(backend);

    // The router side: the accepted client socket spliced to the backend.
    const session: Session = { spliced: false };
    const front = createServer((client) => {
      sockets.push(client);
      const link = new Splice(client, session, owner);
      const server = connect(link.backendSocketOptions('127.0.0.1', backendPort));
      sockets.push(server);
      link.attach(server);
      server.once('connect', () => link.startPlain(encodeStartup({ user: 'u', database: 'd' }), undefined));
    });
    servers.push(front);
    const frontPort = await listen(front);

    const client = connect({ host: '127.0.0.1', port: frontPort });
    sockets.push(client);
    await new Promise((r) => client.once('connect', r));
    const clientGot = readSlowly(client, total, STARTUP_REPLY.length);
    // Client bytes go out once the backend has replied (until then the splice keeps them back).
    const clientSent = sendRandom(client, total, 64 * 1024);

    // The backend's promises exist once it has read the startup packet, before any byte could reach the client.
    const toClient = await clientGot;
    assert.equal(toClient, await backendSent, 'backend → client bytes arrive intact');
    assert.equal(await backendGot, await clientSent, 'client → backend bytes arrive intact');
    assert.equal(session.spliced, true);
    assert.deepEqual(session.key, [4242, 99]);
  });

  it('never reads into a buffer that a pending write still holds (a write the kernel could not take at once)', () => {
    // A client socket whose kernel buffer is full: write() queues the chunk (by reference, as net.Socket does) and
    // still returns true, since less than highWaterMark is queued.
    const queued: Buffer[] = [];
    const client = Object.assign(new EventEmitter(), {
      full: true,
      writableLength: 0,
      write(chunk: Buffer): boolean {
        if (!this.full) return true;
        queued.push(chunk);
        this.writableLength += chunk.length;
        return true;
      },
      resume: () => undefined,
      pause: () => undefined,
    });
    const server = Object.assign(new EventEmitter(), { write: () => true, resume: () => undefined, cork: () => undefined, uncork: () => undefined });
    const session: Session = { spliced: false };
    const link = new Splice(client as unknown as Socket, session, owner);
    link.attach(server as unknown as Socket);
    link.startPlain(encodeStartup({ user: 'u' }), undefined);

    // libuv reads into the buffer onread hands it, then asks for the next one.
    const first = link.onread.buffer();
    STARTUP_REPLY.copy(first);
    assert.equal(link.onread.callback(STARTUP_REPLY.length, first), true);
    const second = link.onread.buffer();
    assert.notEqual(second, first, 'the queued write still references the first buffer: the next read needs another');
    second.fill(0xee);
    assert.equal(link.onread.callback(100, second), true);
    assert.deepEqual(queued[0], STARTUP_REPLY, 'the bytes queued first are intact');
    assert.deepEqual(session.key, [4242, 99]);

    // Once the client has taken everything, reads reuse the buffer again (no allocation per chunk).
    client.full = false;
    client.writableLength = 0;
    const third = link.onread.buffer();
    assert.equal(link.onread.callback(10, third), true);
    assert.equal(link.onread.buffer(), third);

    // A read that fills the small buffer (a result set, COPY) moves to a large one; small reads move back, so an idle
    // session holds only the small one.
    assert.equal(link.onread.callback(SMALL_READ_BYTES, third), true);
    const large = link.onread.buffer();
    assert.equal(large.length, LARGE_READ_BYTES);
    assert.equal(link.onread.callback(LARGE_READ_BYTES, large), true);
    assert.equal(link.onread.buffer(), large, 'reads that keep filling it keep the same large buffer');
    assert.equal(link.onread.callback(10, large), true);
    assert.equal(link.onread.buffer().length, SMALL_READ_BYTES);
  });
});
