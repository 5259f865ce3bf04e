import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { parseCtlArgs, UsageError, watchSeconds, leaderOpt, listOpt, roleOpt } from '../../../src/ctl/args';
import { applyConfigChanges, applyYamlPatch, pgPairs } from '../../../src/ctl/config-edit';
import { unifiedDiff } from '../../../src/ctl/diff';
import { formatYaml, renderHistory } from '../../../src/ctl/history';
import { renderList } from '../../../src/ctl/list';
import { topologySort } from '../../../src/ctl/topology';
import { candidateNames, candidateRefusal, isoWithOffset, parseScheduled } from '../../../src/ctl/switchover';
import { membersWithRole, selectMembers } from '../../../src/ctl/members';
import { checkPgVersion } from '../../../src/ctl/restart';
import { formatPgVersion } from '../../../src/ctl/info';
import { parseDcsUrl, ctlSettings } from '../../../src/ctl/settings';
import { streamPrompter } from '../../../src/ctl/prompt';
import { endpointUrl, basicAuthHeader } from '../../../src/ctl/rest-client';
import { CtlError, timestamp } from '../../../src/ctl/session';
import type { ClusterMemberEntry } from '../../../src/api/cluster-doc';
import { aMember, aView, MB } from '../../support/builders';

describe('ctl args', () => {
  test('global options before the verb, verb options after, patronictl spellings', () => {
    const a = parseCtlArgs(['-c', 'node.yml', 'switchover', 'pgcluster', '--primary', 'n1', '--candidate', 'n2', '--force']);
    assert.equal(a.verb, 'switchover');
    assert.equal(a.configFile, 'node.yml');
    assert.deepEqual(a.positionals, ['pgcluster']);
    assert.equal(leaderOpt(a), 'n1');
    assert.equal(a.values.force, true);
    const e = parseCtlArgs(['--dcs-url', 'etcd3://h:2379', 'edit-config', '-s', 'ttl=20', '--set', 'loop_wait=5', '-p', 'work_mem=4MB']);
    assert.equal(e.dcsUrl, 'etcd3://h:2379');
    assert.deepEqual(listOpt(e, 'set'), ['ttl=20', 'loop_wait=5']);
    assert.deepEqual(listOpt(e, 'pg'), ['work_mem=4MB']);
    assert.equal(parseCtlArgs(['list', '-c', 'x.yml', '-k']).insecure, true);
  });
  test('-W is 2 s, -w N is N s; bad values and unknown options are usage errors', () => {
    assert.equal(watchSeconds(parseCtlArgs(['list', '-W'])), 2);
    assert.equal(watchSeconds(parseCtlArgs(['list', '-w', '0.5'])), 0.5);
    assert.equal(watchSeconds(parseCtlArgs(['topology'])), 0);
    assert.throws(() => watchSeconds(parseCtlArgs(['list', '-w', 'x'])), UsageError);
    assert.throws(() => parseCtlArgs(['switchover', '--scheduled']), UsageError);
    assert.throws(() => parseCtlArgs(['list', '--candidate', 'x']), /list: Unknown option '--candidate'/);
    assert.throws(() => parseCtlArgs(['frobnicate']), /unknown verb 'frobnicate'/);
    assert.equal(roleOpt(parseCtlArgs(['restart', 'c', '-r', 'replica']), 'any'), 'replica');
    assert.throws(() => roleOpt(parseCtlArgs(['restart', 'c', '-r', 'boss']), 'any'), /expected one of leader, primary/);
  });
});

describe('ctl settings', () => {
  test('--dcs-url forms', () => {
    assert.deepEqual(parseDcsUrl('etcd3://10.0.0.5:2379'), { etcd: { section: 'etcd3', hosts: [{ host: '10.0.0.5', port: 2379 }], protocol: 'http' } });
    assert.deepEqual(parseDcsUrl('a:1,b/service'), { etcd: { section: 'etcd3', hosts: [{ host: 'a', port: 1 }, { host: 'b', port: 2379 }], protocol: 'http' }, namespace: '/service' });
    assert.throws(() => parseDcsUrl('consul://h:8500'), /Unknown dcs scheme: consul/);
  });
  test('REST credentials and TLS: ctl.* first, then restapi.*', () => {
    const doc = {
      scope: 'pg', namespace: 'ns/', etcd3: { hosts: '127.0.0.1:2379' },
      restapi: { listen: ':8008', authentication: { username: 'u', password: 'p' }, cafile: '/ca.pem' },
      ctl: { insecure: true },
    };
    const s = ctlSettings(doc, {});
    assert.equal(s.scope, 'pg');
    assert.equal(s.namespace, '/ns');
    assert.deepEqual(s.rest, { auth: { username: 'u', password: 'p' }, cacert: '/ca.pem', insecure: true });
    const c = ctlSettings({ ...doc, ctl: { authentication: { username: 'ctl', password: 'x' }, cacert: '/ctl.pem' } }, {});
    assert.deepEqual(c.rest.auth, { username: 'ctl', password: 'x' });
    assert.equal(c.rest.cacert, '/ctl.pem');
    assert.equal(ctlSettings({ scope: 'pg' }, { PATRONI_RESTAPI_USERNAME: 'e', PATRONI_RESTAPI_PASSWORD: 'f' }).rest.auth?.username, 'e');
  });
  test('REST endpoint URL and Basic auth header as patronictl builds them', () => {
    assert.equal(endpointUrl('https://10.0.0.1:8008/patroni', 'switchover').href, 'https://10.0.0.1:8008/switchover');
    assert.equal(basicAuthHeader({ username: 'patroni', password: 'secret' }), 'Basic cGF0cm9uaTpzZWNyZXQ=');
  });
});

