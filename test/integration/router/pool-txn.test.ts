/**
 * Transaction pooling's session state against a real PostgreSQL 15 and a real etcd: named prepared statements
 * (pgbench -M prepared, node-postgres `{ name }`) used by many clients over fewer server connections, SET
 * application_name / TimeZone kept per client across transactions, and what cannot work (LISTEN, session
 * advisory locks) refused with 0A000 while the session goes on. Two server connections serve every client, so
 * each client's transactions keep landing on connections other clients changed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectTo } from './harness';
import { runCommand as run, startPooledPrimary, type PooledPrimary } from './pool-harness';

const POOL_SIZE = 2;

describe('router pool_mode transaction: session state across server connections', { timeout: 600_000 }, () => {
  let cluster: PooledPrimary | undefined;
  const port = () => cluster!.router.ports.write!;
  const serverConns = () => cluster!.serverConns();

  before(async () => {
    cluster = await startPooledPrimary({
      scope: 'pooltxn',
      member: 'txn1',
      listeners: [{ name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '5s', pool_mode: 'transaction' }],
      pool: { size: POOL_SIZE, queue_timeout: '30s' },
    });
  });

  after(async () => {
    await cluster?.stop();
  });

  test('pgbench -M prepared runs through the transaction-mode listener without an error', async () => {
    const init = await run('pgbench', ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', String(cluster!.pg.port), '-U', 'admin', 'postgres']);
    assert.equal(init.code, 0, init.stderr);
    // One thread per client: pgbench 15 prepares with a blocking PQprepare, so a thread whose client waits for a
    // server connection stalls its other clients, one of which may hold that connection in a transaction.
    const r = await run('pgbench', ['-M', 'prepared', '-c', '4', '-j', '4', '-t', '40', '-h', '127.0.0.1', '-p', String(port()), '-U', 'admin', 'postgres']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /number of transactions actually processed: 160\/160/);
    assert.match(r.stdout, /number of failed transactions: 0 /);
    assert.ok((await serverConns()) <= POOL_SIZE);
  });

  test('node-postgres named statements: 12 clients, 2 server connections, every client its own results', async () => {
    const clients = await Promise.all(Array.from({ length: 12 }, () => connectTo(port())));
    try {
      await Promise.all(clients.map(async (c, i) => {
        for (let k = 0; k < 8; k++) {
          const a = await c.query({ name: 'plus', text: 'select $1::int + 1 as v', values: [i * 100 + k] });
          assert.equal(a.rows[0].v, i * 100 + k + 1);
          // A second statement whose name another client gives another text: names are the client's own.
          const b = await c.query({ name: 'mine', text: i % 2 ? 'select $1::text as v' : "select $1::text || '!' as v", values: [`c${i}`] });
          assert.equal(b.rows[0].v, i % 2 ? `c${i}` : `c${i}!`);
        }
      }));
      assert.ok((await serverConns()) <= POOL_SIZE);
      // Three distinct texts, shared by the clients: prepared once per server connection that ran them.
      const status = cluster!.router.status() as { pools?: { listener: string; prepared?: number }[] };
      const prepared = status.pools?.find((p) => p.listener === 'write')?.prepared ?? 0;
      assert.ok(prepared >= 3 && prepared <= POOL_SIZE * (3 + 7), `prepared statements on /status: ${prepared}`);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  });

  test('SET application_name and TimeZone stay with each client across transactions', async () => {
    const zones = ['Asia/Tokyo', 'America/New_York', 'Europe/Paris', 'UTC'];
    const clients = await Promise.all(zones.map(() => connectTo(port())));
    try {
      await Promise.all(clients.map((c, i) => c.query(`set application_name = 'client${i}'; set timezone = '${zones[i]}'`)));
      await Promise.all(clients.map(async (c, i) => {
        for (let k = 0; k < 10; k++) {
          const r = await c.query("select current_setting('application_name') as app, current_setting('TimeZone') as tz, pg_sleep(0.005)");
          assert.deepEqual({ app: r.rows[0].app, tz: r.rows[0].tz }, { app: `client${i}`, tz: zones[i] });
        }
      }));
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  });

  test('LISTEN and a session advisory lock get 0A000, and the session goes on', async () => {
    const client = await connectTo(port());
    try {
      await assert.rejects(client.query('LISTEN orders'), (err: { code?: string; message?: string }) => {
        assert.equal(err.code, '0A000');
        assert.match(err.message ?? '', /LISTEN is not supported with pool_mode transaction/);
        return true;
      });
      await assert.rejects(client.query({ text: 'select pg_advisory_lock($1)', values: [7] }), { code: '0A000' });
      assert.equal((await client.query({ text: 'select pg_advisory_xact_lock($1), 2 as v', values: [7] })).rows[0].v, 2);
      const locks = await cluster!.direct.query("select count(*)::int as n from pg_locks where locktype = 'advisory'");
      assert.equal(locks.rows[0].n, 0, 'no advisory lock left on a server connection');
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});
