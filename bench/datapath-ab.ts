/**
 * A/B of the router's data path: pgbench direct, through a router built from another tree (`--base DIST`, e.g. a
 * copy of main's dist/), through this tree's router, and through HAProxy (Patroni's template), interleaved in one
 * run so the machine's other load hits every mode alike. Optionally writes a V8 CPU profile of each router
 * (`--prof DIR`: node --cpu-prof, written when the router exits).
 *
 *   node dist/bench/datapath-ab.js --base /path/to/dist-base [--new DIST] [--duration 8] [--rounds 3] [--clients 8]
 *     [--workloads select,tpcb,connect] [--prof DIR]
 *
 * The workloads are select-only, TPC-B-like and select-only with a new connection per transaction (-C). It prints
 * each run, then the mean TPS per mode, the ratio to direct and each proxy's CPU (share of one core, from /proc) and
 * CPU per transaction. `--fake`: instead, new connections (SSLRequest, 'N', startup, ReadyForQuery, Terminate) from
 * this process to an in-process fake backend, to measure a proxy's CPU per connection without PostgreSQL's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { openSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EtcdStore } from '../src/dcs/etcd/etcd-store';
import { clusterKeys } from '../src/model/keys';
import { encodeSslRequest, encodeStartup } from '../src/router/wire';
import { startEtcd } from '../test/support/etcd';
import { initPrimary, TEST_PASSWORD } from '../test/support/postgres';
import { freePort } from '../test/support/ports';
import { tempDir, removeDir } from '../test/support/tmp';

const HERE = resolve(__dirname, '..');

interface Options {
  base?: string;
  mine: string;
  durationSec: number;
  rounds: number;
  clients: number;
  prof?: string;
  workloads: string[];
  /** New connections against an in-process fake backend instead of pgbench against PostgreSQL. */
  fake: boolean;
  /** Record each proxy with `perf record -g` during its runs, into this directory (node runs with --perf-basic-prof). */
  perf?: string;
  /** With --fake: then open this many idle sessions through each router and print its RSS per session. */
  idle: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { mine: HERE, durationSec: 8, rounds: 3, clients: 8, workloads: ['select', 'tpcb', 'connect'], fake: false, idle: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--base') o.base = resolve(argv[++i]!);
    else if (a === '--new') o.mine = resolve(argv[++i]!);
    else if (a === '--duration') o.durationSec = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--clients') o.clients = Number(argv[++i]);
    else if (a === '--prof') o.prof = resolve(argv[++i]!);
    else if (a === '--fake') o.fake = true;
    else if (a === '--idle') o.idle = Number(argv[++i]);
    else if (a === '--perf') o.perf = resolve(argv[++i]!);
    else if (a === '--workloads') o.workloads = argv[++i]!.split(',');
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
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
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

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

/** A router process from `dist` (a dist/ directory: its src/cli/main.js). */
async function startRouter(dist: string, dir: string, name: string, etcd: string, prof?: string, perf?: boolean): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const metrics = await freePort();
  const file = join(dir, `${name}.yml`);
  writeFileSync(file, [`scope: bench`, 'namespace: /service/', `etcd: {hosts: ["${etcd}"]}`, 'listeners:', `  - {name: write, role: primary, listen: "127.0.0.1:${port}"}`, `metrics: {listen: "127.0.0.1:${metrics}"}`, ''].join('\n'));
  const out = openSync(join(dir, `${name}.log`), 'a');
  const flags: string[] = prof ? ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', prof, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  if (perf) flags.push('--perf-basic-prof');
  const main = join(dist, 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [...flags, '-e', `require(${JSON.stringify(main)}).main(process.argv.slice(1))`, 'router', '-c', file], { stdio: ['ignore', out, out] });
  await waitPort(port);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${metrics}/health`).then((r) => r.json() as Promise<{ writable: boolean }>).catch(() => undefined);
    if (res?.writable) break;
    if (Date.now() > deadline) throw new Error(`router ${name} never became writable`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port };
}

async function startHaproxy(dir: string, pgPort: number, apiPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global\n    maxconn 1000\n\ndefaults\n    mode tcp\n    timeout connect 4s\n    timeout client 30m\n    timeout server 30m\n    timeout check 5s\n\n` +
      `listen primary\n    bind 127.0.0.1:${port}\n    option httpchk OPTIONS /primary\n    http-check expect status 200\n` +
      `    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions\n    server pg1 127.0.0.1:${pgPort} maxconn 100 check port ${apiPort}\n`,
  );
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port);
  return { child, port };
}

