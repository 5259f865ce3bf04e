/**
 * A transaction-mode write listener in front of a real PostgreSQL 15 and a real etcd: many clients on few server
 * connections, psql, pgbench (simple and extended protocol), a cancel through the router's own key, COPY in and out,
 * an error inside BEGIN…COMMIT. Clients authenticate to the router with SCRAM (lane auth's ClientAuthExchange); the
 * router logs in to PostgreSQL with the test password (SCRAM, lane auth's ServerLogin).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import postgres from 'postgres';
import { waitFor } from '../../support/wait';
import { PASSWORD, connectTo, psql } from './harness';
import { runCommand as run, startPooledPrimary, type PooledPrimary } from './pool-harness';

const POOL_SIZE = 3;

describe('router pool_mode transaction', { timeout: 600_000 }, () => {
  let p: PooledPrimary | undefined;
  const port = () => p!.router.ports.write!;
  const url = () => `postgresql://admin@127.0.0.1:${port()}/postgres`;
  const serverConns = () => p!.serverConns();

  before(async () => {
    p = await startPooledPrimary({
      scope: 'pooltest',
      member: 'pool1',
      listeners: [
        { name: 'write', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '5s', pool_mode: 'transaction' },
        { name: 'session', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '5s', pool_mode: 'session' },
      ],
      pool: { size: POOL_SIZE, queue_timeout: '20s' },
    });
  });

  after(async () => {
    await p?.stop();
  });

  test('psql connects through the pooled listener and sees the server parameters', async () => {
    const r = await psql(url(), "select current_user || ' ' || current_setting('server_version_num')::int / 10000");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'admin 15');
  });

  test('clients authenticate to the router (SCRAM): a wrong password gets 28P01 and reaches no server', async () => {
    const before = await serverConns();
    await assert.rejects(connectTo(port(), { password: 'wrong' }), (err: Error & { code?: string }) => err.code === '28P01');
    assert.equal(await serverConns(), before);
  });

  test('20 node-postgres clients share at most pool.size server connections', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectTo(port(), { application_name: 'pooled' })));
    try {
      let maxServers = 0;
      let working = true;
      const sampler = (async () => {
        while (working) maxServers = Math.max(maxServers, await serverConns());
      })();
      await Promise.all(clients.map(async (c, i) => {
        for (let k = 0; k < 5; k++) {
          const r = await c.query('select $1::int * 2 as v, pg_sleep(0.01)', [i * 10 + k]);
          assert.equal(r.rows[0].v, (i * 10 + k) * 2);
        }
      }));
      working = false;
      await sampler;
      assert.ok(maxServers <= POOL_SIZE, `server connections ${maxServers} > pool size ${POOL_SIZE}`);
      assert.ok(maxServers >= 1);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  });

  test('an error inside BEGIN…COMMIT: the block fails, ROLLBACK ends it, the client goes on', async () => {
    const c = await connectTo(port());
    try {
      await c.query('create table if not exists pool_tx (id int primary key)');
      await c.query('begin');
      await c.query('insert into pool_tx values (1)');
      await assert.rejects(c.query('insert into pool_tx values (1)'), /duplicate key/);
      await assert.rejects(c.query('select 1'), /current transaction is aborted/);
      await c.query('rollback');
      assert.equal((await c.query('select count(*)::int as n from pool_tx')).rows[0].n, 0);
      await c.query('begin');
      await c.query('insert into pool_tx values (2)');
      await c.query('commit');
      assert.equal((await c.query('select count(*)::int as n from pool_tx')).rows[0].n, 1);
    } finally {
      await c.end();
    }
  });

  test('cancel: psql interrupted in pg_sleep is cancelled through the router-issued key', async () => {
    let child: ReturnType<typeof spawn> | undefined;
    const done = psql(url(), 'select pg_sleep(30)', (c) => (child = c));
    await waitFor('pg_sleep running', async () => Number((await p!.direct.query("select count(*) as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'")).rows[0].n) === 1, { timeoutMs: 20_000, intervalMs: 50 });
    child!.kill('SIGINT');
    const r = await done;
    assert.match(r.stderr, /canceling statement due to user request/);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
  });

  test('COPY in and out through psql', async () => {
    await run('psql', [url(), '-X', '-c', 'create table if not exists pool_copy (x int, t text)']);
    const rows = Array.from({ length: 5000 }, (_, i) => `${i}\trow ${i}`).join('\n');
    const copyIn = await run('psql', [url(), '-X', '-c', 'copy pool_copy from stdin'], `${rows}\n\\.\n`);
    assert.equal(copyIn.code, 0, copyIn.stderr);
    assert.match(copyIn.stdout, /COPY 5000/);
    const copyOut = await run('psql', [url(), '-X', '-c', 'copy (select * from pool_copy order by x) to stdout']);
    assert.equal(copyOut.code, 0, copyOut.stderr);
    assert.equal(copyOut.stdout.trim().split('\n').length, 5000);
    assert.equal(copyOut.stdout.split('\n')[4999], '4999\trow 4999');
  });

  test('pgbench -M simple and -M extended run without a failed transaction', async () => {
    const init = await run('pgbench', ['-i', '-s', '1', '-q', `postgresql://admin@127.0.0.1:${p!.pg.port}/postgres`]);
    assert.equal(init.code, 0, init.stderr);
    for (const mode of ['simple', 'extended']) {
      const r = await run('pgbench', ['-n', '-c', '8', '-j', '2', '-T', '3', '-M', mode, url()]);
      assert.equal(r.code, 0, `${mode}: ${r.stderr}`);
      const processed = /number of transactions actually processed: (\d+)/.exec(r.stdout);
      assert.ok(processed && Number(processed[1]) > 0, r.stdout);
      assert.doesNotMatch(r.stdout, /number of failed transactions: [1-9]/);
      console.log(`pgbench -M ${mode} through the transaction pool: ${/tps = [\d.]+/.exec(r.stdout)?.[0] ?? '?'}`);
    }
    assert.ok((await serverConns()) <= POOL_SIZE);
  });

  test('session mode: one server connection for the whole client session, reset (DISCARD ALL) before the next client', async () => {
    const sessionPort = p!.router.ports.session!;
    const a = await connectTo(sessionPort);
    const pid = (await a.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    await a.query("set application_name = 'kept'");
    for (let i = 0; i < 3; i++) {
      const r = (await a.query("select pg_backend_pid() as pid, current_setting('application_name') as app")).rows[0];
      assert.deepEqual(r, { pid, app: 'kept' });
    }
    await a.end();
    const b = await connectTo(sessionPort);
    try {
      const r = await waitFor('the reset connection reused', async () => {
        const row = (await b.query("select pg_backend_pid() as pid, current_setting('application_name') as app")).rows[0];
        return row;
      });
      assert.equal(r.pid, pid, 'the same server connection, back in the pool');
      assert.equal(r.app, '', 'DISCARD ALL ran (RESET ALL): the previous client’s setting is gone');
    } finally {
      await b.end();
    }
  });

  test('postgres.js pipelines 50 queries on one client connection (unnamed statements): every answer to its query', async () => {
    const sql = postgres({ host: '127.0.0.1', port: port(), user: 'admin', password: PASSWORD, database: 'postgres', max: 1, prepare: false, onnotice: () => undefined });
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => sql`select ${i}::int as i, pg_backend_pid() as pid`));
      results.forEach((r, i) => assert.equal(r[0]!.i, i));
      assert.ok(new Set(results.map((r) => r[0]!.pid)).size <= POOL_SIZE);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  test('an oversized message after login: FATAL 08P01 and the connection closed, nothing forwarded', async () => {
    const c = await connectTo(port());
    const stream = (c as unknown as { connection: { stream: Socket } }).connection.stream;
    let got = '';
    stream.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const closed = new Promise((r) => stream.once('close', r));
    const header = Buffer.alloc(5);
    header[0] = 0x51; // 'Q', with a length of 2 GB
    header.writeInt32BE(0x7fffffff, 1);
    stream.write(header);
    await closed;
    assert.match(got, /FATAL/);
    assert.match(got, /08P01/);
    assert.match(got, /too long/);
    await c.end().catch(() => undefined);
    const next = await connectTo(port());
    assert.equal((await next.query('select 1 as one')).rows[0].one, 1, 'the pool is unharmed');
    await next.end();
  });
});
