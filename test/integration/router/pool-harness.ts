/**
 * The pooled listeners' integration setup: a real etcd, one real PostgreSQL 15 primary with its stub agent and
 * Patroni keys, and a router whose listeners the test gives (pool_mode session/transaction). The router logs in to
 * PostgreSQL with the test password, and clients to the router with it (SCRAM); `direct` is the test's own connection to the primary (to look at
 * pg_stat_activity, pg_locks…). `stop()` ends whatever was started, also after a failed start.
 */
import { spawn } from 'node:child_process';
import type pg from 'pg';
import { EtcdStore } from '../../../src/dcs/etcd/etcd-store';
import { createLogger, silentLogger } from '../../../src/log/logger';
import { startRouter, loadRouterConfig, type RunningRouter } from '../../../src/router/index';
import { startEtcd, type TestEtcd } from '../../support/etcd';
import { initPrimary, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';
import { PASSWORD, PatroniKeys, connectTo, startStubAgent, type StubAgent } from './harness';

const log = process.env.PGHA_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger();

/** Runs a command to its end (bounded), returning its output. `env`: more environment variables. */
export function runCommand(cmd: string, args: string[], input?: string, timeoutMs = 120_000, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '30', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.stdin.end(input ?? '');
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

export interface PooledPrimary {
  pg: TestPostgres;
  router: RunningRouter;
  direct: pg.Client;
  /** The test's own etcd client (drain keys, router registrations). */
  store: EtcdStore;
  /** The router's server connections: every admin backend but the test's own and the stub agent's. */
  serverConns(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * `auth`: the router's YAML auth: section (a userlist file…); without it the test password is handed in directly.
 * `extra`: more top-level router YAML (tls:, metrics:…).
 */
export async function startPooledPrimary(o: { scope: string; member: string; listeners: Record<string, unknown>[]; pool: Record<string, unknown>; auth?: Record<string, unknown>; extra?: Record<string, unknown> }): Promise<PooledPrimary> {
  let etcd: TestEtcd | undefined;
  let store: EtcdStore | undefined;
  let pg0: TestPostgres | undefined;
  let stub: StubAgent | undefined;
  let router: RunningRouter | undefined;
  let direct: pg.Client | undefined;
  const stop = async () => {
    await direct?.end().catch(() => undefined);
    await router?.stop().catch(() => undefined);
    await stub?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await pg0?.destroy();
    await etcd?.destroy();
  };
  try {
    etcd = await startEtcd();
    store = new EtcdStore({ hosts: [etcd.endpoint], deadlineMs: 5000 });
    const keys = new PatroniKeys(store, o.scope);
    pg0 = await initPrimary({ name: o.member });
    stub = await startStubAgent(o.member, pg0);
    await keys.config({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    await keys.member(stub, 'master');
    await keys.leader(o.member);
    const config = loadRouterConfig(
      {
        scope: o.scope,
        etcd: { hosts: [etcd.endpoint], deadline: '2s' },
        listeners: o.listeners,
        pool: o.pool,
        ...(o.auth ? { auth: o.auth } : {}),
        health: { interval: '200ms', timeout: '200ms', fast_interval: '20ms', max_age: '1s' },
        lease: { margin: '1s' },
        ...o.extra,
      },
      'pool integration test',
    );
    router = await startRouter(config, o.auth ? { logger: log } : { logger: log, poolAuth: { secrets: { lookup: async () => ({ kind: 'plain', password: PASSWORD }) }, type: 'scram-sha-256' } });
    await waitFor('leader confirmed', () => router!.table().leader?.member === o.member, { timeoutMs: 30_000, intervalMs: 50 });
    direct = await connectTo(pg0.port, { application_name: 'test-direct' });
  } catch (err) {
    await stop();
    throw err;
  }
  const c = direct;
  return {
    pg: pg0,
    router,
    direct: c,
    store: store!,
    // In transaction mode server connections take their clients' application_name, so count all but ours.
    serverConns: async () => Number((await c.query("select count(*) as n from pg_stat_activity where backend_type = 'client backend' and usename = 'admin' and application_name not in ('test-direct', 'stub-agent')")).rows[0].n),
    stop,
  };
}