function pgbench(port: number, args: string[], clients: number, durationSec: number): Promise<number> {
  const all = ['-h', '127.0.0.1', '-p', String(port), '-U', 'admin', '-n', '-T', String(durationSec), '-c', String(clients), '-j', '2', ...args, 'postgres'];
  return new Promise((resolvePg, reject) => {
    const child = spawn('pgbench', all, { env: { ...process.env, PGPASSWORD: TEST_PASSWORD } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => {
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
      if (!tps) reject(new Error(`pgbench failed (${all.join(' ')}):\n${out}`));
      else resolvePg(Number(tps[1]));
    });
  });
}

/** AuthenticationOk, ParameterStatus (server_version 15), BackendKeyData, ReadyForQuery. */
const REPLY = Buffer.concat([
  Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]),
  Buffer.from([0x53, 0, 0, 0, 4 + 15 + 3, ...Buffer.from('server_version\0'), ...Buffer.from('15\0')]),
  Buffer.from([0x4b, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0x5a, 0, 0, 0, 5, 0x49]),
]);

/** A backend that refuses TLS ('N'), answers a StartupMessage with REPLY, and closes on Terminate or EOF. */
async function startFakeBackend(): Promise<number> {
  const server = createServer((sock: Socket) => {
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      if (d.length === 8 && d.readInt32BE(4) === 80877103) sock.write('N');
      else if (d[0] === 0x58) sock.end();
      else sock.write(REPLY);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** Opens `n` sessions (SSLRequest, 'N', startup, reply) and leaves them open. */
async function openIdle(port: number, n: number): Promise<Socket[]> {
  const out: Socket[] = [];
  const ssl = encodeSslRequest();
  const startup = encodeStartup({ user: 'bench', database: 'postgres' });
  for (let i = 0; i < n; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => new Promise<void>((res, rej) => {
      const s = connect({ port, host: '127.0.0.1' }, () => s.write(ssl));
      let got = 0;
      s.on('error', rej);
      s.on('data', (d: Buffer) => {
        if (got === 0 && d[0] === 0x4e && d.length === 1) {
          got = -1;
          s.write(startup);
          return;
        }
        got = got < 0 ? d.length : got + d.length;
        if (got >= REPLY.length) {
          out.push(s);
          res();
        }
      });
    })));
  }
  return out;
}

/** `clients` loops of: connect, SSLRequest, 'N', StartupMessage, reply up to ReadyForQuery, Terminate, close. */
async function connectLoop(port: number, clients: number, durationSec: number): Promise<number> {
  const until = Date.now() + durationSec * 1000;
  const ssl = encodeSslRequest();
  const startup = encodeStartup({ user: 'bench', database: 'postgres' });
  const terminate = Buffer.from([0x58, 0, 0, 0, 4]);
  let n = 0;
  const one = (): Promise<void> =>
    new Promise((resolveOne, reject) => {
      const s = connect({ port, host: '127.0.0.1', noDelay: true }, () => s.write(ssl));
      let got = 0;
      s.on('error', reject);
      s.on('data', (d: Buffer) => {
        if (got === 0 && d[0] === 0x4e && d.length === 1) {
          got = -1;
          s.write(startup);
          return;
        }
        got = got < 0 ? d.length : got + d.length;
        if (got >= REPLY.length) s.end(terminate);
      });
      s.on('close', () => {
        n++;
        resolveOne();
      });
    });
  await Promise.all(Array.from({ length: clients }, async () => {
    while (Date.now() < until) await one();
  }));
  return n / durationSec;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = tempDir('bench-ab');
  chmodSync(dir, 0o755);
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const etcd = await startEtcd();
    cleanups.push(() => etcd.destroy());
    const store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    cleanups.push(() => store.close());
    const pg = await initPrimary({ name: 'ab', parameters: { max_connections: 300 } });
    cleanups.push(() => pg.destroy());
    const fakePort = o.fake ? await startFakeBackend() : 0;
    const init = o.fake ? { status: 0, stderr: '' } : spawnSync('pgbench', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'admin', '-i', '-q', '-s', '10', 'postgres'], { env: { ...process.env, PGPASSWORD: TEST_PASSWORD }, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    const agent = await startStubAgent();
    cleanups.push(() => void agent.server.close());
    const keys = clusterKeys('/service', 'bench');
    await store.put(keys.config, JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10 }));
    const backendPort = o.fake ? fakePort : pg.port;
    await store.put(keys.member('pg1'), JSON.stringify({ conn_url: `postgres://127.0.0.1:${backendPort}/postgres`, api_url: `http://127.0.0.1:${agent.port}/patroni`, state: 'running', role: 'master', version: '3.0.2' }));
    await store.put(keys.leader, 'pg1');
    const modes: { name: string; port: number; pid?: number }[] = [{ name: 'direct', port: backendPort }];
    if (o.base) {
      const base = await startRouter(o.base, dir, 'base', etcd.endpoint, o.prof, !!o.perf);
      cleanups.push(() => stopChild(base.child));
      modes.push({ name: 'base', port: base.port, pid: base.child.pid! });
    }
    const mine = await startRouter(o.mine, dir, 'new', etcd.endpoint, o.prof, !!o.perf);
    cleanups.push(() => stopChild(mine.child));
    modes.push({ name: 'new', port: mine.port, pid: mine.child.pid! });
    const hap = await startHaproxy(dir, backendPort, agent.port);
    cleanups.push(() => stopChild(hap.child));
    modes.push({ name: 'haproxy', port: hap.port, pid: hap.child.pid! });
    if (o.fake) o.workloads = ['fake-connect'];
    const all: Record<string, string[]> = { select: ['-S'], tpcb: [], connect: ['-S', '-C'] };
    const samples: { w: string; mode: string; tps: number; cpu?: number }[] = [];
    console.log(`# datapath A/B: ${o.rounds} rounds x ${o.durationSec} s, ${o.clients} clients, node ${process.version}`);
    for (let round = 0; round < o.rounds; round++) {
      for (const [wi, w] of o.workloads.entries()) {
        const order = modes.map((_, i) => modes[(i + round + wi) % modes.length]!);
        for (const m of order) {
          const c0 = m.pid ? cpuSeconds(m.pid) : 0;
          const rec = o.perf && m.pid ? spawn('perf', ['record', '-F', '999', '-g', '-p', String(m.pid), '-o', join(o.perf, `${m.name}-${w}-${round + 1}.data`), '--', 'sleep', String(o.durationSec - 1)], { stdio: 'ignore' }) : undefined;
          const tps = o.fake ? await connectLoop(m.port, o.clients, o.durationSec) : await pgbench(m.port, all[w]!, o.clients, o.durationSec);
          const cpu = m.pid ? (cpuSeconds(m.pid) - c0) / o.durationSec : undefined;
          if (rec && rec.exitCode === null) await new Promise((r) => rec.once('exit', r));
          samples.push({ w, mode: m.name, tps, ...(cpu !== undefined ? { cpu } : {}) });
          console.log(`  round ${round + 1} ${w} ${m.name}: ${tps.toFixed(0)} tps${cpu !== undefined ? `, cpu ${(cpu * 100).toFixed(0)}%` : ''}`);
        }
      }
    }
    if (o.fake && o.idle > 0) {
      for (const m of modes.filter((x) => x.pid && x.name !== 'haproxy')) {
        const before = rssMb(m.pid!);
        const socks = await openIdle(m.port, o.idle);
        await new Promise((r) => setTimeout(r, 1500));
        const after = rssMb(m.pid!);
        console.log(`  idle ${m.name}: ${socks.length} sessions, rss ${before.toFixed(0)} → ${after.toFixed(0)} MB, ${(((after - before) * 1024) / socks.length).toFixed(1)} kB per session`);
        for (const s of socks) s.destroy();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    console.log(`\n| workload | ${modes.map((m) => `${m.name} tps (ratio, cpu)`).join(' | ')} |`);
    for (const w of o.workloads) {
      const tps = (mode: string) => avg(samples.filter((s) => s.w === w && s.mode === mode).map((s) => s.tps));
      const cpu = (mode: string) => avg(samples.filter((s) => s.w === w && s.mode === mode).map((s) => s.cpu ?? 0));
      const d = tps('direct');
      console.log(`| ${w} | ${modes.map((m) => `${tps(m.name).toFixed(0)} (${(tps(m.name) / d).toFixed(2)}${m.pid ? `, ${(cpu(m.name) * 100).toFixed(0)}%, ${((cpu(m.name) / tps(m.name)) * 1e6).toFixed(0)} µs/tx` : ''})`).join(' | ')} |`);
    }
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    removeDir(dir);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
