/**
 * Real etcd servers for tests: free loopback ports, a temporary data dir, output in `<dataDir>/etcd.log`, stopped
 * by PID. Every server still running when the test process exits is SIGKILLed, so a crashed test never leaves
 * etcd behind.
 *
 *   const etcd = await startEtcd();          t.after(() => etcd.destroy());
 *   etcd.kill('SIGSTOP'); etcd.kill('SIGCONT'); await etcd.restart();
 *   const cluster = await startEtcdCluster(3); await cluster.members[0].stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { freePorts } from './ports';
import { removeDir, tempDir } from './tmp';

export interface EtcdServer {
  name: string;
  /** 127.0.0.1:clientPort */
  endpoint: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  /** PID of the current process (changes on restart). */
  readonly pid: number;
  readonly running: boolean;
  /** SIGTERM (and SIGCONT, in case it is stopped), SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  /**
   * SIGSTOP, resolving once every thread is stopped: kill() returns before a busy multi-threaded process has
   * actually stopped, and a request sent in between may still be answered.
   */
  freeze(): Promise<void>;
  /** SIGCONT. */
  thaw(): void;
  /** Stops it if running, then starts it again on the same ports and data dir; resolves once healthy. */
  restart(): Promise<void>;
  /** stop(), then removes the data dir when startEtcd created it. */
  destroy(): Promise<void>;
}

export interface EtcdCluster {
  members: EtcdServer[];
  /** Every member's endpoint, in member order. */
  endpoints: string[];
  destroy(): Promise<void>;
}

export interface StartEtcdOptions {
  dataDir?: string;
  clientPort?: number;
  peerPort?: number;
  name?: string;
  /** Readiness deadline. Default 30 s: a cold start on a loaded 2-core machine can take several seconds. */
  readyTimeoutMs?: number;
  /** Serve clients over TLS (peers stay plain http); with clientCertAuth, clients must present a cert. */
  tls?: EtcdTlsOptions;
}

export interface EtcdTlsOptions {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Used by the readiness check (needed when clientCertAuth is on). */
  clientCert: string;
  clientKey: string;
  clientCertAuth?: boolean;
}

/** Grace period between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5000;
const DEFAULT_READY_TIMEOUT_MS = 30_000;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export function findEtcd(): string {
  for (const p of ['/usr/bin/etcd', '/usr/local/bin/etcd']) if (existsSync(p)) return p;
  return 'etcd';
}

interface MemberSpec {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  initialCluster: string;
  token: string;
  tls?: EtcdTlsOptions;
}

/** A single-member etcd. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  const [clientPort, peerPort] = await portsFor(opts);
  const name = opts.name ?? 'etcd0';
  const ownDir = opts.dataDir ? undefined : tempDir('etcd');
  const spec: MemberSpec = {
    name,
    clientPort,
    peerPort,
    dataDir: opts.dataDir ?? join(ownDir!, 'data'),
    initialCluster: `${name}=http://127.0.0.1:${peerPort}`,
    token: `pgha-test-${clientPort}`,
    ...(opts.tls ? { tls: opts.tls } : {}),
  };
  const server = member(spec, ownDir, opts.readyTimeoutMs);
  await server.restart().catch(async (err: unknown) => {
    await server.destroy();
    throw err;
  });
  return server;
}

/** An n-member etcd cluster on loopback (default 3), every member healthy. */
export async function startEtcdCluster(n = 3, opts: { readyTimeoutMs?: number } = {}): Promise<EtcdCluster> {
  const ports = await freePorts(2 * n);
  const base = tempDir('etcd-cluster');
  const specs: MemberSpec[] = [];
  for (let i = 0; i < n; i++) {
    specs.push({ name: `etcd${i}`, clientPort: ports[2 * i]!, peerPort: ports[2 * i + 1]!, dataDir: join(base, `etcd${i}`), initialCluster: '', token: `pgha-test-${ports[0]}` });
  }
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const members = specs.map((s) => member({ ...s, initialCluster }, undefined, opts.readyTimeoutMs));
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    async destroy() {
      await Promise.all(members.map((m) => m.stop()));
      removeDir(base);
    },
  };
  // Members wait for each other (quorum) before they report healthy: start them all, then wait.
  await Promise.all(members.map((m) => m.restart())).catch(async (err: unknown) => {
    await cluster.destroy();
    throw err;
  });
  return cluster;
}

