/**
 * Pooled listeners with `workers: 2` against a real PostgreSQL 15 and etcd: each worker runs its own pools; a
 * CancelRequest lands on whichever worker the control plane hands it to and reaches its session (a key another
 * worker issued is forwarded there); /status and /metrics sum both workers' pools and clients; the switchover drain
 * is acknowledged only once both workers paused and the transaction in flight on one of them finished; the live
 * status page (headless Chromium) shows the summed pool and client tables, the workers and an operator's pause.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { encodeDrainRequest, parseRouterRegistration } from '../../../src/model/drain';
import { clusterKeys } from '../../../src/model/keys';
import type { ClientStats } from '../../../src/router/pool/client-stats';
import type { PoolStats } from '../../../src/router/pool/pool-control';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';
import { PASSWORD, connectTo, sendCancel } from './harness';
import { chromiumMissing, inCi, launchChromium } from '../status-page/browser';
import { startPooledPrimary, type PooledPrimary } from './pool-harness';

const SCOPE = 'poolworkers';
const MEMBER = 'pw1';
const CLIENTS = 12;

interface StatusDoc {
  pools: PoolStats[];
  clients: ClientStats[];
  paused: Record<string, string[]>;
  workers: { index: number; ready: boolean; connections: Record<string, { active: number }> }[];
}

/** The sum of one metric's samples whose labels contain `match`. */
function metricSum(text: string, name: string, match: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(match))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('pooled listeners with two workers', { timeout: 600_000 }, () => {
  let p: PooledPrimary | undefined;
  let dir: string | undefined;
  let metricsPort = 0;
  let port = 0;
  const clients: Client[] = [];
  const status = (): StatusDoc => p!.router.status() as StatusDoc;
  const metrics = (): Promise<string> => fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgha-poolworkers-'));
    const userlist = join(dir, 'userlist.txt');
    // Workers read the userlist themselves: secrets never cross the control plane's channel.
    writeFileSync(userlist, `"admin" "${PASSWORD}"\n`, { mode: 0o600 });
    port = await freePort();
    metricsPort = await freePort();
    p = await startPooledPrimary({
      auth: { file: userlist, type: 'scram-sha-256' },
      scope: SCOPE,
      member: MEMBER,
      listeners: [{ name: 'txn', role: 'primary', listen: `127.0.0.1:${port}`, hold_timeout: '10s', pool_mode: 'transaction' }],
      pool: { size: 8, queue_timeout: '60s' },
      extra: {
        workers: 2,
        metrics: { listen: `127.0.0.1:${metricsPort}` },
        switchover_drain: { timeout: '60s' },
        // Patient health checks: on a loaded machine the harness's 200 ms checks can unconfirm the leader for a
        // moment, which retires the write pools and cuts the sleeping sessions (08006 instead of 57014).
        health: { interval: '1s', timeout: '900ms', fast_interval: '50ms', fall: 5, max_age: '10s' },
      },
    });
    for (let i = 0; i < CLIENTS; i++) clients.push(await connectTo(port));
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await p?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(`${CLIENTS} clients over both workers: every cancel reaches its session, also through the other worker`, async (t) => {
    // Both workers serve clients (the control plane hands connections out in turn).
    const perWorker = await waitFor('both workers report their clients', () => {
      const counts = status().workers.map((w) => w.connections.txn?.active ?? 0);
      return counts.length === 2 && counts[0]! + counts[1]! === CLIENTS ? counts : undefined;
    }, { timeoutMs: 30_000 });
    assert.ok(perWorker.every((n) => n > 0), `clients per worker: ${perWorker.join(', ')}`);

    const queries = clients.map((c) => c.query('select pg_sleep(30)').then(() => 'finished', (err: { code?: string }) => err.code ?? String(err)));
    await waitFor(`${CLIENTS} sleeps running`, async () => {
      const r = await p!.direct.query("select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'");
      return r.rows[0].n === CLIENTS;
    }, { timeoutMs: 60_000 });
    // Newest first: with the control plane's turn-taking, most cancels land on the worker that did not issue the key.
    for (const c of [...clients].reverse()) await sendCancel(port, c);
    const outcomes = await Promise.all(queries);
    assert.deepEqual(outcomes, clients.map(() => '57014'), 'every sleep cancelled (SQLSTATE 57014)');

    const text = await waitFor('the cancels counted', async () => {
      const m = await metrics();
      return metricSum(m, 'pgha_router_cancel_requests_total', 'outcome="routed"') === CLIENTS ? m : undefined;
    }, { timeoutMs: 20_000 });
    const forwarded = metricSum(text, 'pgha_router_cancel_requests_total', 'outcome="forwarded"');
    t.diagnostic(`cancels: ${CLIENTS} routed to their server connection, ${forwarded} of them forwarded from the other worker`);
    assert.ok(forwarded >= 1, 'no cancel crossed workers');
    assert.equal(metricSum(text, 'pgha_router_cancel_requests_total', 'outcome="unknown_key"'), 0);
  });

  test('/status and /metrics sum both workers: clients by state, server connections per pool', async () => {
    // A server connection a cancel was sent for rejoins its pool only once PostgreSQL closed the cancel connection
    // (pool/cancel-guard.ts), and workers report once a second: wait for the summed pool too, not only the clients.
    const doc = await waitFor('every client idle and every server connection back in the summed tables', () => {
      const s = status();
      const row = s.clients.find((c) => c.listener === 'txn' && c.user === 'admin' && c.database === 'postgres');
      const pool = s.pools.find((x) => x.listener === 'txn');
      return row?.clients === CLIENTS && row.idle === CLIENTS && pool && pool.sv_idle + pool.sv_active >= CLIENTS ? s : undefined;
    }, { timeoutMs: 30_000 });
    const pools = doc.pools.filter((x) => x.listener === 'txn');
    assert.equal(pools.length, 1, 'one (listener, user, database, member) row for both workers');
    const pool = pools[0]!;
    // Twelve sleeps ran at once on two pools of at most 8: both workers opened server connections.
    assert.ok(pool.sv_idle + pool.sv_active >= CLIENTS && pool.sv_idle + pool.sv_active <= 16, `server connections ${pool.sv_idle + pool.sv_active}`);
    assert.equal(pool.cl_waiting, 0);
    const text = await metrics();
    assert.equal(metricSum(text, 'pgha_router_pool_client_connections', 'state="idle"'), CLIENTS);
    assert.equal(metricSum(text, 'pgha_router_pool_server_connections', 'state="idle"'), pool.sv_idle);
  });

  test('a switchover drain is acknowledged only after both workers paused and the open transaction committed', async () => {
    const keys = clusterKeys((p!.router.status() as { namespace: string }).namespace, SCOPE);
    const [inTx, waiter] = [clients[0]!, clients[1]!];
    await inTx.query('begin');
    await inTx.query('select 1');
    await p!.store.put(keys.drain, encodeDrainRequest({ id: 'drain-1', leader: MEMBER, timeoutMs: 60_000 }));
    const drained = async (): Promise<boolean> => {
      const { kvs } = await p!.store.readPrefix(keys.routersPrefix);
      return kvs.some((kv) => parseRouterRegistration(kv.key, kv.value, kv.modRevision).drained === 'drain-1');
    };
    // Both workers' pools paused (the summed row says paused only when every worker's is): a new transaction waits.
    await waitFor('both workers paused', () => status().pools.find((x) => x.listener === 'txn')?.paused === true, { timeoutMs: 30_000 });
    let waited = false;
    const next = waiter.query('select 2 as n').then((r) => {
      waited = true;
      return r.rows[0].n as number;
    });
    await waitFor('the new transaction queued', () => (status().pools.find((x) => x.listener === 'txn')?.cl_waiting ?? 0) >= 1, { timeoutMs: 30_000 });
    assert.equal(await drained(), false, 'acknowledged while a transaction was in flight');
    await inTx.query('commit');
    await waitFor('drain acknowledged', drained, { timeoutMs: 30_000 });
    assert.equal(waited, false, 'a transaction began on the paused member');
    // The agent would now demote; here the key goes away and the router resumes: the waiting client runs.
    await p!.store.delete(keys.drain);
    assert.equal(await next, 2);
  });

  test('the status page shows both workers, the summed pool and client tables, and an operator pause', {
    skip: chromiumMissing && !inCi ? 'chromium not found (apt-get install --no-install-recommends chromium)' : false,
  }, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const base = `http://127.0.0.1:${metricsPort}`;
      await page.goto(`${base}/?interval=300`, { waitUntil: 'load', timeout: 60_000 });
      const cellText = async (selector: string, n: number): Promise<string> =>
        (await page.locator(`${selector} td:nth-child(${n})`).first().textContent({ timeout: 5000 })) ?? '';
      const poolRow = `#pools tr[data-pool="txn/admin/postgres/${MEMBER}"]`;
      await waitFor('the page shows both workers, the pool and every client', async () =>
        (await page.locator('#workers tr').count()) === 2
        && (await page.locator(poolRow).count()) === 1
        && (await cellText('#clients tr[data-clients="txn/admin/postgres"]', 4)) === String(CLIENTS),
      { timeoutMs: 30_000 });
      const post = (path: string): Promise<unknown> => fetch(`${base}${path}?member=${MEMBER}`, { method: 'POST' }).then((r) => r.json());
      await post('/pause');
      await waitFor('the page shows the pause', async () =>
        (await page.locator(poolRow).getAttribute('data-paused', { timeout: 5000 })) === 'true'
        && ((await page.locator('#paused').textContent({ timeout: 5000 })) ?? '').includes(`${MEMBER} (operator)`),
      { timeoutMs: 30_000 });
      await post('/resume');
      await waitFor('the page shows the pool serving again', async () =>
        (await page.locator(poolRow).getAttribute('data-paused', { timeout: 5000 })) === 'false' && !(await page.locator('#paused').isVisible()),
      { timeoutMs: 30_000 });
    } finally {
      await browser.close();
    }
  });
});
