import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseCtlArgs } from '../../../src/ctl/args';
import { pickMember, renderQueryOutput, runQuery, targetRole, type SqlConnection, type SqlConnector } from '../../../src/ctl/query';
import { connectFailure, fromText, pythonDatetime } from '../../../src/ctl/query-sql';
import { CtlError, type CtlSession } from '../../../src/ctl/session';
import { renderList } from '../../../src/ctl/list';
import { aMember, aView } from '../../support/builders';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { clusterKeys } from '../../../src/model/keys';

describe('ctl query: command line', () => {
  test('after the verb, -c is the SQL and -d the database; before it, the config file and the etcd URL', () => {
    const a = parseCtlArgs(['-c', 'ctl.yml', '-d', 'etcd3://h:2379', 'query', 'pgcluster', '-c', 'select 1', '-d', 'app', '-U', 'bob', '-r', 'replica', '--format', 'json', '--delimiter', ';', '-W']);
    assert.equal(a.configFile, 'ctl.yml');
    assert.equal(a.dcsUrl, 'etcd3://h:2379');
    assert.deepEqual(a.positionals, ['pgcluster']);
    assert.equal(a.values.command, 'select 1');
    assert.equal(a.values.dbname, 'app');
    assert.equal(a.values.username, 'bob');
    assert.equal(a.values.W, true);
    assert.equal(parseCtlArgs(['query', '-f', 'q.sql', '--config-file', 'x.yml']).configFile, 'x.yml', 'long global names still work after the verb');
    assert.throws(() => parseCtlArgs(['query', '-x']), /query: Unknown option '-x'/);
  });
});

describe('ctl query and dsn: which member', () => {
  const view = aView({
    leader: 'n2',
    members: [aMember('n1', { conn_url: 'postgres://10.0.0.1:5432/postgres' }), aMember('n2', { role: 'master' }), aMember('n3')],
  });
  test('--member means role any; neither means the leader; both are refused', () => {
    assert.equal(targetRole(undefined, undefined), 'leader');
    assert.equal(targetRole(undefined, 'n3'), 'any');
    assert.equal(targetRole('replica', undefined), 'replica');
    assert.throws(() => targetRole('replica', 'n3'), /--role and --member are mutually exclusive options/);
  });
  test('the leader key holder; the first other member for replica; by name among all', () => {
    assert.equal(pickMember(view, 'leader', undefined)?.name, 'n2');
    assert.equal(pickMember(view, 'master', undefined)?.name, 'n2');
    assert.equal(pickMember(view, 'standby-leader', undefined), undefined);
    assert.equal(pickMember(view, 'replica', undefined)?.name, 'n1');
    assert.equal(pickMember(view, 'any', 'n3')?.name, 'n3');
    assert.equal(pickMember(view, 'any', 'nobody'), undefined);
  });
});

describe('ctl query: output as patronictl prints it', () => {
  const columns = ['n', 'b', 'z', 'j'];
  const rows = [[1, true, null, { k: [1, 'x'] }]];
  test('tsv (the default) with Python str() of each value, and a delimiter', () => {
    assert.equal(renderQueryOutput(columns, rows, 'tsv', '\t'), "n\tb\tz\tj\n1\tTrue\tNone\t{'k': [1, 'x']}\n");
    assert.equal(renderQueryOutput(columns, rows, 'tsv', ';'), "n;b;z;j\n1;True;None;{'k': [1, 'x']}\n");
  });
  test('json and yaml: one object per row; yaml ends with click\'s extra newline', () => {
    assert.equal(renderQueryOutput(columns, rows, 'json', '\t'), '[{"n": 1, "b": true, "z": null, "j": {"k": [1, "x"]}}]\n');
    assert.equal(renderQueryOutput(['a'], [[1]], 'yaml', '\t'), '- a: 1\n\n');
  });
  test('pretty: a box without title, every column left-aligned; an error row has Field 1, Field 2', () => {
    assert.equal(renderQueryOutput(['num', 't'], [[1, 'xyz']], 'pretty', '\t'), '+-----+-----+\n| num | t   |\n+-----+-----+\n| 1   | xyz |\n+-----+-----+\n');
    assert.match(renderQueryOutput(undefined, [['2026-12-07 09:00:00', 'ERROR, SQLSTATE: 42P01']], 'pretty', '\t'), /^\| Field 1 +\| Field 2 +\|$/m);
    assert.equal(renderQueryOutput(undefined, [['2026-12-07 09:00:00', 'ERROR, SQLSTATE: 42P01']], 'tsv', '\t'), '2026-12-07 09:00:00\tERROR, SQLSTATE: 42P01\n');
    assert.throws(() => renderQueryOutput(undefined, [['t', 'ERROR, SQLSTATE: 42P01']], 'json', '\t'), (e) => e instanceof CtlError && /ERROR, SQLSTATE: 42P01/.test(e.message));
  });
  test('values arrive as psycopg hands them over: timestamps as Python str(datetime)', () => {
    assert.equal(pythonDatetime('2026-12-07 09:00:00.12+00'), '2026-12-07 09:00:00.120000+00:00');
    assert.equal(pythonDatetime('2026-12-07 09:00:00+05:30'), '2026-12-07 09:00:00+05:30');
    assert.equal(pythonDatetime('2026-12-07 09:00:00'), '2026-12-07 09:00:00');
    assert.equal(fromText('t', { dataTypeID: 16 }), true);
    assert.equal(fromText('42', { dataTypeID: 23 }), 42);
    assert.equal(fromText('9223372036854775807', { dataTypeID: 20 }), '9223372036854775807');
    assert.deepEqual(fromText('{"a": 1}', { dataTypeID: 3802 }), { a: 1 });
    assert.equal(fromText('42.10', { dataTypeID: 1700 }), '42.10');
    assert.equal(fromText(null, { dataTypeID: 25 }), null);
  });
  test('a refused connection in libpq\'s words', () => {
    assert.equal(connectFailure({ host: 'h', port: 5 }, { severity: 'FATAL', message: 'database "x" does not exist' }), 'connection to server at "h", port 5 failed: FATAL:  database "x" does not exist\n');
    assert.match(connectFailure({ host: 'h', port: 5 }, { code: 'ECONNREFUSED' }), /failed: Connection refused\n\tIs the server running/);
  });
});