async function portsFor(opts: StartEtcdOptions): Promise<[number, number]> {
  if (opts.clientPort && opts.peerPort) return [opts.clientPort, opts.peerPort];
  const [a, b] = await freePorts(2);
  return [opts.clientPort ?? a!, opts.peerPort ?? b!];
}

function member(spec: MemberSpec, ownDir: string | undefined, readyTimeoutMs = DEFAULT_READY_TIMEOUT_MS): EtcdServer {
  installExitHook();
  mkdirSync(spec.dataDir, { recursive: true, mode: 0o700 });
  const client = `${spec.tls ? 'https' : 'http'}://127.0.0.1:${spec.clientPort}`;
  const peer = `http://127.0.0.1:${spec.peerPort}`;
  const logFile = join(spec.dataDir, 'etcd.log');
  const tlsArgs = spec.tls
    ? ['--cert-file', spec.tls.serverCert, '--key-file', spec.tls.serverKey, '--trusted-ca-file', spec.tls.ca, ...(spec.tls.clientCertAuth ? ['--client-cert-auth'] : [])]
    : [];
  const args = [
    ...tlsArgs,
    '--name', spec.name,
    '--data-dir', join(spec.dataDir, 'member-data'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', spec.initialCluster, '--initial-cluster-state', 'new',
    '--initial-cluster-token', spec.token,
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const spawnIt = () => {
    const fd = openSync(logFile, 'a');
    // etcd reads ETCD_* variables as flags (and refuses duplicates): keep the test environment's out.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD')));
    const c = spawn(findEtcd(), args, { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    if (c.pid === undefined) throw new Error(`could not start etcd (${findEtcd()})`);
    live.add(c);
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    void exited.then(() => live.delete(c));
    child = c;
  };

  const isRunning = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const server: EtcdServer = {
    name: spec.name,
    endpoint: `127.0.0.1:${spec.clientPort}`,
    clientPort: spec.clientPort,
    peerPort: spec.peerPort,
    dataDir: spec.dataDir,
    logFile,
    get pid() {
      return child?.pid ?? -1;
    },
    get running() {
      return isRunning();
    },
    async stop() {
      if (!child || !isRunning()) return;
      const c = child;
      c.kill('SIGTERM');
      c.kill('SIGCONT');
      const timer = setTimeout(() => isRunning() && c.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
    kill(signal) {
      if (child && isRunning()) child.kill(signal);
    },
    async freeze() {
      if (!child || !isRunning()) throw new Error(`etcd ${spec.name} is not running`);
      const pid = child.pid!;
      child.kill('SIGSTOP');
      const deadline = Date.now() + 10_000;
      while (!allThreadsStopped(pid)) {
        if (Date.now() > deadline) throw new Error(`etcd ${spec.name} (pid ${pid}) did not stop on SIGSTOP`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    thaw() {
      if (child && isRunning()) child.kill('SIGCONT');
    },
    async restart() {
      await server.stop();
      spawnIt();
      await waitHealthy(client, readyTimeoutMs, isRunning, logFile, spec.tls);
    },
    async destroy() {
      await server.stop();
      if (ownDir) removeDir(ownDir);
    },
  };
  return server;
}

/** Polls GET /health (true once the member has a raft leader) until it says so, or fails with the log's tail. */
async function waitHealthy(client: string, timeoutMs: number, running: () => boolean, logFile: string, tls?: EtcdTlsOptions): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running()) throw new Error(`etcd on ${client} exited during startup:\n${tail(logFile)}`);
    if (await healthy(client, tls).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`etcd on ${client} not healthy within ${timeoutMs} ms:\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function healthy(client: string, tls?: EtcdTlsOptions): Promise<boolean> {
  if (!tls) {
    const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  }
  // fetch() cannot be given a CA or a client certificate: node:https can.
  const body = await new Promise<string>((resolve, reject) => {
    const req = httpsGet(
      `${client}/health`,
      { ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey), timeout: 1000 },
      (res) => {
        let data = '';
        res.on('data', (chunk: Buffer) => (data += chunk.toString()));
        res.on('end', () => resolve(data));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
  return (JSON.parse(body) as { health?: string }).health === 'true';
}

/** Linux: true when every thread of `pid` is in state T (stopped) according to /proc. */
function allThreadsStopped(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state === 'T' || state === 't';
    });
  } catch {
    return false;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The name earlier tests used for EtcdServer. */
export type TestEtcd = EtcdServer;
