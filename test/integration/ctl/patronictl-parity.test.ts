/**
 * `pgha ctl` next to Debian's patronictl 3.0.2 on one pgha cluster (2 nodes: real etcd, agents, postgres): query,
 * dsn, topology and `list -e -t --format json|yaml` print the same shapes and values (timestamps aside), with the
 * same exit codes. Both tools read the same patronictl.yaml; query connects with libpq's defaults (PGUSER,
 * PGPASSWORD), as patronictl does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { PASSWORD, startTestCluster, type TestCluster } from '../../support/cluster';
import { runCommand, type RunResult } from '../../support/run-file';

const PGHA = join(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');
const STAMP = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g;

describe('pgha ctl and patronictl 3.0.2 side by side', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let cfg = '';
  const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', PGUSER: 'admin', PGPASSWORD: PASSWORD, PGDATABASE: 'postgres' };
  const ours = (args: string[]): Promise<RunResult> => runCommand(process.execPath, [PGHA, 'ctl', '-c', cfg, ...args], { env });
  const theirs = (args: string[]): Promise<RunResult> => runCommand('patronictl', ['-c', cfg, ...args], { env });
  /** Runs ours, then theirs; asserts equal exit codes and returns stdout+stderr of both, timestamps masked. */
  const both = async (args: string[]): Promise<{ ours: string; theirs: string; code: number }> => {
    const a = await ours(args);
    const b = await theirs(args);
    assert.equal(a.code, b.code, `${args.join(' ')}: exit codes\nours: ${a.out}${a.err}\ntheirs: ${b.out}${b.err}`);
    return { ours: `${a.out}${a.err}`.replace(STAMP, 'T'), theirs: `${b.out}${b.err}`.replace(STAMP, 'T'), code: a.code };
  };
  let leader = '';
  let replica = '';

  before(async () => {
    c = await startTestCluster({ nodes: 2, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 } });
    cfg = join(c.dir, 'patronictl.yaml');
    writeFileSync(cfg, `scope: pgcluster\netcd3:\n  hosts: ${c.etcd.endpoint}\n`);
    const v = await c.waitHealthy(180_000);
    leader = v.leader!.name;
    replica = c.nodes.map((n) => n.name).find((n) => n !== leader)!;
  });
  after(async () => {
    if (c) await c.close();
  });

  it('dsn: the leader by default, -r replica, -m MEMBER; no such member: exit 1', async () => {
    for (const args of [['dsn'], ['dsn', '-r', 'replica'], ['dsn', 'pgcluster', '-m', replica], ['dsn', '-r', 'master']]) {
      const r = await both(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.ours, /^host=127\.0\.0\.1 port=\d+\n$/);
      assert.equal(r.ours, r.theirs, args.join(' '));
    }
    const none = await both(['dsn', '-m', 'nobody']);
    assert.equal(none.code, 1);
    assert.match(none.ours, /Error: Can not find a suitable member/);
    const clash = await both(['dsn', '-m', replica, '-r', 'leader']);
    assert.equal(clash.code, 1);
    assert.match(clash.ours, /--role and --member are mutually exclusive options/);
  });

  it('query: tsv, --delimiter, pretty, json and yaml print what patronictl prints', async () => {
    // (No column named n or y: PyYAML leaves them unquoted, pgha's YAML 1.1 writer quotes them.)
    const sql = "select 1 as num, 'x' as t, null as z, true as b, 1.5::float8 as f, '{\"k\": [1, 2]}'::json as j";
    // patronictl cannot write a numeric (Decimal) or timestamp as json or yaml (a traceback); pgha writes text.
    const text = `${sql}, 42::numeric as d, '2026-12-07 09:00:00.5+00'::timestamptz as ts, '2026-12-07 10:00:00'::timestamp as tn`;
    for (const extra of [[], ['--delimiter', ';'], ['--format', 'pretty'], ['--format', 'json'], ['--format', 'yaml']]) {
      const r = await both(['query', '-c', extra[0] === '--format' && extra[1] !== 'pretty' ? sql : text, ...extra]);
      assert.equal(r.code, 0, extra.join(' '));
      assert.equal(r.ours, r.theirs, extra.join(' ') || 'tsv');
    }
  });

  it('query: -r replica runs on the replica, -r master on the leader, -m MEMBER, -d DBNAME, -f FILE', async () => {
    const inRecovery = 'select pg_is_in_recovery() as r, current_database() as db';
    const onReplica = await both(['query', '-r', 'replica', '-c', inRecovery]);
    assert.equal(onReplica.ours, 'r\tdb\nTrue\tpostgres\n', 'libpq default database: PGDATABASE');
    assert.equal(onReplica.ours, onReplica.theirs);
    const onLeader = await both(['query', '-r', 'master', '-d', 'postgres', '-c', inRecovery]);
    assert.equal(onLeader.ours, 'r\tdb\nFalse\tpostgres\n');
    assert.equal(onLeader.ours, onLeader.theirs);
    const byName = await both(['query', '-m', replica, '-d', 'postgres', '-c', inRecovery]);
    assert.equal(byName.ours, byName.theirs);
    const file = join(c.dir, 'q.sql');
    writeFileSync(file, 'select 2 as two;\nselect 3 as three;\n');
    const fromFile = await both(['query', '-d', 'postgres', '-f', file]);
    assert.equal(fromFile.ours, 'three\n3\n');
    assert.equal(fromFile.ours, fromFile.theirs);
  });

  it('query: errors are rows with the SQLSTATE and exit code 0; option clashes exit 1', async () => {
    for (const [args, expected] of [
      [['query', '-d', 'postgres', '-c', 'select * from no_such_table'], 'T\tERROR, SQLSTATE: 42P01\n'],
      [['query', '-d', 'postgres', '-c', 'create table if not exists parity_t (id int)'], 'T\tERROR, SQLSTATE: no results to fetch\n'],
      [['query', '-r', 'standby-leader', '-c', 'select 1'], 'T\tNo connection to role=standby-leader is available\n'],
      [['query', '-d', 'nodb', '-c', 'select 1'], `T\tERROR, SQLSTATE: connection to server at "127.0.0.1", port ${c.nodes.find((n) => n.name === leader)!.pgPort} failed: FATAL:  database "nodb" does not exist \n`],
    ] as const) {
      const r = await both([...args]);
      assert.equal(r.code, 0);
      assert.equal(r.ours, expected, args.join(' '));
      assert.equal(r.ours, r.theirs, args.join(' '));
    }
    const created = await both(['query', '-d', 'postgres', '-c', "select count(*) as c from pg_tables where tablename = 'parity_t'"]);
    assert.equal(created.ours, 'c\n1\n', 'the DDL was committed (autocommit) although the row says no results');
    const clash = await both(['query', '-c', 'select 1', '-f', '/dev/null']);
    assert.equal(clash.code, 1);
    assert.match(clash.ours, /--file and --command are mutually exclusive options/);
    const missing = await both(['query']);
    assert.equal(missing.code, 1);
    assert.match(missing.ours, /You need to specify either --command or --file/);
  });

  it('list -e -t --format json and yaml: the same rows and keys; history, flush switchover; topology: the same table rows', async () => {
    for (const format of ['json', 'yaml']) {
      const r = await both(['list', '-e', '-t', '--format', format]);
      assert.equal(r.code, 0);
      const [oursStamp, ...oursBody] = r.ours.split('\n');
      const [theirStamp, ...theirBody] = r.theirs.split('\n');
      assert.equal(oursStamp, 'T');
      assert.equal(theirStamp, 'T');
      const parse = (text: string) => (format === 'json' ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>[];
      const a = parse(oursBody.join('\n'));
      const b = parse(theirBody.join('\n'));
      assert.deepEqual(a.map((m) => Object.keys(m).sort()), b.map((m) => Object.keys(m).sort()), format);
      // The one known difference: a streaming replica's State is its replication_state, as Patroni 3.1+ lists it
      // (the /cluster document pgha serves); patronictl 3.0.2 shows the member's state.
      const ourReplica = a.find((m) => m.Member === replica)!;
      assert.equal(ourReplica.State, 'streaming');
      assert.equal(b.find((m) => m.Member === replica)!.State, 'running');
      ourReplica.State = 'running';
      assert.deepEqual(a, b, format);
    }
    for (const format of ['yaml', 'json', 'tsv']) {
      const history = await both(['history', '-f', format]);
      assert.equal(history.ours, history.theirs, `history -f ${format}`);
    }
    const flush = await both(['flush', 'pgcluster', 'switchover']);
    assert.equal(flush.ours, 'No pending scheduled switchover\n');
    assert.equal(flush.ours, flush.theirs);
    const topo = await both(['topology']);
    assert.equal(topo.code, 0);
    const rows = (text: string) => text.split('\n').filter((l) => l.startsWith('|')).map((l) => l.split('|').map((cell) => cell.trim()));
    assert.deepEqual(rows(topo.ours).map((r) => r.map((cell) => (cell === 'streaming' ? 'running' : cell))), rows(topo.theirs));
    assert.equal(rows(topo.ours)[2]?.[1], `+ ${replica}`, 'the replica under the leader');
  });
});
