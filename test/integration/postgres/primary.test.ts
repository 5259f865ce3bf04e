import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { buildConninfo, postgresUrl, renderPgpass } from '../../../src/postgres/conninfo';
import { controlData } from '../../../src/postgres/controldata';
import { localSuperuserConnection } from '../../../src/postgres/local-connection';
import { probePostgres, query } from '../../../src/postgres/probe';
import { reload, start, status, stop } from '../../../src/postgres/pgctl';
import { renderPostgresqlConf } from '../../../src/postgres/config-files';
import { writePgpassFile, writePostgresqlConf } from '../../../src/postgres/data-dir';
import { PostgresToolError } from '../../../src/postgres/errors';
import { bootstrapUserRoles, createOrAlterRoles, superuserRole } from '../../../src/postgres/sql';
import { freePort } from '../../support/ports';
import { initPrimary, TEST_PASSWORD, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';

const execFileAsync = promisify(execFile);
/** A password that needs every kind of quoting: conninfo, pgpass, URL, SQL literal. */
const AWKWARD_PASSWORD = "it's a \\ : test%123";

describe('a primary (real PG15)', () => {
  let pg: TestPostgres;

  before(async () => {
    // log_statement=all: proves that role statements holding passwords stay out of the server log.
    pg = await initPrimary({ parameters: { log_statement: 'all' }, unixSocketDirectories: '.' });
  });
  after(() => pg?.destroy());

  it('probes as a primary in one round trip', async () => {
    const probe = await probePostgres(pg.conn());
    assert.equal(probe.reachable, true, probe.error);
    assert.equal(probe.inRecovery, false);
    assert.equal(probe.timeline, 1);
    assert.ok((probe.serverVersion ?? 0) >= 150000);
    assert.ok((probe.flushLsn ?? 0) > 0);
    assert.equal(probe.receiveLsn, undefined);
    assert.match(probe.postmasterStartTime ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
    assert.deepEqual(probe.replication, []);
    assert.deepEqual(probe.slots, []);
    assert.equal(probe.pendingRestart, false);
  });

  it("connects over the seed's relative unix socket dir '.' (the data dir)", async () => {
    const conn = localSuperuserConnection(
      {
        dataDir: pg.dataDir,
        listen: { hosts: ['127.0.0.1'], port: pg.port },
        database: 'postgres',
        authentication: { superuser: pg.superuser, replication: pg.replication },
      },
      pg.parameters,
    );
    assert.equal(conn.host, pg.dataDir);
    const probe = await probePostgres(conn);
    assert.equal(probe.reachable, true, probe.error);
  });

  it('reports an unreachable server as { reachable: false } without throwing', async () => {
    const probe = await probePostgres({ ...pg.conn(), port: await freePort(), connectTimeoutMs: 1000 });
    assert.equal(probe.reachable, false);
    assert.match(probe.error ?? '', /ECONNREFUSED/);
    const wrongPassword = await probePostgres(pg.conn({ password: 'wrong' }));
    assert.equal(wrongPassword.reachable, false);
    assert.match(wrongPassword.error ?? '', /password authentication failed/);
  });

  it('creates the superuser, replication and bootstrap users with test%123, quietly, and they log in', async () => {
    await createOrAlterRoles(pg.conn(), [superuserRole(pg.superuser)]);
    const users = {
      admin: { password: TEST_PASSWORD, options: ['createrole', 'createdb'] },
      rep: { password: TEST_PASSWORD, options: ['replication'] },
      app: { password: TEST_PASSWORD, options: ['createrole', 'createdb'] },
      odd: { password: AWKWARD_PASSWORD, options: [] },
    };
    await createOrAlterRoles(pg.conn(), bootstrapUserRoles(users, [pg.superuser.username, pg.replication.username]));
    // Running it twice takes the ALTER ROLE branch.
    await createOrAlterRoles(pg.conn(), bootstrapUserRoles(users, [pg.superuser.username, pg.replication.username]));

    const roles = await query<{ rolname: string; rolsuper: boolean; rolreplication: boolean; rolcreatedb: boolean; rolcreaterole: boolean; rolcanlogin: boolean }>(
      pg.conn(),
      `SELECT rolname, rolsuper, rolreplication, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_authid WHERE rolname = ANY($1) ORDER BY rolname`,
      [['admin', 'rep', 'app', 'odd']],
    );
    assert.deepEqual(roles.map((r) => [r.rolname, r.rolsuper, r.rolreplication, r.rolcreatedb, r.rolcreaterole, r.rolcanlogin]), [
      ['admin', true, true, true, true, true], // initdb's bootstrap superuser has every attribute
      ['app', false, false, true, true, true],
      ['odd', false, false, false, false, true],
      ['rep', false, true, false, false, true],
    ]);
    for (const user of ['admin', 'app']) {
      const rows = await query<{ u: string }>(pg.conn({ user, password: TEST_PASSWORD }), 'SELECT current_user AS u');
      assert.equal(rows[0]?.u, user);
    }
    const log = readFileSync(pg.logFile, 'utf8');
    assert.match(log, /statement: SELECT current_user/, 'log_statement=all is on');
    assert.doesNotMatch(log, /test%123|PASSWORD/);
  });

  it('the awkward password survives driver, URL, conninfo and pgpass forms (real libpq)', async () => {
    const direct = await query<{ u: string }>(pg.conn({ user: 'odd', password: AWKWARD_PASSWORD }), 'SELECT current_user AS u');
    assert.equal(direct[0]?.u, 'odd');

    const url = postgresUrl({ host: '127.0.0.1', port: pg.port, user: 'odd', password: AWKWARD_PASSWORD, database: 'postgres' });
    const client = new Client({ connectionString: url });
    await client.connect();
    await client.end();

    const psql = join(pg.tools.binDir, 'psql');
    const conninfo = buildConninfo({ host: '127.0.0.1', port: pg.port, user: 'odd', password: AWKWARD_PASSWORD, dbname: 'postgres' });
    const byConninfo = await execFileAsync(psql, ['-XAtc', 'SELECT current_user', conninfo], { env: { PATH: process.env.PATH } });
    assert.equal(byConninfo.stdout.trim(), 'odd');

    const pgpassFile = join(pg.baseDir, 'pgpass-odd');
    await writePgpassFile(pgpassFile, renderPgpass([{ host: '127.0.0.1', port: pg.port, user: 'odd', password: AWKWARD_PASSWORD }]));
    const byPgpass = await execFileAsync(psql, ['-XAtw', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'odd', '-d', 'postgres', '-c', 'SELECT current_user'], {
      env: { PATH: process.env.PATH, PGPASSFILE: pgpassFile },
    });
    assert.equal(byPgpass.stdout.trim(), 'odd');
  });

  it('reload applies a rewritten postgresql.conf; a restart-only change shows as pending restart', async () => {
    await writePostgresqlConf(pg.dataDir, renderPostgresqlConf({ ...pg.parameters, work_mem: '7MB', shared_buffers: '24MB' }), pg.tools.runAs);
    assert.equal(await reload(pg.tools, pg.dataDir), true);
    await waitFor('work_mem reloaded', async () => (await query<{ w: string }>(pg.conn(), "SELECT current_setting('work_mem') AS w"))[0]?.w === '7MB', { timeoutMs: 10_000 });
    const probe = await waitFor('pending restart', async () => {
      const p = await probePostgres(pg.conn());
      return p.pendingRestart ? p : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal(probe.pendingRestart, true);
    await writePostgresqlConf(pg.dataDir, renderPostgresqlConf(pg.parameters), pg.tools.runAs);
    await reload(pg.tools, pg.dataDir);
    assert.equal(await reload(pg.tools, join(pg.baseDir, 'nowhere')), false);
  });

  it('stops in every mode, and starts again after each (crash recovery after immediate and kill)', async () => {
    for (const mode of ['smart', 'fast', 'immediate'] as const) {
      await pg.stop(mode);
      assert.equal((await status(pg.dataDir)).running, false, mode);
      const cd = await controlData(pg.tools, pg.dataDir);
      assert.equal(cd.clusterState, mode === 'immediate' ? 'in production' : 'shut down', mode);
      await pg.start();
      assert.equal((await probePostgres(pg.conn())).reachable, true, mode);
    }
    assert.deepEqual(await stop(pg.tools, join(pg.baseDir, 'nowhere'), 'fast', 5), { wasRunning: false });

    await pg.kill();
    const crashed = await waitUntilStopped(pg);
    assert.equal(crashed.pidFile !== undefined, true, 'a killed postmaster leaves its pid file');
    await pg.start();
    const probe = await probePostgres(pg.conn());
    assert.equal(probe.reachable, true, probe.error);
    assert.equal(probe.timeline, 1);
  });

  it("a failed start reports postgres' own message from this start's log lines", async () => {
    await pg.stop('fast');
    await assert.rejects(
      start(pg.tools, pg.dataDir, { parameters: { ...pg.commandLine, wal_keep_segments: '8' }, logFile: pg.logFile, timeoutSec: 30 }),
      (err: unknown) => err instanceof PostgresToolError && /^postgres: exited with code 1 while starting/.test(err.message)
        && /unrecognized configuration parameter "wal_keep_segments"/.test(err.outputTail) && !/ready to accept/.test(err.outputTail),
    );
    await pg.start();
    await assert.rejects(start(pg.tools, pg.dataDir, { timeoutSec: 5 }), /already runs/);
  });
});

async function waitUntilStopped(pg: TestPostgres): Promise<Awaited<ReturnType<typeof status>>> {
  return waitFor('postmaster gone', async () => {
    const st = await status(pg.dataDir);
    return st.running ? undefined : st;
  }, { timeoutMs: 10_000, intervalMs: 50 });
}