describe('edit-config: --set, --pg, --apply and the diff', () => {
  const base = { ttl: 30, loop_wait: 10, postgresql: { use_pg_rewind: true, parameters: { max_connections: 100 } } };
  test('dotted paths, YAML values, GUC names with dots, null deletes and empty maps go away', () => {
    const out = applyConfigChanges(base, ['ttl=20', 'synchronous_mode=on', 'a.b.c=[1, 2]', ...pgPairs(['pg_stat_statements.max=10000', ' work_mem=4MB'])]);
    assert.deepEqual(out, {
      ttl: 20, loop_wait: 10, synchronous_mode: true, a: { b: { c: [1, 2] } },
      postgresql: { use_pg_rewind: true, parameters: { max_connections: 100, 'pg_stat_statements.max': 10000, work_mem: '4MB' } },
    });
    assert.deepEqual(applyConfigChanges(base, ['postgresql.parameters.max_connections=null', 'loop_wait=']).postgresql, { use_pg_rewind: true });
    assert.equal(applyConfigChanges(base, ['loop_wait=']).loop_wait, undefined);
    assert.equal(base.ttl, 30, 'the input is not changed');
    assert.throws(() => applyConfigChanges(base, ['ttl']), /Invalid parameter setting ttl/);
  });
  test('--apply is a patch (null deletes); --replace starts from nothing', () => {
    assert.deepEqual(applyYamlPatch(base, 'loop_wait: 5\npostgresql:\n  parameters:\n    max_connections: null\n', 'f'),
      { ttl: 30, loop_wait: 5, postgresql: { use_pg_rewind: true, parameters: {} } });
    assert.deepEqual(applyYamlPatch({}, 'ttl: 9', 'f'), { ttl: 9 });
    assert.throws(() => applyYamlPatch(base, '- a', 'f.yml'), /f.yml: expected a YAML map/);
  });
  test('YAML as PyYAML safe_dump prints it: sorted keys, block style, indentless lists', () => {
    assert.equal(formatYaml({ ttl: 30, postgresql: { pg_hba: ['host all all 0.0.0.0/0 md5'], parameters: { x: 'on', y: '0123', z: null } }, loop_wait: 10 }),
      "loop_wait: 10\npostgresql:\n  parameters:\n    x: 'on'\n    'y': '0123'\n    z: null\n  pg_hba:\n  - host all all 0.0.0.0/0 md5\nttl: 30\n");
    assert.equal(formatYaml({}), '{}\n');
  });
  test('unified diff: difflib hunks, 3 lines of context, empty file names', () => {
    const abc = 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n';
    assert.deepEqual(unifiedDiff(abc, abc.replace('d', 'D') + 'l\n'),
      ['--- ', '+++ ', '@@ -1,7 +1,7 @@', ' a', ' b', ' c', '-d', '+D', ' e', ' f', ' g', '@@ -9,3 +9,4 @@', ' i', ' j', ' k', '+l']);
    assert.deepEqual(unifiedDiff('x: 1\ny: 2\n', 'x: 1\ny: 3\nz: 4\n'), ['--- ', '+++ ', '@@ -1,2 +1,3 @@', ' x: 1', '-y: 2', '+y: 3', '+z: 4']);
    assert.deepEqual(unifiedDiff('a\n', 'b\n'), ['--- ', '+++ ', '@@ -1 +1 @@', '-a', '+b']);
    assert.deepEqual(unifiedDiff('same\n', 'same\n'), []);
  });
});

