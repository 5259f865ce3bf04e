import { join } from 'node:path';
import { mkdirSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { spawnManaged, type Managed } from './process';

export interface EtcdProcess extends Managed {
  endpoint: string; // 127.0.0.1:port
  clientPort: number;
  peerPort: number;
  dataDir: string;
}

export function findEtcdBinary(): string {
  for (const p of ['/usr/bin/etcd', '/usr/local/bin/etcd']) if (existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v etcd']).toString().trim();
  } catch {
    throw new Error('etcd is not installed: apt-get install etcd-server (Debian) or put etcd on PATH');
  }
}

/** Starts a single-member etcd on loopback with the given ports; waits until it answers /health. */
export async function startEtcdProcess(opts: {
  dir: string;
  clientPort: number;
  peerPort: number;
  name?: string;
  timeoutMs?: number;
}): Promise<EtcdProcess> {
  const name = opts.name ?? 'etcd0';
  const dataDir = join(opts.dir, `${name}.data`);
  mkdirSync(opts.dir, { recursive: true });
  const client = `http://127.0.0.1:${opts.clientPort}`;
  const peer = `http://127.0.0.1:${opts.peerPort}`;
  const proc = spawnManaged(name, findEtcdBinary(), [
    '--name', name, '--data-dir', dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${name}=${peer}`, '--initial-cluster-state', 'new',
    '--initial-cluster-token', `pgha-${name}-${opts.clientPort}`,
  ], { logFile: join(opts.dir, `${name}.log`), env: {} });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    try {
      const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await proc.stop(1000);
      throw new Error(`etcd did not become healthy on ${client}; see ${join(opts.dir, `${name}.log`)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...proc, endpoint: `127.0.0.1:${opts.clientPort}`, clientPort: opts.clientPort, peerPort: opts.peerPort, dataDir };
}
