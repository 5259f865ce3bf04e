/**
 * Issue 13's driver acceptance for Python, Java and Go: psycopg 3, asyncpg (Debian's python3-psycopg,
 * python3-asyncpg), pgJDBC (Debian's libpostgresql-jdbc-java, a small program compiled with javac in `before`) and
 * pgx v4 (Debian's golang-github-jackc-pgx-v4-dev, built offline in GOPATH mode while the other drivers run) through a
 * passthrough, a session-mode and a transaction-mode listener of one router in front of one real PostgreSQL 15, all
 * with TLS terminated at the router: each driver verifies the router's certificate (sslmode=verify-full) for its
 * main run and also connects with sslmode=require. Pooled listeners check passwords against the router's userlist
 * (auth: file, SCRAM to clients); the passthrough listener leaves authentication to PostgreSQL. Each driver runs a
 * small program (test/integration/router/drivers/) that prints its results as JSON: connect, a parameterised query,
 * named prepared statements reused across transactions, COPY in and out, an error inside a transaction then the
 * next one, a 1 MB parameter, a cancel during pg_sleep(30), a wrong password.
 */
import { test, describe, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { removeDir, tempDir } from '../../support/tmp';
import { PASSWORD } from './harness';
import type { PoolStats } from '../../../src/router/pool/pool-control';
import { runCommand, startPooledPrimary, type PooledPrimary } from './pool-harness';
import { counter, routerTls, type RouterTls } from './tls-support';

const SCRIPTS = join(__dirname, '..', '..', '..', '..', 'test', 'integration', 'router', 'drivers');
const PYTHON = '/usr/bin/python3'; // Debian's: the one that has the python3-* driver packages
const JDBC_JAR = '/usr/share/java/postgresql.jar';
const MB = 1024 * 1024;
/** The listeners, by pool mode. */
const MODES = [['passthrough', 'pass'], ['session', 'session'], ['transaction', 'txn']] as const;

type Out = Record<string, unknown>;

/** Runs a driver program; its last line as JSON, or the test fails with its output. */
async function runDriver(t: TestContext, name: string, cmd: string, args: string[]): Promise<Out> {
  const r = await runCommand(cmd, args, undefined, 180_000);
  assert.equal(r.code, 0, `${name} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(line) as Out;
    t.diagnostic(`${name}: ${line}`);
    return out;
  } catch {
    assert.fail(`${name} printed no JSON:\n${r.stdout}\n${r.stderr}`);
  }
}

/** What every driver must have seen, whatever the pool mode. */
function assertCommon(out: Out) {
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

describe('Python, Java and Go drivers through the router with TLS, in each pool mode', { timeout: 900_000 }, () => {
  let p: PooledPrimary | undefined;
  let tls: RouterTls | undefined;
  let dir: string | undefined;
  let classes: string;
  let pgxBuild: Promise<{ code: number | null; stderr: string }> | undefined;

  /** Named statements the router prepared on the listener's server connections (transaction mode tracks them). */
  const preparedOn = (listener: string) => (p!.router.status() as { pools: PoolStats[] }).pools.filter((x) => x.listener === listener).reduce((n, x) => n + (x.prepared ?? 0), 0);
  const handshakes = () => counter(p!.router.ports.metrics!, 'pgha_router_tls_handshakes_total', { result: 'ok' });
  const url = (port: number, password: string, query: string) => `postgresql://admin:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres?${query}`;
  const verifyFull = () => `sslmode=verify-full&sslrootcert=${tls!.cert}`;

  /** Runs one driver through one listener, with the checks every mode shares. */
  async function check(t: TestContext, mode: (typeof MODES)[number], name: string, cmd: string, args: string[]): Promise<Out> {
    const [poolMode, listener] = mode;
    const prepared = preparedOn(listener);
    const before = await handshakes();
    const out = await runDriver(t, name, cmd, args);
    assertCommon(out);
    // Its sessions (verify-full, require, the wrong password) each ran TLS with the router.
    assert.ok((await handshakes()) - before >= 3, 'TLS handshakes with the router');
    // No cancelled pg_sleep(30) still runs on PostgreSQL.
    const r = await p!.direct.query("select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'");
    assert.equal(r.rows[0].n, 0);
    // The driver's named statements went through the router's tracking (prepared where each use ran).
    if (poolMode === 'transaction') assert.ok(preparedOn(listener) > prepared, 'no named statement prepared on the txn pool');
    return out;
  }

  before(async () => {
    tls = routerTls();
    dir = tempDir('drivers');
    // javac once: a few seconds, then each mode's run is a plain `java`.
    classes = join(dir, 'classes');
    const javac = await runCommand('javac', ['-d', classes, '-cp', JDBC_JAR, join(SCRIPTS, 'JdbcCheck.java')]);
    assert.equal(javac.code, 0, javac.stderr);
    // go build in the background: the first build of pgx and its dependencies takes about a minute (Go's build cache
    // in HOME keeps later ones to seconds); the pgx tests run last and wait for it.
    const goEnv = { GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '', HOME: process.env.HOME ?? homedir() };
    pgxBuild = runCommand('go', ['build', '-o', join(dir, 'pgx_check'), join(SCRIPTS, 'pgx_check.go')], undefined, 300_000, goEnv);
    // The router's userlist (PgBouncer's format): clients still log in with SCRAM, and the router logs in to
    // PostgreSQL with the password.
    const userlist = join(dir, 'userlist.txt');
    writeFileSync(userlist, `"admin" "${PASSWORD}"\n`, { mode: 0o600 });
    p = await startPooledPrimary({
      auth: { file: userlist, type: 'scram-sha-256' },
      scope: 'pooldrivers',
      member: 'drv1',
      listeners: MODES.map(([poolMode, name]) => ({ name, role: 'primary', listen: '127.0.0.1:0', hold_timeout: '5s', pool_mode: poolMode })),
      pool: { size: 3, queue_timeout: '20s' },
      extra: {
        tls: { cert_file: tls.cert, key_file: tls.key },
        metrics: { listen: '127.0.0.1:0' },
        // Unhurried checks: nothing here tests failover, and a leader unconfirmed by a slow check on a loaded machine
        // (the go build runs beside the drivers) would close the passthrough listener's sessions.
        health: { interval: '500ms', timeout: '500ms', fast_interval: '100ms', max_age: '10s', fall: 5 },
      },
    });
  });

  after(async () => {
    await pgxBuild;
    await p?.stop();
    if (dir) removeDir(dir);
    tls?.remove();
  });

  for (const mode of MODES) {
    const [poolMode, listener] = mode;
    const port = () => p!.router.ports[listener]!;

    test(`psycopg 3, ${poolMode}: verify-full and require, prepared statements, COPY, errors, 1 MB parameter, cancel, wrong password`, async (t) => {
      const out = await check(t, mode, 'psycopg_check.py', PYTHON, [join(SCRIPTS, 'psycopg_check.py'), url(port(), PASSWORD, verifyFull()), url(port(), 'wrong', verifyFull()), url(port(), PASSWORD, 'sslmode=require')]);
      assert.equal(out.ssl, true);
      assert.deepEqual(out.require, [true, 1]);
      assert.equal(out.cancel, '57014');
      assert.equal(out.wrong_password, true);
    });

    test(`asyncpg, ${poolMode}: verify-full and require, its named statement cache, COPY, errors, 1 MB parameter, cancel inside TLS, wrong password`, async (t) => {
      const out = await check(t, mode, 'asyncpg_check.py', PYTHON, [join(SCRIPTS, 'asyncpg_check.py'), url(port(), PASSWORD, verifyFull()), url(port(), 'wrong', verifyFull()), url(port(), PASSWORD, 'sslmode=require')]);
      assert.equal(out.require, 1);
      assert.equal(out.cancel, 'timeout');
      assert.deepEqual(out.explicit_prepared, ['a0', 'a1', 'a2', 'a3', 'a4']);
      assert.equal(out.wrong_password, '28P01');
    });

    test(`pgJDBC, ${poolMode}: verify-full and require, named statements (prepareThreshold=1), CopyManager, errors, 1 MB parameter, Statement.cancel, wrong password`, async (t) => {
      const jdbc = (sslQuery: string) => `jdbc:postgresql://127.0.0.1:${port()}/postgres?${sslQuery}&prepareThreshold=1&connectTimeout=30`;
      const out = await check(t, mode, 'JdbcCheck', 'java', ['-cp', `${classes}:${JDBC_JAR}`, 'JdbcCheck', jdbc(verifyFull()), jdbc('sslmode=require'), 'admin', PASSWORD, 'wrong']);
      assert.equal(out.require, 1);
      assert.equal(out.cancel, '57014');
      assert.equal(out.wrong_password, '28P01');
    });
  }

  for (const mode of MODES) {
    const [poolMode, listener] = mode;
    const port = () => p!.router.ports[listener]!;

    test(`pgx v4, ${poolMode}: verify-full and require, its statement cache, CopyFrom/CopyTo, errors, 1 MB parameter, CancelRequest, wrong password`, async (t) => {
      const build = await pgxBuild!;
      assert.equal(build.code, 0, `go build: ${build.stderr}`);
      const out = await check(t, mode, 'pgx_check', join(dir!, 'pgx_check'), [url(port(), PASSWORD, verifyFull()), url(port(), 'wrong', verifyFull()), url(port(), PASSWORD, 'sslmode=require')]);
      assert.equal(out.require, 1);
      assert.equal(out.cancel, '57014');
      assert.equal(out.wrong_password, '28P01');
    });
  }
});