describe('switchover and failover checks', () => {
  const view = aView({
    leader: 'n1', optime: 100 * MB, configValue: { maximum_lag_on_failover: 1048576 },
    members: [
      aMember('n1', { role: 'master', xlog_location: 100 * MB }),
      aMember('n2', { xlog_location: 100 * MB - 10 }),
      aMember('n3', { xlog_location: 90 * MB }),
      aMember('n4', { xlog_location: 100 * MB, tags: { nofailover: true } }),
      aMember('n5', { xlog_location: 100 * MB, tags: { nofailover: 1 } }),
    ],
  });
  test('candidates exclude the leader and nofailover members, sorted', () => {
    assert.deepEqual(candidateNames(view, 'n1'), ['n2', 'n3'], 'nofailover: 1 counts, as in patronictl (bool of the tag)');
  });
  test('refusals: not a member, nofailover, lagging (switchover only), same as the leader', () => {
    assert.equal(candidateRefusal(view, 'pg', 'switchover', 'n1', 'n2'), undefined);
    assert.equal(candidateRefusal(view, 'pg', 'switchover', 'n1', 'zz'), 'Member zz does not exist in cluster pg (members: n1, n2, n3, n4, n5)');
    assert.equal(candidateRefusal(view, 'pg', 'switchover', 'n1', 'n5'), 'Member n5 is tagged nofailover: it cannot become the leader');
    assert.equal(candidateRefusal(view, 'pg', 'switchover', 'n1', 'n4'), 'Member n4 is tagged nofailover: it cannot become the leader');
    assert.match(candidateRefusal(view, 'pg', 'switchover', 'n1', 'n3')!, /^Member n3 lags the leader by 10485760 bytes \(10\.0 MB\), more than maximum_lag_on_failover \(1048576 bytes\)/);
    assert.equal(candidateRefusal(view, 'pg', 'failover', undefined, 'n3'), undefined, 'a failover may promote a lagging member');
    assert.equal(candidateRefusal(view, 'pg', 'switchover', 'n1', 'n1'), 'Switchover target and source are the same.');
  });
  test('scheduled times: now, ISO with a zone, local time without one', () => {
    assert.equal(parseScheduled('now'), undefined);
    assert.equal(parseScheduled(undefined), undefined);
    assert.equal(parseScheduled('2030-01-02T03:04+02:00'), '2030-01-02T03:04:00+02:00');
    assert.equal(parseScheduled('2030-01-02 03:04:05Z'), '2030-01-02T03:04:05+00:00');
    const local = new Date(2030, 0, 2, 3, 4);
    assert.equal(parseScheduled('2030-01-02T03:04'), isoWithOffset(local, -local.getTimezoneOffset()));
    assert.throws(() => parseScheduled('tomorrow'), /Unable to parse scheduled timestamp \(tomorrow\)/);
    assert.throws(() => parseScheduled('2030-13-01T00:00'), CtlError);
  });
});

describe('members, restart, reload', () => {
  const view = aView({ leader: 'b', members: [aMember('c'), aMember('b', { role: 'master' }), aMember('a')] });
  test('role filters', () => {
    assert.deepEqual(membersWithRole(view, 'leader').map((m) => m.name), ['b']);
    assert.deepEqual(membersWithRole(view, 'primary').map((m) => m.name), ['b']);
    assert.deepEqual(membersWithRole(view, 'standby-leader').map((m) => m.name), []);
    assert.deepEqual(membersWithRole(view, 'replica').map((m) => m.name), ['a', 'c']);
    assert.deepEqual(membersWithRole(view, 'any').map((m) => m.name), ['a', 'b', 'c']);
  });
  test('named members: strangers and wrong roles are refused', () => {
    assert.deepEqual(selectMembers(view, 'pg', ['c'], 'any', 'restart').map((m) => m.name), ['c']);
    assert.deepEqual(selectMembers(view, 'pg', [], 'replica', 'restart').map((m) => m.name), ['a', 'c']);
    assert.deepEqual(selectMembers(view, 'pg', [], 'replica', 'reinitialize'), []);
    assert.throws(() => selectMembers(view, 'pg', ['x', 'c'], 'any', 'restart'), /^CtlError: x is not a member of cluster pg \(members: a, b, c\)$/);
    assert.throws(() => selectMembers(view, 'pg', ['b'], 'replica', 'reinitialize'), /No replica among provided members/);
  });
  test('PostgreSQL versions as Patroni accepts them, and as patronictl prints them', () => {
    for (const ok of ['15.4', '16', '9.6.24']) checkPgVersion(ok);
    for (const bad of ['15.x', '9.6', '15.4.1', '']) assert.throws(() => checkPgVersion(bad), CtlError, bad);
    assert.equal(formatPgVersion(150004), '15.4');
    assert.equal(formatPgVersion(90624), '9.6.24');
  });
});

