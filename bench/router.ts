/**
 * Router benchmark: pgbench direct to PostgreSQL vs through the pgha router vs through HAProxy configured like
 * Patroni's template (mode tcp, `option httpchk OPTIONS /primary`, `http-check expect status 200` against a stub
 * agent served here), interleaved, with the router's and HAProxy's CPU and the router's memory; then 10,000 idle
 * client connections through the router (to an in-process fake backend) and the router's memory.
 *
 *   bench/router.sh [--duration 10] [--rounds 2] [--clients 1,8,32] [--idle 10000] [--quick]
 *
 * Everything runs on loopback on free ports, as the postgres OS user where needed, and is stopped at the end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, connect, type Socket } from 'node:net';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EtcdStore } from '../src/dcs/etcd/etcd-store';
import { clusterKeys } from '../src/model/keys';
import { encodeStartup, parseFrontendPacket } from '../src/router/wire';
import { startEtcd } from '../test/support/etcd';
import { initPrimary } from '../test/support/postgres';
import { freePort } from '../test/support/ports';
import { tempDir, removeDir } from '../test/support/tmp';

const PASSWORD = 'test%123';
const ROOT = resolve(__dirname, '..', '..');

interface Options {
  durationSec: number;
  rounds: number;
  clients: number[];
  idle: number;
  quick: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { durationSec: 10, rounds: 2, clients: [1, 8, 32], idle: 10_000, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--duration') o.durationSec = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--clients') o.clients = argv[++i]!.split(',').map(Number);
    else if (a === '--idle') o.idle = Number(argv[++i]);
    else if (a === '--quick') {
      o.quick = true;
      o.durationSec = 3;
      o.rounds = 1;
      o.clients = [1, 8];
      o.idle = 1000;
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

// ------------------------------------------------------------------------------------------ processes

/** utime + stime of a process in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function waitPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

/** A stub agent: GET → the /patroni document of a running primary; OPTIONS/GET /primary → 200. */
async function startStubAgent(): Promise<{ server: HttpServer; port: number }> {
  const port = await freePort();
  const body = JSON.stringify({ state: 'running', role: 'master', timeline: 1, xlog: { location: 100 } });
  const server = createHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'GET' ? body : undefined);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port };
}

async function writeKeys(store: EtcdStore, scope: string, member: string, pgPort: number, apiPort: number): Promise<void> {
  const keys = clusterKeys('/service', scope);
  await store.put(keys.config, JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10 }));
  await store.put(keys.member(member), JSON.stringify({ conn_url: `postgres://127.0.0.1:${pgPort}/postgres`, api_url: `http://127.0.0.1:${apiPort}/patroni`, state: 'running', role: 'master', version: '3.0.2' }));
  await store.put(keys.leader, member);
}

