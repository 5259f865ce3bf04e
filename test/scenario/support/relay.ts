/**
 * A fault-injecting TCP relay (between one agent and an etcd member, or in front of one postgres): `pass` forwards,
 * a cut connection is accepted and held but nothing is forwarded (a partition: requests time out, no error comes
 * back), and healing closes the connections that were cut so the client opens new ones (a real partition's TCP would
 * retransmit instead).
 *
 * A relay in front of postgres reads the application_name of each connection's StartupMessage before forwarding it,
 * so one client can be cut off (a replica's walreceiver: its application_name is its member name) while every other
 * connection (router, clients, other replicas) passes.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type RelayMode = 'pass' | 'blackhole';

interface Pair {
  client: Socket;
  upstream?: Socket;
  cut: boolean;
  /** Client bytes not yet parsed as a postgres startup packet; undefined once parsed or given up. */
  startup?: Buffer;
  /** The StartupMessage's application_name, when read. */
  applicationName?: string;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const PROTOCOL_3 = 196608;
/** Longer first packets are not a startup (e.g. a TLS handshake after the server accepted an SSLRequest). */
const MAX_STARTUP_BYTES = 10_000;

export class Relay {
  mode: RelayMode = 'pass';
  /** Bytes forwarded from clients to the target: which of an agent's relays carries its traffic. */
  forwarded = 0;
  private server?: Server;
  private readonly pairs = new Set<Pair>();
  private readonly cutNames = new Set<string>();

  /** `postgres`: parse startup packets, so `cut(applicationName)` can single out one client. */
  constructor(public targetPort: number, readonly port: number, private readonly opts: { postgres?: boolean } = {}) {}

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  private accept(client: Socket): void {
    const pair: Pair = { client, cut: this.mode !== 'pass', ...(this.opts.postgres ? { startup: Buffer.alloc(0) } : {}) };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    if (pair.cut) return;
    const upstream = connect(this.targetPort, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => client.destroy());
    client.on('data', (d) => {
      if (pair.startup) this.sniff(pair, d);
      if (pair.cut) return;
      this.forwarded += d.length;
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!pair.cut) client.write(d);
    });
  }

  /** Reads the startup packet (after any SSL/GSS encryption requests) and cuts the pair if its name is cut. */
  private sniff(pair: Pair, chunk: Buffer): void {
    let buf = Buffer.concat([pair.startup!, chunk]);
    for (;;) {
      const len = buf.length >= 8 ? buf.readInt32BE(0) : 0;
      const code = buf.length >= 8 ? buf.readInt32BE(4) : 0;
      if (len === 8 && (code === SSL_REQUEST || code === GSSENC_REQUEST)) {
        buf = buf.subarray(8);
        continue;
      }
      if (buf.length >= 8 && (code !== PROTOCOL_3 || len > MAX_STARTUP_BYTES)) break;
      if (buf.length < 8 || buf.length < len) {
        pair.startup = buf;
        return;
      }
      const fields = buf.subarray(8, len - 1).toString('utf8').split('\0');
      for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'application_name') pair.applicationName = fields[i + 1];
      if (pair.applicationName && this.cutNames.has(pair.applicationName)) pair.cut = true;
      break;
    }
    pair.startup = undefined;
  }

  /** Cuts every connection, now and until heal(); with a name, only the postgres connections of that application_name. */
  cut(applicationName?: string): void {
    if (applicationName === undefined) this.mode = 'blackhole';
    else this.cutNames.add(applicationName);
    for (const p of this.pairs) if (applicationName === undefined || p.applicationName === applicationName) p.cut = true;
  }

  heal(): void {
    this.mode = 'pass';
    this.cutNames.clear();
    for (const p of this.pairs) if (p.cut) p.client.destroy();
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
