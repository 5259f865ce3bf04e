/**
 * Replica methods and custom bootstraps against real etcd, postgres and pgBackRest, in one etcd and five nodes:
 * - scope `pgcluster`: the leader archives through `pgbackrest archive-push`; after a full backup one replica is built
 *   by `create_replica_methods: [pgbackrest, basebackup]` with pgBackRest, another (whose repository is empty) falls
 *   back to basebackup;
 * - scope `clone`: bootstrapped by a script running pg_basebackup from the first cluster's leader, then leading;
 * - scope `pitr`: bootstrapped by `pgbackrest restore` with recovery_target_time in recovery_conf: rows committed
 *   before the target are there, rows after it are not, and it leads and takes writes.
 * - the pgBackRest-built replica has `recovery_conf.restore_command` (archive-get): stopped while the leader (no
 *   slots, wal_keep_size 16MB) writes, switches and recycles WAL, it catches up from the archive on restart.
 * Later nodes get their YAML (edited from the generated one) just before they start.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterKeys } from '../../../src/model/keys';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { postgresUser } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const run = promisify(execFile);
const STANZA = 'main';

describe('replica methods and custom bootstrap (pgBackRest, pg_basebackup)', { timeout: 900_000 }, () => {
  let c: TestCluster;
  let br: string;
  let conf: string;
  let failed = false;

  /** Runs pgBackRest as the postgres OS user with the test's config file. */
  const pgbackrest = (...args: string[]) => {
    const owner = postgresUser();
    return run('pgbackrest', [`--config=${conf}`, `--stanza=${STANZA}`, ...args], {
      env: { ...process.env, PGPASSWORD: PASSWORD, HOME: br },
      cwd: '/',
      timeout: 300_000,
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
  };

  /** Node i's generated YAML with lines added under a section (and the scope changed). */
  const editYaml = (i: number, edit: { scope?: string; postgresql?: string[]; bootstrap?: string[]; parameters?: string[] }) => {
    const file = c.nodes[i]!.configFile;
    let text = readFileSync(file, 'utf8');
    const under = (section: string, lines: string[] | undefined) => {
      if (!lines) return;
      assert.ok(text.includes(`\n${section}\n`), `${section} is in the YAML`);
      text = text.replace(`\n${section}\n`, `\n${section}\n${lines.join('\n')}\n`);
    };
    if (edit.scope) text = text.replace(/^scope: .*$/m, `scope: ${edit.scope}`);
    under('postgresql:', edit.postgresql);
    under('bootstrap:', edit.bootstrap);
    under('  parameters:', edit.parameters);
    writeFileSync(file, text);
  };

  const logEntries = (i: number): Array<Record<string, unknown>> => {
    const f = c.nodes[i]!.logFile;
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8').split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  };

  /** A replica's restore_command: WAL from the pgBackRest archive. */
  const archiveGet = (i: number) => `pgbackrest --config=${conf} --stanza=${STANZA} --pg1-path=${c.nodes[i]!.dataDir} archive-get %f "%p"`;

  const leaderOf = async (scope: string) => (await c.store.get(clusterKeys('/service', scope).leader))?.value;

  const inRecovery = async (i: number) => (await sql<{ r: boolean }>(c.nodes[i]!.pgPort, 'SELECT pg_is_in_recovery() AS r'))[0]!.r;

  before(async () => {
    // No slots and the smallest wal_keep_size, so the leader keeps no WAL for a stopped replica (last test).
    c = await startTestCluster({
      nodes: 5, startNodes: 0, dcs: { ttl: 20, loop_wait: 2, retry_timeout: 5 },
      dcsPostgresql: { use_slots: false, parameters: { wal_keep_size: '16MB' } },
    });
    br = join(c.dir, 'pgbackrest');
    conf = join(br, 'pgbackrest.conf');
    const owner = postgresUser();
    for (const d of [br, join(br, 'repo'), join(br, 'empty-repo'), join(br, 'log'), join(br, 'lock')]) {
      mkdirSync(d, { recursive: true });
      if (owner) chownSync(d, owner.uid, owner.gid);
    }
    const n0 = c.nodes[0]!;
    writeFileSync(conf, [
      '[global]', `repo1-path=${join(br, 'repo')}`, `log-path=${join(br, 'log')}`, `lock-path=${join(br, 'lock')}`,
      'log-level-console=warn', 'log-level-file=info', 'start-fast=y', 'compress-type=none', 'repo1-retention-full=2',
      `[${STANZA}]`, `pg1-path=${n0.dataDir}`, `pg1-port=${n0.pgPort}`, `pg1-socket-path=${n0.dataDir}`, 'pg1-user=admin', '',
    ].join('\n'));
    if (owner) chownSync(conf, owner.uid, owner.gid);
    editYaml(0, { parameters: ['    archive_mode: "on"', `    archive_command: "pgbackrest --config=${conf} --stanza=${STANZA} archive-push %p"`] });
    c.startAgent(0);
    await waitFor('the first node leading', async () => (await leaderOf(c.scope)) === n0.name && !(await inRecovery(0)), { timeoutMs: 180_000, intervalMs: 500 });
  });

  after(async () => {
    if (failed) for (let i = 0; i < c.nodes.length; i++) console.error(`--- ${c.nodes[i]!.name} ---\n${c.logTail(i, 30)}`);
    if (c) await c.close();
  });

  it('builds a replica with pgBackRest after a backup, and falls back to basebackup when the repository is empty', async (t) => {
    try {
      await sql(c.nodes[0]!.pgPort, 'CREATE TABLE src (id int primary key, note text)');
      await sql(c.nodes[0]!.pgPort, "INSERT INTO src SELECT g, 'in the backup' FROM generate_series(1, 100) g");
      await pgbackrest('stanza-create');
      const started = Date.now();
      await pgbackrest('--type=full', 'backup');
      t.diagnostic(`full backup took ${Date.now() - started} ms`);

      const restore = (i: number, repo: string) => [
        '  create_replica_methods: [pgbackrest, basebackup]',
        '  pgbackrest:',
        `    command: "pgbackrest --config=${conf} --repo1-path=${repo} --stanza=${STANZA} --pg1-path=${c.nodes[i]!.dataDir} --delta restore"`,
        '    keep_data: true',
        '    no_params: true',
      ];
      editYaml(1, { postgresql: [...restore(1, join(br, 'repo')), '  recovery_conf:', `    restore_command: '${archiveGet(1)}'`] });
      editYaml(2, { postgresql: restore(2, join(br, 'empty-repo')) });
      c.startAgent(1);
      c.startAgent(2);
      await sql(c.nodes[0]!.pgPort, "INSERT INTO src VALUES (101, 'after the backup')");
      for (const i of [1, 2]) {
        await waitFor(`${c.nodes[i]!.name} streaming with every row`, async () => {
          const rows = await sql<{ n: string }>(c.nodes[i]!.pgPort, 'SELECT count(*) AS n FROM src');
          return rows[0]!.n === '101' && (await inRecovery(i));
        }, { timeoutMs: 240_000, intervalMs: 500 });
      }
      const created = (i: number) => logEntries(i).filter((e) => e.msg === 'replica created').map((e) => e.method);
      const failedMethods = (i: number) => logEntries(i).filter((e) => e.msg === 'replica method failed').map((e) => e.method);
      assert.deepEqual(created(1), ['pgbackrest'], 'node 2 was built by pgBackRest');
      assert.deepEqual(failedMethods(1), []);
      assert.deepEqual(failedMethods(2), ['pgbackrest'], 'node 3 tried pgBackRest first');
      assert.deepEqual(created(2), ['basebackup'], 'node 3 fell back to basebackup');
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('bootstraps a new cluster by cloning a running one with pg_basebackup (bootstrap.method)', async () => {
    try {
      const script = join(br, 'clone_with_basebackup.sh');
      writeFileSync(script, [
        '#!/bin/sh',
        'set -e',
        `echo "$@" > ${join(br, 'clone-args')}`,
        'for a in "$@"; do case "$a" in --datadir=*) DATADIR="${a#--datadir=}";; esac; done',
        `PGPASSWORD='${PASSWORD}' exec pg_basebackup -D "$DATADIR" -h 127.0.0.1 -p ${c.nodes[0]!.pgPort} -U rep -X stream -c fast`,
        '',
      ].join('\n'), { mode: 0o755 });
      const post = join(br, 'post_bootstrap.sh');
      writeFileSync(post, [
        '#!/bin/sh',
        'set -e',
        `echo "$@" > ${join(br, 'post-args')}`,
        'exec psql "$1" -v ON_ERROR_STOP=1 -c "CREATE TABLE made_by_post_bootstrap (setting text); INSERT INTO made_by_post_bootstrap SELECT current_setting(\'synchronous_commit\')"',
        '',
      ].join('\n'), { mode: 0o755 });
      editYaml(3, {
        scope: 'clone',
        bootstrap: ['  method: clone_with_basebackup', '  clone_with_basebackup:', `    command: /bin/sh ${script}`, `  post_bootstrap: /bin/sh ${post}`],
      });
      c.startAgent(3);
      await waitFor('the clone leading and writable', async () => {
        if ((await leaderOf('clone')) !== c.nodes[3]!.name) return false;
        await sql(c.nodes[3]!.pgPort, "INSERT INTO src VALUES (1000, 'written on the clone')");
        return true;
      }, { timeoutMs: 180_000, intervalMs: 500 });
      const rows = await sql<{ n: string }>(c.nodes[3]!.pgPort, 'SELECT count(*) AS n FROM src WHERE id <= 101');
      assert.equal(rows[0]!.n, '101', 'the source rows are on the clone');
      assert.equal(readFileSync(join(br, 'clone-args'), 'utf8').trim(), `--scope=clone --datadir=${c.nodes[3]!.dataDir}`);
      assert.equal((await sql<{ n: string }>(c.nodes[0]!.pgPort, 'SELECT count(*) AS n FROM src WHERE id = 1000'))[0]!.n, '0', 'the source is untouched');
      const n3 = c.nodes[3]!;
      assert.equal(readFileSync(join(br, 'post-args'), 'utf8').trim(), `dbname=postgres user=admin host=${n3.dataDir} port=${n3.pgPort}`);
      const made = await sql<{ setting: string }>(n3.pgPort, 'SELECT setting FROM made_by_post_bootstrap');
      assert.deepEqual(made, [{ setting: 'local' }], 'post_bootstrap ran with the superuser DSN and PGOPTIONS');
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('bootstraps a new cluster from a pgBackRest backup up to recovery_target_time, then leads', async () => {
    try {
      const p0 = c.nodes[0]!.pgPort;
      await sql(p0, "INSERT INTO src VALUES (201, 'before the target')");
      const [{ target }] = await sql<{ target: string }>(p0, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS target");
      await waitFor('the clock past the target', async () => (await sql<{ past: boolean }>(p0, `SELECT clock_timestamp() > '${target}'::timestamptz AS past`))[0]!.past);
      await sql(p0, "INSERT INTO src VALUES (202, 'after the target')");
      const [{ wal }] = await sql<{ wal: string }>(p0, 'SELECT pg_walfile_name(pg_switch_wal()) AS wal');
      await waitFor('the WAL of both rows archived', async () => {
        const [row] = await sql<{ last: string | null }>(p0, 'SELECT last_archived_wal AS last FROM pg_stat_archiver');
        return row?.last && row.last >= wal;
      }, { timeoutMs: 120_000, intervalMs: 500 });

      const dataDir = c.nodes[4]!.dataDir;
      editYaml(4, {
        scope: 'pitr',
        bootstrap: [
          '  method: pitr',
          '  pitr:',
          `    command: "pgbackrest --config=${conf} --stanza=${STANZA} --pg1-path=${dataDir} restore"`,
          '    no_params: true',
          '    keep_existing_recovery_conf: false',
          '    recovery_conf:',
          '      recovery_target_action: promote',
          `      recovery_target_time: "${target}"`,
          `      restore_command: 'pgbackrest --config=${conf} --stanza=${STANZA} --pg1-path=${dataDir} archive-get %f "%p"'`,
        ],
      });
      c.startAgent(4);
      await waitFor('the restored cluster leading and writable', async () => {
        if ((await leaderOf('pitr')) !== c.nodes[4]!.name) return false;
        await sql(c.nodes[4]!.pgPort, "INSERT INTO src VALUES (300, 'written after the restore')");
        return true;
      }, { timeoutMs: 240_000, intervalMs: 500 });
      const ids = (await sql<{ id: number }>(c.nodes[4]!.pgPort, 'SELECT id FROM src WHERE id > 101 ORDER BY id')).map((r) => r.id);
      assert.deepEqual(ids, [201, 300], 'the row before the target is there, the one after it is not');
      const [{ timeline }] = await sql<{ timeline: number }>(c.nodes[4]!.pgPort, 'SELECT timeline_id AS timeline FROM pg_control_checkpoint()');
      assert.ok(timeline >= 2, `promoted at the target (timeline ${timeline})`);
      const conf4 = readFileSync(join(dataDir, 'postgresql.conf'), 'utf8');
      assert.ok(!conf4.includes('recovery_target_time'), 'the recovery settings are gone once it leads');
      assert.ok(!readFileSync(join(dataDir, 'pg_hba.conf'), 'utf8').includes('trust'), 'the temporary trust lines are gone');
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('a replica with recovery_conf.restore_command replays from the archive the WAL its leader has recycled', async () => {
    try {
      const p0 = c.nodes[0]!.pgPort;
      const n1 = c.nodes[1]!;
      const [{ rc }] = await sql<{ rc: string }>(n1.pgPort, "SELECT current_setting('restore_command') AS rc");
      assert.equal(rc, archiveGet(1), 'recovery_conf.restore_command is the replica\'s restore_command');
      await c.stopAgent(1);
      await waitFor('node 2 postgres stopped', async () => !existsSync(join(n1.dataDir, 'postmaster.pid')), { timeoutMs: 120_000, intervalMs: 500 });

      // The segment after the one being written now: node 2 cannot reach rows written there without it.
      const [{ next }] = await sql<{ next: string }>(p0, 'SELECT pg_walfile_name(pg_current_wal_lsn() + 16777216) AS next');
      let id = 400;
      await waitFor(`segment ${next} archived and gone from the leader's pg_wal`, async () => {
        await sql(p0, `INSERT INTO src VALUES (${id++}, 'while node 2 was down')`);
        await sql(p0, 'SELECT pg_switch_wal()');
        await sql(p0, 'CHECKPOINT');
        const [{ archived }] = await sql<{ archived: string | null }>(p0, 'SELECT last_archived_wal AS archived FROM pg_stat_archiver');
        const present = await sql(p0, `SELECT 1 FROM pg_ls_waldir() WHERE name = '${next}'`);
        return archived !== null && archived > next && present.length === 0;
      }, { timeoutMs: 180_000, intervalMs: 200 });
      const written = id - 400;
      assert.ok(written >= 2, `rows written across segments (${written})`);

      c.startAgent(1);
      await waitFor('node 2 replaying every row written while it was down', async () => {
        const [{ n }] = await sql<{ n: string }>(n1.pgPort, 'SELECT count(*) AS n FROM src WHERE id >= 400');
        return Number(n) === written && (await inRecovery(1));
      }, { timeoutMs: 240_000, intervalMs: 500 });
      assert.deepEqual(logEntries(1).filter((e) => e.msg === 'replica created').map((e) => e.method), ['pgbackrest'], 'replayed, not re-cloned');
      // PostgreSQL's own word that restore_command (pgBackRest archive-get) delivered the segment the leader lacked.
      const pgLog = readFileSync(join(n1.dataDir, 'postmaster.log'), 'utf8');
      assert.ok(pgLog.includes(`restored log file "${next}" from archive`), `node 2 restored ${next} from the archive`);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
