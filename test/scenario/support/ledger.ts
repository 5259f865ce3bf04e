/**
 * The client ledger of the scenario suite: writers that INSERT unique ids through the router's write port and
 * record, for every acknowledged write, the node that took it (its port), the server's commit-time clock and its
 * timeline. All nodes run on this machine, so their clocks are one clock: two acknowledged writes on two nodes can
 * be ordered exactly, and a leadership epoch is a (node, timeline) pair.
 */
import { Client } from 'pg';
import { PASSWORD } from '../../support/cluster';

export interface Ack {
  id: number;
  port: number;
  timeline: number;
  /** The server's clock_timestamp() at the INSERT, in ms since the epoch. */
  atMs: number;
  /** When the client saw the acknowledgement (Date.now()). */
  ackMs: number;
}

export interface LedgerFigures {
  acknowledged: number;
  failedAttempts: number;
  /** Longest time between two consecutive acknowledgements (client clock), during the run. */
  longestGapMs: number;
  /** Sum of the overlaps between the [first, last] write intervals of different (node, timeline) epochs. */
  doubleWriterMs: number;
  doubleWriterPairs: string[];
}

export const LEDGER_TABLE = 'scenario_ledger';
const INSERT = `insert into ${LEDGER_TABLE} (id) values ($1)
  returning inet_server_port() as port, extract(epoch from clock_timestamp()) * 1000 as at,
  ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int as tl`;

// The router holds a new connection up to its hold_timeout (30 s); an INSERT may wait for a synchronous standby.
const CONNECT_BOUND_MS = 45_000;
const QUERY_BOUND_MS = 20_000;

/**
 * Bounds a pg promise by a timer of our own: after some connection failures pg never settles connect() or query(),
 * and a writer stuck there would stall the ledger. On expiry the socket is destroyed and the step fails.
 */
function bounded<T>(p: Promise<T>, ms: number, client: Client): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      destroySocket(client);
      reject(new Error(`no answer in ${ms} ms`));
    }, ms);
    p.then((v) => {
      clearTimeout(timer);
      resolve(v);
    }, (err: unknown) => {
      clearTimeout(timer);
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

function destroySocket(client: Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

export class Ledger {
  readonly acks: Ack[] = [];
  failedAttempts = 0;
  private nextId = 1;
  private running = false;
  private workers: Promise<void>[] = [];
  private readonly clients = new Set<Client>();

  /**
   * `direct`: the port is one node's postgres, not the router. Like libpq's target_session_attrs=read-write, each
   * new connection asks the node whether it is a primary first and writes only if it is; a node in recovery is
   * skipped (asked again 250 ms later), not counted as a failed attempt.
   */
  constructor(private readonly writePort: number, private readonly idBase: number, private readonly direct = false) {}

  /** `persistent` writers keep a connection until it fails; the others open one per INSERT. */
  start(persistent = 2, perWrite = 1): void {
    this.running = true;
    for (let i = 0; i < persistent; i++) this.workers.push(this.loop(true));
    for (let i = 0; i < perWrite; i++) this.workers.push(this.loop(false));
  }

  async stop(): Promise<void> {
    this.running = false;
    // Not end(): a client still connecting never settles its connect() after end(), and its worker would wait out
    // CONNECT_BOUND_MS. A destroyed socket fails whatever is pending at once.
    for (const c of this.clients) destroySocket(c);
    await Promise.all(this.workers);
    this.workers = [];
  }

  count(): number {
    return this.acks.length;
  }

  private connect(): Client {
    const c = new Client({
      host: '127.0.0.1', port: this.writePort, user: 'admin', password: PASSWORD, database: 'postgres',
      connectionTimeoutMillis: 40_000, query_timeout: 15_000, keepAlive: true,
    });
    c.on('error', () => undefined);
    return c;
  }

  private async loop(persistent: boolean): Promise<void> {
    let client: Client | undefined;
    while (this.running) {
      const id = this.idBase + this.nextId++;
      try {
        if (!client) {
          client = this.connect();
          this.clients.add(client);
          await bounded(client.connect(), CONNECT_BOUND_MS, client);
          if (this.direct && (await bounded(client.query('select pg_is_in_recovery() as r'), QUERY_BOUND_MS, client)).rows[0]?.r !== false) {
            client = await this.drop(client);
            await new Promise((r) => setTimeout(r, 250));
            continue;
          }
        }
        const row = (await bounded(client.query(INSERT, [id]), QUERY_BOUND_MS, client)).rows[0] as { port: number; at: string; tl: number };
        this.acks.push({ id, port: Number(row.port), timeline: Number(row.tl), atMs: Number(row.at), ackMs: Date.now() });
        if (!persistent) client = await this.drop(client);
      } catch {
        if (this.running) this.failedAttempts++;
        client = await this.drop(client);
        if (this.running) await new Promise((r) => setTimeout(r, 50));
      }
    }
    await this.drop(client);
  }

  /** Not awaited: pg's end() on a connection that already failed can wait forever for an 'end' that came before. */
  private async drop(client: Client | undefined): Promise<undefined> {
    if (client) {
      this.clients.delete(client);
      void client.end().catch(() => undefined);
    }
    return undefined;
  }

  /** `others`: the acknowledgements of writers beside this one (the direct writers), counted for double writers. */
  figures(others: readonly Ack[] = []): LedgerFigures {
    return { acknowledged: this.acks.length, failedAttempts: this.failedAttempts, longestGapMs: longestGap(this.acks), ...doubleWriters([...this.acks, ...others]) };
  }

  /** Acknowledged ids missing from `present` (the ids the healed leader holds). */
  lost(present: Set<number>): number[] {
    return this.acks.filter((a) => !present.has(a.id)).map((a) => a.id);
  }
}

export function longestGap(acks: readonly Ack[]): number {
  const times = acks.map((a) => a.ackMs).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

/** Overlapping write intervals of different leadership epochs: the time two nodes accepted writes at once. */
export function doubleWriters(acks: readonly Ack[]): { doubleWriterMs: number; doubleWriterPairs: string[] } {
  const epochs = new Map<string, { from: number; to: number }>();
  for (const a of acks) {
    const key = `${a.port}/tl${a.timeline}`;
    const e = epochs.get(key);
    if (!e) epochs.set(key, { from: a.atMs, to: a.atMs });
    else {
      e.from = Math.min(e.from, a.atMs);
      e.to = Math.max(e.to, a.atMs);
    }
  }
  const list = [...epochs.entries()];
  let total = 0;
  const pairs: string[] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const [ka, a] = list[i]!;
      const [kb, b] = list[j]!;
      if (ka.split('/')[0] === kb.split('/')[0]) continue;
      const overlap = Math.min(a.to, b.to) - Math.max(a.from, b.from);
      if (overlap >= 0) {
        total += overlap;
        pairs.push(`${ka} and ${kb} for ${overlap.toFixed(1)} ms`);
      }
    }
  }
  return { doubleWriterMs: total, doubleWriterPairs: pairs };
}
