/**
 * A fault-injecting TCP relay between one agent and etcd: `pass` forwards, `blackhole` accepts and holds every
 * connection but forwards nothing (a partition: requests time out, no error comes back), and healing closes the
 * connections that were cut so the client opens new ones (a real partition's TCP would retransmit instead).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type RelayMode = 'pass' | 'blackhole';

export class Relay {
  mode: RelayMode = 'pass';
  private server?: Server;
  private readonly pairs = new Set<{ client: Socket; upstream?: Socket; cut: boolean }>();

  constructor(private readonly targetPort: number, readonly port: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  private accept(client: Socket): void {
    const pair: { client: Socket; upstream?: Socket; cut: boolean } = { client, cut: this.mode !== 'pass' };
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
      if (!pair.cut) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!pair.cut) client.write(d);
    });
  }

  cut(): void {
    this.mode = 'blackhole';
    for (const p of this.pairs) p.cut = true;
  }

  heal(): void {
    this.mode = 'pass';
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
