/**
 * The router tier's integration harness: a real etcd, a real primary with two streaming replicas, Patroni-style
 * keys written by the test, and one stub agent per member: an HTTP server answering every GET with the
 * `/patroni` JSON computed from its postgres (role from pg_is_in_recovery(), xlog positions, replication state),
 * which the test can override (claim another role, go down).
 */
import { createServer, type Server } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { spawn } from 'node:child_process';
import { chownSync, chmodSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { clusterKeys, type ClusterKeys } from '../../../src/model/keys';
import { freePort } from '../../support/ports';
import { postgresUser, tempDir, removeDir } from '../../support/tmp';
import type { TestPostgres } from '../../support/postgres';

export const PASSWORD = 'test%123';

export interface StubAgent {
  name: string;
  pg: TestPostgres;
  port: number;
  apiUrl: string;
  /** Fields that replace the computed ones (e.g. role); `down` makes the stub refuse (close) requests. */
  override: Record<string, unknown>;
  down: boolean;
  requests: number;
  close(): Promise<void>;
}

export async function startStubAgent(name: string, pg: TestPostgres, tags: Record<string, unknown> = {}): Promise<StubAgent> {
  const client = new Client({ ...pg.conn(), application_name: 'stub-agent' });
  await client.connect();
  const port = await freePort();
  const stub: StubAgent = {
    name,
    pg,
    port,
    apiUrl: `http://127.0.0.1:${port}/patroni`,
    override: {},
    down: false,
    requests: 0,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await client.end().catch(() => undefined);
    },
  };
  const query = `select pg_is_in_recovery() as rec,
      case when not pg_is_in_recovery() then pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0') end as loc,
      pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0') as recv,
      pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') as replay,
      case when pg_is_in_recovery() then pg_is_wal_replay_paused() end as paused,
      (select status from pg_stat_wal_receiver) as wal_receiver`;
  // One query at a time on the stub's connection.
  let chain: Promise<unknown> = Promise.resolve();
  const server: Server = createServer((req, res) => {
    stub.requests++;
    if (stub.down) {
      req.socket.destroy();
      return;
    }
    const run = chain.then(() => client.query(query));
    chain = run.catch(() => undefined);
    run.then(
      ({ rows }) => {
        const r = rows[0] as Record<string, unknown>;
        const num = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));
        const doc: Record<string, unknown> = r.rec
          ? {
              state: 'running',
              role: 'replica',
              timeline: 1,
              xlog: { received_location: num(r.recv), replayed_location: num(r.replay), replayed_timestamp: null, paused: r.paused },
              ...(r.wal_receiver ? { replication_state: r.wal_receiver } : {}),
            }
          : { state: 'running', role: 'master', timeline: 1, xlog: { location: num(r.loc) } };
        if (Object.keys(tags).length) doc.tags = tags;
        doc.patroni = { version: '3.0.2', scope: 'routertest' };
        Object.assign(doc, stub.override);
        const body = JSON.stringify(doc);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        const body = JSON.stringify({ state: 'unknown', role: 'uninitialized', error: String(err) });
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(body);
      },
    );
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return stub;
}

/** Writes Patroni-style keys: members/<name>, leader, status, config. */
export class PatroniKeys {
  readonly keys: ClusterKeys;
  constructor(
    readonly store: EtcdStore,
    readonly scope: string,
    readonly namespace = '/service/',
  ) {
    this.keys = clusterKeys(namespace, scope);
  }
  async member(stub: StubAgent, role: string, extra: Record<string, unknown> = {}): Promise<void> {
    const doc = {
      conn_url: `postgres://127.0.0.1:${stub.pg.port}/postgres`,
      api_url: stub.apiUrl,
      state: 'running',
      role,
      version: '3.0.2',
      xlog_location: 0,
      timeline: 1,
      ...extra,
    };
    await this.store.put(this.keys.member(stub.name), JSON.stringify(doc));
  }
  async leader(name: string | undefined): Promise<void> {
    if (name === undefined) await this.store.delete(this.keys.leader);
    else await this.store.put(this.keys.leader, name);
  }
  async config(value: Record<string, unknown>): Promise<void> {
    await this.store.put(this.keys.config, JSON.stringify(value));
  }
  /** The `failover` key (switchover request): an object is written as JSON; `{}` clears it, undefined deletes it. */
  async failover(value: { leader?: string; member?: string; scheduled_at?: string } | undefined): Promise<void> {
    if (value === undefined) await this.store.delete(this.keys.failover);
    else await this.store.put(this.keys.failover, JSON.stringify(value));
  }
  async status(optime: number): Promise<void> {
    await this.store.put(this.keys.status, JSON.stringify({ optime }));
  }
}

/** A pg client on a port; the caller ends it. */
/** A CancelRequest for a client's session, sent on a new connection to `port` (with workers, the router picks the worker). */
export function sendCancel(port: number, c: Client): Promise<void> {
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  const pkt = Buffer.alloc(16);
  pkt.writeInt32BE(16, 0);
  pkt.writeInt32BE(80877102, 4);
  pkt.writeInt32BE(processID, 8);
  pkt.writeInt32BE(secretKey, 12);
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => s.end(pkt));
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

export async function connectTo(port: number, extra: Record<string, unknown> = {}): Promise<Client> {
  const c = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 20_000, ...extra });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

export async function one<T = Record<string, unknown>>(port: number, sql: string): Promise<T> {
  const c = await connectTo(port);
  try {
    return (await c.query(sql)).rows[0] as T;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface PsqlResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs psql with a conninfo; `onSpawn` gets the child (to send SIGINT). */
export function psql(conninfo: string, sql: string, onSpawn?: (child: ReturnType<typeof spawn>) => void, timeoutMs = 60_000): Promise<PsqlResult> {
  const t0 = Date.now();
  const child = spawn('psql', [conninfo, '-X', '-At', '-c', sql], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '30' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  onSpawn?.(child);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** A self-signed certificate and key readable by the postgres OS user. */
export function selfSignedCert(): { dir: string; cert: string; key: string; remove(): void } {
  const dir = tempDir('tls');
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const owner = postgresUser();
  for (const f of [cert, key]) {
    if (owner) chownSync(f, owner.uid, owner.gid);
    chmodSync(f, 0o600);
  }
  chmodSync(dir, 0o755);
  return { dir, cert, key, remove: () => removeDir(dir) };
}

/** Turns TLS on in a running postgres (appends to postgresql.conf, reloads). */
export async function enableTls(pg: TestPostgres, cert: string, key: string): Promise<void> {
  appendFileSync(join(pg.dataDir, 'postgresql.conf'), `\nssl = on\nssl_cert_file = '${cert}'\nssl_key_file = '${key}'\n`);
  const c = await connectTo(pg.port);
  try {
    await c.query('select pg_reload_conf()');
  } finally {
    await c.end();
  }
}
