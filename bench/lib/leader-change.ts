/**
 * Leader-change timing through the router: the leader key moves from `pg1` (the bench postgres) to `pg2` (the
 * same postgres behind a counting TCP forwarder, so a write that reached pg2 is recognisable), and we measure
 * key change → first successful write whose backend connection went through pg2, and key change → the router
 * closing a write session that was open on pg1.
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type { EtcdStore } from '../../src/dcs/etcd/etcd-store';
import { clusterKeys } from '../../src/model/keys';
import { PGBENCH_PASSWORD } from './pgbench';
import { sleep } from './procs';

export interface LeaderChange {
  /** The same write on a new connection just before the change: what a connection costs on this machine now. */
  baselineWriteMs: number;
  firstWriteMs: number;
  oldSessionClosedMs?: number;
  attempts: number;
}

const WRITE = 'insert into pgbench_history (tid, bid, aid, delta, mtime) values (1, 1, 1, 0, now())';

async function write(port: number): Promise<void> {
  const c = new Client({ host: '127.0.0.1', port, user: 'admin', password: PGBENCH_PASSWORD, database: 'postgres', connectionTimeoutMillis: 10_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query(WRITE);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function measureLeaderChange(store: EtcdStore, scope: string, routerPort: number, newLeader: string, accepted: () => number): Promise<LeaderChange> {
  const old = new Client({ host: '127.0.0.1', port: routerPort, user: 'admin', password: PGBENCH_PASSWORD, database: 'postgres' });
  let closedAt = 0;
  old.on('error', () => (closedAt ||= performance.now()));
  old.on('end', () => (closedAt ||= performance.now()));
  await old.connect();
  await old.query(WRITE);
  const b0 = performance.now();
  await write(routerPort);
  const baselineWriteMs = performance.now() - b0;
  const t0 = performance.now();
  await store.put(clusterKeys('/service', scope).leader, newLeader);
  let attempts = 0;
  for (;;) {
    if (performance.now() - t0 > 10_000) throw new Error(`no write reached ${newLeader} within 10 s of the leader key change`);
    attempts++;
    const before = accepted();
    const ok = await write(routerPort).then(
      () => true,
      () => false,
    );
    if (ok && accepted() > before) break;
    await sleep(1);
  }
  const firstWriteMs = performance.now() - t0;
  for (let i = 0; i < 100 && !closedAt; i++) await sleep(10);
  await old.end().catch(() => undefined);
  return { baselineWriteMs, firstWriteMs, attempts, ...(closedAt ? { oldSessionClosedMs: closedAt - t0 } : {}) };
}
