/**
 * Issue 13's driver acceptance for Python: psycopg 3 and asyncpg (Debian's python3-psycopg, python3-asyncpg) through
 * a transaction-mode and a session-mode listener of one router in front of one real PostgreSQL 15, authenticating
 * to the router with SCRAM against its userlist file (auth: file). Each driver runs a small script
 * (test/integration/router/drivers/) that prints its results as JSON: connect, a parameterised query, named
 * prepared statements reused across transactions, COPY in and out, an error inside a transaction then the next one,
 * a 1 MB parameter, a cancel during pg_sleep(30), a wrong password. pgJDBC is not tested: Debian's
 * libpostgresql-jdbc-java is not installed here. Pooled listeners answer SSLRequest with 'N' (TLS at the router
 * covers passthrough listeners only on this branch), so these drivers run without TLS.
 */
import { test, describe, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PASSWORD } from './harness';
import type { PoolStats } from '../../../src/router/pool/pool-control';
import { runCommand, startPooledPrimary, type PooledPrimary } from './pool-harness';

const SCRIPTS = join(__dirname, '..', '..', '..', '..', 'test', 'integration', 'router', 'drivers');
const PYTHON = '/usr/bin/python3'; // Debian's: the one that has the python3-* driver packages
const MB = 1024 * 1024;

/** Runs a driver script against a listener; its JSON line, or the test fails with its stderr. */
async function runDriver(t: TestContext, script: string, port: number): Promise<Record<string, unknown>> {
  const url = (password: string) => `postgresql://admin:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const r = await runCommand(PYTHON, [join(SCRIPTS, script), url(PASSWORD), url('wrong')], undefined, 180_000);
  assert.equal(r.code, 0, `${script} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(line) as Record<string, unknown>;
    t.diagnostic(`${script}: ${line}`);
    return out;
  } catch {
    assert.fail(`${script} printed no JSON:\n${r.stdout}\n${r.stderr}`);
  }
}

/** What every driver must have seen, whatever the pool mode. */
function assertCommon(out: Record<string, unknown>) {
  assert.equal(out.version, 15);
  assert.equal(out.param, 42);
  assert.equal(out.prepared_sum, 870); // 2 × (0 + … + 29)
  assert.deepEqual(out.copy_in, [1000, 499500]);
  assert.equal(out.copy_out, 1000);
  assert.equal(out.error, '22012');
  assert.equal(out.after_error, 'after');
  assert.deepEqual(out.large, [MB, true]);
  // Cancelled well before pg_sleep's 30 s: the CancelRequest reached the server connection running the query.
  assert.ok((out.cancel_seconds as number) < 15, `cancel took ${out.cancel_seconds}s`);
  assert.equal(out.after_cancel, 7);
}

/** Named statements the router prepared on the listener's server connections (transaction mode tracks them). */
function preparedOn(p: PooledPrimary, listener: string): number {
  const pools = (p.router.status() as { pools: PoolStats[] }).pools.filter((x) => x.listener === listener);
  return pools.reduce((n, x) => n + (x.prepared ?? 0), 0);
}

/** No cancelled pg_sleep(30) still runs on PostgreSQL. */
async function assertNoSleeper(p: PooledPrimary) {
  const r = await p.direct.query("select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'");
  assert.equal(r.rows[0].n, 0);
}

describe('Python drivers through pooled listeners', { timeout: 900_000 }, () => {
  let p: PooledPrimary | undefined;
  let dir: string | undefined;

  before(async () => {
    // The router's userlist (PgBouncer's format): clients still log in with SCRAM, and the router logs in to
    // PostgreSQL with the password.
    dir = mkdtempSync(join(tmpdir(), 'pgha-drivers-'));
    const userlist = join(dir, 'userlist.txt');
    writeFileSync(userlist, `"admin" "${PASSWORD}"\n`, { mode: 0o600 });
    p = await startPooledPrimary({
      auth: { file: userlist, type: 'scram-sha-256' },
      scope: 'pooldrivers',
      member: 'drv1',
      listeners: [
        { name: 'txn', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '5s', pool_mode: 'transaction' },
        { name: 'session', role: 'primary', listen: '127.0.0.1:0', hold_timeout: '5s', pool_mode: 'session' },
      ],
      pool: { size: 3, queue_timeout: '20s' },
    });
  });

  after(async () => {
    await p?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ['txn', 'session'] as const) {
    test(`psycopg 3 through the ${mode} listener: prepared statements, COPY, errors, 1 MB parameter, cancel, wrong password`, async (t) => {
      const prepared = preparedOn(p!, mode);
      const out = await runDriver(t, 'psycopg_check.py', p!.router.ports[mode]!);
      assertCommon(out);
      assert.equal(out.cancel, '57014');
      assert.equal(out.wrong_password, true);
      await assertNoSleeper(p!);
      // The driver's named statements went through the router's tracking (prepared where each use ran).
      if (mode === 'txn') assert.ok(preparedOn(p!, mode) > prepared, 'no named statement prepared on the txn pool');
    });

    test(`asyncpg through the ${mode} listener: its named statement cache, COPY, errors, 1 MB parameter, cancel, wrong password`, async (t) => {
      const prepared = preparedOn(p!, mode);
      const out = await runDriver(t, 'asyncpg_check.py', p!.router.ports[mode]!);
      assertCommon(out);
      assert.equal(out.cancel, 'timeout');
      assert.deepEqual(out.explicit_prepared, ['a0', 'a1', 'a2', 'a3', 'a4']);
      assert.equal(out.wrong_password, '28P01');
      await assertNoSleeper(p!);
      // The driver's named statements went through the router's tracking (prepared where each use ran).
      if (mode === 'txn') assert.ok(preparedOn(p!, mode) > prepared, 'no named statement prepared on the txn pool');
    });
  }
});