async function startRouterProcess(dir: string, name: string, etcd: string, scope: string): Promise<{ child: ChildProcess; port: number; metrics: number; log: string }> {
  const port = await freePort();
  const metrics = await freePort();
  const file = join(dir, `${name}.yml`);
  writeFileSync(
    file,
    [
      `scope: ${scope}`,
      'namespace: /service/',
      `etcd: {hosts: ["${etcd}"]}`,
      'listeners:',
      `  - {name: write, role: primary, listen: "127.0.0.1:${port}"}`,
      `metrics: {listen: "127.0.0.1:${metrics}"}`,
      '',
    ].join('\n'),
  );
  const log = join(dir, `${name}.log`);
  const out = require('node:fs').openSync(log, 'a') as number;
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'pgha.js'), 'router', '-c', file], { stdio: ['ignore', out, out] });
  await waitPort(port);
  // Writable once the leader is confirmed.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${metrics}/health`).then((r) => r.json() as Promise<{ writable: boolean }>).catch(() => undefined);
    if (res?.writable) break;
    if (Date.now() > deadline) throw new Error(`router ${name} never became writable; see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, metrics, log };
}

async function startHaproxy(dir: string, pgPort: number, apiPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  // Patroni's template (patroni/patroni extras/confd/templates/haproxy.tmpl, haproxy.cfg), on loopback.
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
  await waitPort(port);
  return { child, port };
}

// ------------------------------------------------------------------------------------------ pgbench

interface Workload {
  name: string;
  args: string[];
  clients: number;
}

interface Sample {
  workload: string;
  clients: number;
  mode: string;
  tps: number;
  latencyMs: number;
  proxyCpu?: number;
}

/** Async: the stub agents live in this process and must keep answering while pgbench runs. */
function pgbench(port: number, w: Workload, durationSec: number): Promise<{ tps: number; latencyMs: number }> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', 'admin', '-n', '-T', String(durationSec), '-c', String(w.clients), '-j', String(Math.min(w.clients, 2)), ...w.args, 'postgres'];
  return new Promise((resolvePg, reject) => {
    const child = spawn('pgbench', args, { env: { ...process.env, PGPASSWORD: PASSWORD } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (durationSec + 60) * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
      const lat = /latency average = ([\d.]+) ms/.exec(out);
      if (!tps || !lat) reject(new Error(`pgbench failed (${args.join(' ')}):\n${out}`));
      else resolvePg({ tps: Number(tps[1]), latencyMs: Number(lat[1]) });
    });
  });
}

// ------------------------------------------------------------------------------------------ idle connections

/** A backend that answers every startup with AuthenticationOk, BackendKeyData, ReadyForQuery, then idles. */
async function startFakeBackend(port: number): Promise<{ port: number; close(): void; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const reply = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x4b, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0x5a, 0, 0, 0, 5, 0x49]);
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const p = parseFrontendPacket(buf);
      if (p.kind === 'startup') {
        sock.removeListener('data', onData);
        sock.write(reply);
      } else if (p.kind !== 'incomplete') sock.destroy();
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => r()));
  return {
    port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function idleConnections(port: number, n: number): Promise<Socket[]> {
  const socks: Socket[] = [];
  const startup = encodeStartup({ user: 'bench', database: 'postgres' });
  const batch = 200;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, () =>
        new Promise<void>((resolveOne, reject) => {
          const s = connect({ port, host: '127.0.0.1' }, () => s.write(startup));
          s.on('error', reject);
          let got = 0;
          const onData = (d: Buffer) => {
            got += d.length;
            if (got >= 28) {
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

// ------------------------------------------------------------------------------------------ main

/** The open-file limit of this process (and of the router it spawns). */
function fdLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1024;
}

/** Runs the fake backend in its own process (it needs one fd per idle connection too). */
async function startFakeBackendProcess(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [__filename, '--fake-backend', String(port)], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitPort(port);
  return { port, child };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--fake-backend') {
    await startFakeBackend(Number(process.argv[3]));
    return new Promise(() => undefined);
  }
  const o = parseArgs(process.argv.slice(2));
  const dir = tempDir('bench-router');
  require('node:fs').chmodSync(dir, 0o755);
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    console.log(`# router benchmark: ${o.rounds} round(s) x ${o.durationSec} s per run, clients ${o.clients.join(',')}, node ${process.version}, ${require('node:os').cpus().length} cores`);
    const etcd = await startEtcd();
    cleanups.push(() => etcd.destroy());
    const store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    cleanups.push(() => store.close());
    const pg = await initPrimary({ name: 'bench', parameters: { max_connections: 300 } });
    cleanups.push(() => pg.destroy());
    const init = spawnSync('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'admin', '-i', '-q', '-s', '4', 'postgres'], { env: { ...process.env, PGPASSWORD: PASSWORD }, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    const agent = await startStubAgent();
    cleanups.push(() => void agent.server.close());
    await writeKeys(store, 'bench', 'pg1', pg.port, agent.port);
    const router = await startRouterProcess(dir, 'router', etcd.endpoint, 'bench');
    cleanups.push(() => stopChild(router.child));
    const haproxy = await startHaproxy(dir, pg.port, agent.port);
    cleanups.push(() => stopChild(haproxy.child));
    const modes: { name: string; port: number; pid?: number }[] = [
      { name: 'direct', port: pg.port },
      { name: 'router', port: router.port, pid: router.child.pid! },
      { name: 'haproxy', port: haproxy.port, pid: haproxy.child.pid! },
    ];
    const workloads: Workload[] = [
      ...o.clients.map((c) => ({ name: 'select-only', args: ['-S'], clients: c })),
      ...o.clients.filter((c) => c > 1).map((c) => ({ name: 'tpcb-like', args: [], clients: c })),
      { name: 'select-only -C', args: ['-S', '-C'], clients: Math.max(...o.clients.filter((c) => c <= 8), 1) },
    ];
    const samples: Sample[] = [];
    for (let round = 0; round < o.rounds; round++) {
      for (const [wi, w] of workloads.entries()) {
        // Rotate the order so no mode always runs first (warm caches) or last.
        const order = modes.map((_, i) => modes[(i + round + wi) % modes.length]!);
        for (const m of order) {
          const cpu0 = m.pid ? cpuSeconds(m.pid) : 0;
          const r = await pgbench(m.port, w, o.durationSec);
          const cpu = m.pid ? (cpuSeconds(m.pid) - cpu0) / o.durationSec : undefined;
          samples.push({ workload: w.name, clients: w.clients, mode: m.name, tps: r.tps, latencyMs: r.latencyMs, ...(cpu !== undefined ? { proxyCpu: cpu } : {}) });
          process.stdout.write(`  round ${round + 1} ${w.name} c=${w.clients} ${m.name}: ${r.tps.toFixed(0)} tps, ${r.latencyMs.toFixed(3)} ms${cpu !== undefined ? `, proxy cpu ${(cpu * 100).toFixed(0)}%` : ''}\n`);
        }
      }
    }
    const mem = memoryMb(router.child.pid!);
    console.log('\n| workload | clients | direct tps | router tps (ratio) | haproxy tps (ratio) | direct lat ms | router lat ms | haproxy lat ms | router CPU | haproxy CPU |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    for (const w of workloads) {
      const of = (mode: string) => samples.filter((s) => s.workload === w.name && s.clients === w.clients && s.mode === mode);
      const tps = (mode: string) => avg(of(mode).map((s) => s.tps));
      const lat = (mode: string) => avg(of(mode).map((s) => s.latencyMs));
      const cpu = (mode: string) => `${(avg(of(mode).map((s) => s.proxyCpu ?? 0)) * 100).toFixed(0)}%`;
      const d = tps('direct');
      console.log(
        `| ${w.name} | ${w.clients} | ${d.toFixed(0)} | ${tps('router').toFixed(0)} (${(tps('router') / d).toFixed(2)}) | ${tps('haproxy').toFixed(0)} (${(tps('haproxy') / d).toFixed(2)}) | ${lat('direct').toFixed(3)} | ${lat('router').toFixed(3)} | ${lat('haproxy').toFixed(3)} | ${cpu('router')} | ${cpu('haproxy')} |`,
      );
    }
    console.log(`\nrouter memory after the pgbench runs: rss ${mem.rss.toFixed(0)} MB, peak ${mem.peak.toFixed(0)} MB`);

    // Each idle client costs the router two fds (client + backend): stay under this machine's limit.
    const limit = fdLimit();
    const idle = Math.min(o.idle, Math.floor((limit - 200) / 2));
    if (idle < o.idle) console.log(`(open-file limit ${limit}: ${idle} idle connections instead of ${o.idle}; raise ulimit -n to go further)`);
    if (idle > 0) {
      const backend = await startFakeBackendProcess();
      cleanups.push(() => stopChild(backend.child));
      const agent2 = await startStubAgent();
      cleanups.push(() => void agent2.server.close());
      await writeKeys(store, 'idle', 'fake1', backend.port, agent2.port);
      const idleRouter = await startRouterProcess(dir, 'router-idle', etcd.endpoint, 'idle');
      cleanups.push(() => stopChild(idleRouter.child));
      const before = memoryMb(idleRouter.child.pid!);
      const t0 = Date.now();
      const socks = await idleConnections(idleRouter.port, idle);
      const opened = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 2000));
      const after = memoryMb(idleRouter.child.pid!);
      console.log(
        `idle: ${socks.length} client connections through the router (each with its backend connection) opened in ${opened} ms; router rss ${before.rss.toFixed(0)} MB before, ${after.rss.toFixed(0)} MB with them open (peak ${after.peak.toFixed(0)} MB): ${(((after.rss - before.rss) * 1024) / socks.length).toFixed(1)} kB per connection pair`,
      );
      for (const s of socks) s.destroy();
    }
    if (!existsSync(join(ROOT, 'bench', 'README.md'))) console.log('(record the figures in bench/README.md)');
  } finally {
    await cleanup();
    removeDir(dir);
  }
}

main().then(
  () => {
    if (process.argv[2] !== '--fake-backend') process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
