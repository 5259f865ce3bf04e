/**
 * In-process stand-ins for the router's surroundings: a view source driven by the test, agents whose /patroni
 * answers the test sets, and minimal PostgreSQL-speaking TCP servers (startup reply with BackendKeyData, then
 * echo; SSLRequest answered 'N' or 'S'; CancelRequests recorded).
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ClusterView } from '../../../src/model/cluster';
import type { ViewSource } from '../../../src/router/topology';
import type { FetchJson } from '../../../src/router/health';
import { decodeErrorResponse, encodeStartup, parseFrontendPacket } from '../../../src/router/wire';
import { waitFor } from '../../support/wait';
import { aMember, aView } from '../../support/builders';

export class FakeSource implements ViewSource {
  state = 'watching';
  private current: ClusterView | undefined;
  private contact: number | undefined = performance.now();
  private listeners: ((v: ClusterView, keys: readonly string[]) => void)[] = [];
  /** When set, lastContactMs stops moving (etcd unreachable). */
  frozen = false;
  start(): void {}
  stop(): void {}
  view(): ClusterView | undefined {
    return this.current;
  }
  lastContactMs(): number | undefined {
    if (!this.frozen) this.contact = performance.now();
    return this.contact;
  }
  onChange(fn: (v: ClusterView, keys: readonly string[]) => void): void {
    this.listeners.push(fn);
  }
  set(view: ClusterView): void {
    this.current = view;
    for (const fn of this.listeners) fn(view, []);
  }
}

/** Agents' /patroni documents by api_url; a missing entry fails like a refused connection. */
export class FakeAgents {
  docs = new Map<string, Record<string, unknown>>();
  fetch: FetchJson = async (url) => {
    const doc = this.docs.get(url);
    if (!doc) throw new Error('connect ECONNREFUSED');
    return doc;
  };
  primary(url: string, location = 1000): void {
    this.docs.set(url, { state: 'running', role: 'master', timeline: 1, xlog: { location } });
  }
  replica(url: string, replayed = 1000, extra: Record<string, unknown> = {}): void {
    this.docs.set(url, { state: 'running', role: 'replica', timeline: 1, replication_state: 'streaming', xlog: { received_location: replayed, replayed_location: replayed }, ...extra });
  }
  down(url: string): void {
    this.docs.delete(url);
  }
}

export interface FakePg {
  name: string;
  port: number;
  pid: number;
  server: Server;
  sockets: Set<Socket>;
  cancels: { pid: number; secret: number }[];
  sessions: number;
  /** Bytes read by a silent fake. */
  received: number;
  close(): Promise<void>;
}

let nextPid = 1000;

/** `silent`: accepts and reads, never answers (a postmaster that hangs). */
export async function startFakePg(name: string, opts: { ssl?: 'S' | 'N'; silent?: boolean } = {}): Promise<FakePg> {
  const pid = nextPid++;
  const sockets = new Set<Socket>();
  const fake: FakePg = {
    name,
    port: 0,
    pid,
    server: createServer(),
    sockets,
    cancels: [],
    sessions: 0,
    received: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => fake.server.close(() => r()));
    },
  };
  fake.server.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let mode: 'startup' | 'echo' = 'startup';
    sock.on('data', (d: Buffer) => {
      if (opts.silent) {
        fake.received += d.length;
        return;
      }
      if (mode === 'echo') {
        sock.write(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const p = parseFrontendPacket(buf);
        if (p.kind === 'incomplete') return;
        if (p.kind === 'ssl') {
          buf = buf.subarray(8);
          const answer = opts.ssl ?? 'N';
          sock.write(answer);
          if (answer === 'S') {
            mode = 'echo';
            fake.sessions++;
            if (buf.length) sock.write(buf);
            return;
          }
          continue;
        }
        if (p.kind === 'cancel') {
          fake.cancels.push({ pid: p.processId, secret: p.secretKey });
          sock.end();
          return;
        }
        if (p.kind === 'startup') {
          fake.sessions++;
          const rest = buf.subarray(p.length);
          const key = Buffer.alloc(13);
          key.write('K', 0, 'latin1');
          key.writeInt32BE(12, 1);
          key.writeInt32BE(pid, 5);
          key.writeInt32BE(fake.sessions, 9);
          sock.write(Buffer.concat([Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]), key, Buffer.from([0x5a, 0, 0, 0, 5, 0x49])]));
          mode = 'echo';
          if (rest.length) sock.write(rest);
          return;
        }
        sock.destroy();
        return;
      }
    });
  });
  await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', () => r()));
  const addr = fake.server.address();
  fake.port = addr && typeof addr === 'object' ? addr.port : 0;
  return fake;
}

/** A view naming `leader`, with members on the fake servers' ports and api_urls `http://agent/<name>`. */
export function viewOf(leader: string | undefined, pgs: FakePg[], tags: Record<string, Record<string, unknown>> = {}, revision = 100): ClusterView {
  return aView({
    revision,
    ...(leader ? { leader } : {}),
    members: pgs.map((pg) =>
      aMember(pg.name, {
        role: pg.name === leader ? 'master' : 'replica',
        conn_url: `postgres://127.0.0.1:${pg.port}/postgres`,
        api_url: apiUrl(pg.name),
        ...(tags[pg.name] ? { tags: tags[pg.name] } : {}),
      }),
    ),
  });
}

export const apiUrl = (name: string): string => `http://agent/${name}`;

/** Reads from a socket into one growing buffer. */
export class Conn {
  buf = Buffer.alloc(0);
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => (this.buf = Buffer.concat([this.buf, d])));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
  }
  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' }, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  async until(what: string, pred: (b: Buffer) => boolean, timeoutMs = 5000): Promise<Buffer> {
    return waitFor(what, () => (pred(this.buf) ? this.buf : undefined), { timeoutMs, intervalMs: 5 });
  }
  /** Startup, then wait for ReadyForQuery; returns the backend pid from BackendKeyData. */
  async startup(timeoutMs = 5000): Promise<number> {
    this.sock.write(encodeStartup({ user: 'u', database: 'd' }));
    await this.until('ReadyForQuery', (b) => b.includes(Buffer.from([0x5a, 0, 0, 0, 5])) || this.closed, timeoutMs);
    const k = this.buf.indexOf(Buffer.from([0x4b, 0, 0, 0, 12]));
    assert.ok(k >= 0, `no BackendKeyData in ${this.buf.toString('hex')} (closed=${this.closed})`);
    return this.buf.readInt32BE(k + 5);
  }
  key(): { pid: number; secret: number } {
    const k = this.buf.indexOf(Buffer.from([0x4b, 0, 0, 0, 12]));
    return { pid: this.buf.readInt32BE(k + 5), secret: this.buf.readInt32BE(k + 9) };
  }
  async echo(text: string): Promise<void> {
    const before = this.buf.length;
    this.sock.write(text);
    await this.until(`echo of ${text}`, (b) => b.subarray(before).toString().includes(text));
  }
  async error(timeoutMs = 5000): Promise<Record<string, string>> {
    await this.until('ErrorResponse', (b) => b.indexOf(0x45) >= 0 && decodeErrorResponse(b.subarray(b.indexOf(0x45))) !== undefined, timeoutMs);
    return decodeErrorResponse(this.buf.subarray(this.buf.indexOf(0x45)))!;
  }
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await waitFor('connection closed', () => this.closed, { timeoutMs, intervalMs: 5 });
  }
  close(): void {
    this.sock.destroy();
  }
}