describe('topology and history tables', () => {
  const entry = (name: string, role: ClusterMemberEntry['role'], tags?: Record<string, unknown>): ClusterMemberEntry =>
    ({ name, role, state: 'running', api_url: null, ...(tags ? { tags } : {}) });
  test('replicatefrom builds the tree; unknown parents hang under the leader', () => {
    const sorted = topologySort([entry('a', 'replica'), entry('b', 'leader'), entry('c', 'replica', { replicatefrom: 'a' }),
      entry('d', 'replica', { replicatefrom: 'c' }), entry('e', 'replica', { replicatefrom: 'zz' })]);
    assert.deepEqual(sorted.map((m) => m.name), ['b', '+ a', '  + c', '    + d', '+ e']);
    assert.deepEqual(topologySort([entry('a', 'replica'), entry('c', 'replica')]).map((m) => m.name), ['+ a', '+ c']);
  });
  test('topology renders as list does, in tree order, tags in flow style', () => {
    const view = aView({
      leader: 'node1', optime: 100 * MB,
      members: [
        aMember('node1', { conn_url: 'postgres://10.0.0.1:5432/postgres', role: 'master', xlog_location: 100 * MB, timeline: 3 }),
        aMember('node2', { conn_url: 'postgres://10.0.0.2:5432/postgres', xlog_location: 100 * MB, timeline: 3, tags: { replicatefrom: 'node3' } }),
        aMember('node3', { conn_url: 'postgres://10.0.0.3:5432/postgres', xlog_location: 100 * MB, timeline: 3 }),
      ],
      configValue: { pause: true },
    });
    assert.equal(renderList(view, 'pgcluster', { format: 'topology' }), [
      '+ Cluster: pgcluster (7268616322854375442) +----+-----------+------------------------+',
      '| Member    | Host     | Role    | State   | TL | Lag in MB | Tags                   |',
      '+-----------+----------+---------+---------+----+-----------+------------------------+',
      '| node1     | 10.0.0.1 | Leader  | running |  3 |           |                        |',
      '| + node3   | 10.0.0.3 | Replica | running |  3 |         0 |                        |',
      '|   + node2 | 10.0.0.2 | Replica | running |  3 |         0 | {replicatefrom: node3} |',
      '+-----------+----------+---------+---------+----+-----------+------------------------+',
      ' Maintenance mode: on',
      '',
    ].join('\n'));
  });
  test('history: TL and LSN right-aligned, short lines padded, json keeps every column', () => {
    const lines: [number, number, string, string?, string?][] = [[1, 50331808, 'no recovery target specified', '2026-11-28T13:00:00.000000+00:00', 'n2'], [2, 67108992, 'no recovery target specified']];
    assert.equal(renderHistory(lines, 'pretty'), [
      '+----+----------+------------------------------+----------------------------------+------------+',
      '| TL |      LSN | Reason                       | Timestamp                        | New Leader |',
      '+----+----------+------------------------------+----------------------------------+------------+',
      '|  1 | 50331808 | no recovery target specified | 2026-11-28T13:00:00.000000+00:00 | n2         |',
      '|  2 | 67108992 | no recovery target specified |                                  |            |',
      '+----+----------+------------------------------+----------------------------------+------------+',
      '',
    ].join('\n'));
    assert.equal(renderHistory(lines.slice(1), 'json'), '[{"TL": 2, "LSN": 67108992, "Reason": "no recovery target specified", "Timestamp": "", "New Leader": ""}]\n');
    assert.equal(renderHistory(lines.slice(1), 'tsv'), 'TL\tLSN\tReason\tTimestamp\tNew Leader\n2\t67108992\tno recovery target specified\t\t\n');
  });
  test('timestamp as patronictl prints it', () => {
    const d = new Date(2026, 10, 28, 13, 5, 9, 123);
    assert.equal(timestamp(d), '2026-11-28 13:05:09.12300');
    assert.equal(timestamp(d, 0), '2026-11-28 13:05:09');
  });
});

describe('prompts', () => {
  test('without a terminal a confirmation fails at once, naming the way out', async () => {
    const p = streamPrompter(new PassThrough(), new PassThrough(), false);
    await assert.rejects(p.confirm('Apply these changes?'), /cannot ask "Apply these changes\?": stdin is not a terminal; use --force/);
    await assert.rejects(p.ask('Candidate', { hint: 'give --candidate' }), /stdin is not a terminal; give --candidate/);
    p.close();
  });
  test('piped answers are read line by line for typed confirmations; end of input is an error', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const p = streamPrompter(input, output, false);
    input.end('pgcluster\n');
    assert.equal(await p.ask('Please confirm the cluster name to remove', { piped: true }), 'pgcluster');
    await assert.rejects(p.ask('Type it', { piped: true }), /no answer to "Type it": end of input/);
    p.close();
  });
  test('on a terminal: [y/N] and defaults', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d: Buffer) => (shown += d.toString()));
    const p = streamPrompter(input, output, true);
    input.write('y\n\n');
    assert.equal(await p.confirm('Are you sure?'), true);
    assert.equal(await p.ask('When', { default: 'now' }), 'now');
    assert.equal(shown, 'Are you sure? [y/N]: When [now]: ');
    p.close();
  });
});
