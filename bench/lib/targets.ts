/**
 * What the router benchmark measures against: a stub agent and Patroni-style etcd keys, the pgha router as its
 * own process (with or without the `workers` key), HAProxy as Patroni's template configures it, PgBouncer in
 * session mode, and a TCP forwarder that stands for a second member (leader-change timing).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import type { EtcdStore } from '../../src/dcs/etcd/etcd-store';
import { clusterKeys } from '../../src/model/keys';
import { freePort } from '../../test/support/ports';
import { postgresUser } from '../../test/support/tmp';
import { PGBENCH_PASSWORD } from './pgbench';
import { sleep, waitPort } from './procs';

const ROOT = resolve(__dirname, '..', '..', '..');

/**
 * A stub agent: GET → the /patroni document of a running primary; OPTIONS/GET /primary → 200. Every member of
 * the bench points its api_url here, so it answers for any name (the leader change moves the key between two).
 */
export async function startStubAgent(): Promise<{ server: HttpServer; port: number }> {
  const port = await freePort();
  const body = JSON.stringify({ state: 'running', role: 'master', timeline: 1, xlog: { location: 100 } });
  const server = createHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'GET' ? body : undefined);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port };
}

export interface StubMember {
  name: string;
  pgPort: number;
  apiPort: number;
}

/** Patroni-style keys: config, one member key each, the leader key on the first member. */
export async function writeKeys(store: EtcdStore, scope: string, members: StubMember[]): Promise<void> {
  const keys = clusterKeys('/service', scope);
  await store.put(keys.config, JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10 }));
  for (const m of members) {
    const doc = { conn_url: `postgres://127.0.0.1:${m.pgPort}/postgres`, api_url: `http://127.0.0.1:${m.apiPort}/patroni`, state: 'running', role: 'master', version: '3.0.2' };
    await store.put(keys.member(m.name), JSON.stringify(doc));
  }
  await store.put(keys.leader, members[0]!.name);
}

/** The `workers:` key: '1', 'auto', a count ('2'), or none. */
export type Workers = string | undefined;

export interface RouterProcess {
  child: ChildProcess;
  port: number;
  metrics: number;
  log: string;
}

/** The router build refused `workers:` (issue 11's workers not merged yet): the bench prints n/a for it. */
export interface Unsupported {
  unsupported: string;
}

/** A pooling listener: `pool_mode` and `pool: {size}`, the server logins' secrets from a userlist file (`auth: {file}`). */
export interface PoolOptions {
  mode: 'session' | 'transaction';
  size: number;
  userlist: string;
  /** Another checkout's root (its bin/pgha.js and dist/): an A/B of two builds in one run. */
  root?: string;
}

/**
 * `pgha router -c <name>.yml` with one primary listener, writable once the leader is confirmed. With `pool`, the
 * listener pools and the YAML's `auth:` names the userlist, as users run it; clients authenticate with trust at the
 * router, as the bench's PgBouncer takes any client (auth_type = any). BENCH_ROUTER_PROF=DIR: each router runs under
 * node --cpu-prof and writes DIR/<name>.cpuprofile when it stops.
 */
export async function startRouterProcess(dir: string, name: string, etcd: string, scope: string, workers: Workers, pool?: PoolOptions): Promise<RouterProcess | Unsupported> {
  const port = await freePort();
  const metrics = await freePort();
  const file = join(dir, `${name}.yml`);
  const lines = [`scope: ${scope}`, 'namespace: /service/', `etcd: {hosts: ["${etcd}"]}`];
  if (workers !== undefined) lines.push(`workers: ${workers}`);
  if (pool) lines.push(`pool: {size: ${pool.size}}`, `auth: {file: "${pool.userlist}", type: trust}`);
  const poolMode = pool ? `, pool_mode: ${pool.mode}` : '';
  lines.push('listeners:', `  - {name: write, role: primary, listen: "127.0.0.1:${port}"${poolMode}}`, `metrics: {listen: "127.0.0.1:${metrics}"}`, '');
  writeFileSync(file, lines.join('\n'));
  const log = join(dir, `${name}.log`);
  const out = openSync(log, 'a');
  const prof = process.env.BENCH_ROUTER_PROF;
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const argv = [...flags, join(pool?.root ?? ROOT, 'bin', 'pgha.js'), 'router', '-c', file];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', out, out] });
  try {
    await waitPort(port, child);
  } catch (err) {
    const text = readFileSync(log, 'utf8');
    if (/is not a router setting/.test(text)) return { unsupported: 'workers not supported by this build' };
    throw new Error(`router ${name} did not start (${(err as Error).message}); its log ${log}:\n${text.slice(-2000)}`);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${metrics}/health`)
      .then((r) => r.json() as Promise<{ writable: boolean }>)
      .catch(() => undefined);
    if (res?.writable) break;
    if (Date.now() > deadline) throw new Error(`router ${name} never became writable; see ${log}`);
    await sleep(100);
  }
  return { child, port, metrics, log };
}

/** HAProxy 2.6 with Patroni's template (extras/confd/templates/haproxy.tmpl), default threads. */
export async function startHaproxy(dir: string, pgPort: number, apiPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global
    maxconn 1000
    log stdout format raw local0 err

defaults
    mode tcp
    timeout connect 4s
    timeout client 30m
    timeout server 30m
    timeout check 5s

listen primary
    bind 127.0.0.1:${port}
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
    server pg1 127.0.0.1:${pgPort} maxconn 100 check port ${apiPort}
`,
  );
  const check = spawnSync('haproxy', ['-c', '-f', cfg]);
  if (check.status !== 0) throw new Error(`haproxy config invalid: ${check.stderr.toString()}`);
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port, child);
  return { child, port };
}

/**
 * PgBouncer (Debian's 1.18), as the postgres OS user (it refuses root). `auth_type = any`: it takes any client and
 * logs in to the bench postgres as `admin` with the password from [databases]. Session mode (the default): the
 * pool (100) is larger than the largest client count, so no client ever waits for a server connection. With
 * `transaction` mode and a `size`, the same as the router's transaction listener (`pool: {size}`). Connection
 * logging is off, as the router and HAProxy log no line per connection either.
 */
export async function startPgbouncer(dir: string, pgPort: number, name = 'pgbouncer', mode: 'session' | 'transaction' = 'session', size = 100): Promise<{ child: ChildProcess; port: number; log: string }> {
  const port = await freePort();
  const ini = join(dir, `${name}.ini`);
  writeFileSync(
    ini,
    `[databases]
postgres = host=127.0.0.1 port=${pgPort} dbname=postgres user=admin password=${PGBENCH_PASSWORD}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = ${mode}
max_client_conn = 1000
default_pool_size = ${size}
log_connections = 0
log_disconnections = 0
`,
  );
  const log = join(dir, `${name}.log`);
  const out = openSync(log, 'a');
  const owner = postgresUser();
  const child = spawn('pgbouncer', [ini], { stdio: ['ignore', out, out], ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) });
  try {
    await waitPort(port, child);
  } catch (err) {
    throw new Error(`pgbouncer did not start (${(err as Error).message}); its log:\n${readFileSync(log, 'utf8').slice(-2000)}`);
  }
  return { child, port, log };
}

/** A TCP forwarder to `targetPort` that counts the connections it accepted: a second "member" on the same postgres. */
export async function startForwarder(targetPort: number): Promise<{ server: Server; port: number; accepted(): number }> {
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const backend = connect({ port: targetPort, host: '127.0.0.1' });
    client.pipe(backend).pipe(client);
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
    client.on('close', () => backend.destroy());
    backend.on('close', () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port, accepted: () => accepted };
}