describe('ctl query: running it', () => {
  const keys = clusterKeys('/service', 'pgcluster');
  async function session(): Promise<{ s: CtlSession; out: string[] }> {
    const store = new MemoryStore({ now: () => 0 });
    await store.put(keys.member('n1'), JSON.stringify({ role: 'master', conn_url: 'postgres://127.0.0.1:5433/postgres' }));
    await store.put(keys.member('n2'), JSON.stringify({ role: 'replica', conn_url: 'postgres://127.0.0.1:5434/postgres' }));
    await store.put(keys.leader, 'n1');
    const out: string[] = [];
    const io = { write: (t: string) => out.push(t), out: (l: string) => out.push(`${l}\n`), now: () => new Date(2026, 11, 7, 9, 0, 0), sleep: async () => undefined };
    return { s: { scope: 'pgcluster', store, keys, io } as unknown as CtlSession, out };
  }
  const base = { format: 'tsv', delimiter: '\t', askPassword: false, refreshSeconds: 1 } as const;

  test('watching reuses the connection, reconnects after an error; a replica role is checked on the server', async () => {
    const { s, out } = await session();
    const opened: string[] = [];
    let failNext = false;
    const connect: SqlConnector = async (target) => {
      opened.push(`${target.host}:${target.port}:${target.user ?? ''}:${target.database ?? ''}`);
      const conn: SqlConnection = {
        async run(sql) {
          if (sql.includes('pg_is_in_recovery')) return { columns: ['pg_is_in_recovery'], rows: [[target.port === 5434]] };
          if (failNext) {
            failNext = false;
            throw Object.assign(new Error('terminating connection'), { code: '57P01' });
          }
          return { columns: ['x'], rows: [[1]] };
        },
        close: async () => undefined,
      };
      return conn;
    };
    await runQuery(s, { ...base, command: 'select 1', role: 'replica', username: 'bob', dbname: 'app', rounds: 2 }, connect);
    assert.deepEqual(opened, ['127.0.0.1:5434:bob:app'], 'one connection for two rounds');
    assert.equal(out.join(''), 'x\n1\nx\n1\n');

    out.length = 0;
    failNext = true;
    await runQuery(s, { ...base, command: 'select 1', rounds: 2 }, connect);
    assert.equal(out.join(''), '2026-12-07 09:00:00\tERROR, SQLSTATE: 57P01\nx\n1\n');
    assert.deepEqual(opened.slice(1), ['127.0.0.1:5433::', '127.0.0.1:5433::'], 'reconnected after the error');

    out.length = 0;
    await runQuery(s, { ...base, refreshSeconds: 0, command: 'select 1', role: 'master' }, async (target) => connect({ ...target, port: 5434 }));
    assert.equal(out.join(''), '2026-12-07 09:00:00\tNo connection to role=master is available\n', 'etcd says leader, the server is in recovery');
  });

  test('--file and --command together, or neither, are refused', async () => {
    const { s } = await session();
    const never: SqlConnector = async () => assert.fail('no connection expected');
    await assert.rejects(runQuery(s, { ...base, command: 'select 1', fileText: 'select 2' }, never), /--file and --command are mutually exclusive options/);
    await assert.rejects(runQuery(s, { ...base }, never), /You need to specify either --command or --file/);
  });
});

test('list --format yaml: the json rows as YAML (tags stay a map), with click\'s extra newline', () => {
  const view = aView({ leader: 'n1', members: [aMember('n1', { role: 'master', conn_url: 'postgres://10.0.0.1:5432/postgres', tags: { nofailover: true }, timeline: 2 })] });
  assert.equal(renderList(view, 'pgcluster', { format: 'yaml' }), [
    '- Cluster: pgcluster', '  Host: 10.0.0.1', '  Member: n1', '  Role: Leader', '  State: running', '  TL: 2', '  Tags:', '    nofailover: true', '', '',
  ].join('\n'));
});
