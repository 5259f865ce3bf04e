import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pythonRound, renderList } from '../../../src/ctl/list';
import { aMember, aView, MB } from '../../support/builders';

/** The reference §8.3 cluster: leader, a streaming replica 10 MB behind with a tag, a stopped replica. */
function threeMembers(extra: Parameters<typeof aView>[0] = {}) {
  return aView({
    leader: 'node1',
    optime: 100 * MB,
    members: [
      aMember('node1', { conn_url: 'postgres://10.0.0.1:5432/postgres', role: 'master', xlog_location: 100 * MB, timeline: 3 }),
      aMember('node2', {
        conn_url: 'postgres://10.0.0.2:5432/postgres', xlog_location: 90 * MB, replication_state: 'streaming', timeline: 3,
        tags: { nofailover: true },
      }),
      aMember('node3', { conn_url: 'postgres://10.0.0.3:5432/postgres', state: 'stopped' }),
    ],
    ...extra,
  });
}

describe('pgha ctl list: patronictl 3.1.1–4.0.x output', () => {
  test('pretty: the title carries the sysid, TL and Lag right-aligned, tags as YAML', () => {
    assert.equal(
      renderList(threeMembers(), 'pgcluster', { format: 'pretty' }),
      [
        '+ Cluster: pgcluster (7268616322854375442) ----+-----------+------------------+',
        '| Member | Host     | Role    | State     | TL | Lag in MB | Tags             |',
        '+--------+----------+---------+-----------+----+-----------+------------------+',
        '| node1  | 10.0.0.1 | Leader  | running   |  3 |           |                  |',
        '| node2  | 10.0.0.2 | Replica | streaming |  3 |        10 | nofailover: true |',
        '| node3  | 10.0.0.3 | Replica | stopped   |    |   unknown |                  |',
        '+--------+----------+---------+-----------+----+-----------+------------------+',
        '',
      ].join('\n'),
    );
  });

  test('json: one object per member keyed by column, empty cells left out, Python spacing', () => {
    assert.equal(
      renderList(threeMembers(), 'pgcluster', { format: 'json' }),
      '[{"Cluster": "pgcluster", "Member": "node1", "Host": "10.0.0.1", "Role": "Leader", "State": "running", "TL": 3}, ' +
        '{"Cluster": "pgcluster", "Member": "node2", "Host": "10.0.0.2", "Role": "Replica", "State": "streaming", "TL": 3, ' +
        '"Lag in MB": 10, "Tags": {"nofailover": true}}, ' +
        '{"Cluster": "pgcluster", "Member": "node3", "Host": "10.0.0.3", "Role": "Replica", "State": "stopped", "Lag in MB": "unknown"}]\n',
    );
  });

  test('tsv: the hidden Cluster column, a header line, tags in YAML flow style', () => {
    assert.equal(
      renderList(threeMembers(), 'pgcluster', { format: 'tsv' }),
      'Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tTags\n' +
        'pgcluster\tnode1\t10.0.0.1\tLeader\trunning\t3\t\t\n' +
        'pgcluster\tnode2\t10.0.0.2\tReplica\tstreaming\t3\t10\t{nofailover: true}\n' +
        'pgcluster\tnode3\t10.0.0.3\tReplica\tstopped\t\tunknown\t\n',
    );
  });

  test('paused (config key) and a scheduled switchover: service lines after the table', () => {
    const view = threeMembers({
      configValue: { pause: true },
      failover: { leader: 'node1', member: 'node2', scheduledAt: '2023-09-24T10:36:00+02:00', modRevision: 3 },
    });
    const lines = renderList(view, 'pgcluster', { format: 'pretty' }).split('\n');
    assert.deepEqual(lines.slice(-6), [
      '+--------+----------+---------+-----------+----+-----------+------------------+',
      ' Maintenance mode: on',
      ' Switchover scheduled at: 2023-09-24T10:36:00+02:00',
      '                    from: node1',
      '                      to: node2',
      '',
    ]);
    assert.ok(!renderList(view, 'pgcluster', { format: 'json' }).includes('Maintenance'));
  });

  test('paused as seen in the members\' pause flags', () => {
    const view = aView({ leader: 'a', members: [aMember('a', { pause: true, role: 'master' })] });
    assert.ok(renderList(view, 's', { format: 'pretty' }).endsWith('\n Maintenance mode: on\n'));
  });

  test('loopback members share a host: host:port; multi-line tags rule every row; extended columns', () => {
    const view = aView({
      leader: 'b',
      optime: 3_670_016,
      initialize: '',
      members: [
        aMember('a', { conn_url: 'postgres://127.0.0.1:6001/postgres', xlog_location: 1_572_864, timeline: 12, pending_restart: true, tags: { zone: 'a', nofailover: true } }),
        aMember('b', { conn_url: 'postgres://127.0.0.1:6002/postgres', role: 'master', xlog_location: 3_670_016, timeline: 12 }),
      ],
    });
    assert.equal(
      renderList(view, 'loop', { format: 'pretty', extended: true }),
      [
        '+ Cluster: loop (initializing) -----+---------+----+-----------+-----------------+-------------------+------------------+',
        '| Member | Host           | Role    | State   | TL | Lag in MB | Pending restart | Scheduled restart | Tags             |',
        '+--------+----------------+---------+---------+----+-----------+-----------------+-------------------+------------------+',
        '| a      | 127.0.0.1:6001 | Replica | running | 12 |         2 | *               |                   | nofailover: true |',
        '|        |                |         |         |    |           |                 |                   | zone: a          |',
        '+--------+----------------+---------+---------+----+-----------+-----------------+-------------------+------------------+',
        '| b      | 127.0.0.1:6002 | Leader  | running | 12 |           |                 |                   |                  |',
        '+--------+----------------+---------+---------+----+-----------+-----------------+-------------------+------------------+',
        '',
      ].join('\n'),
    );
  });

  test('a port other than 5432 anywhere shows host:port for everyone; sync standby role', () => {
    const view = aView({
      leader: 'n1', syncStandby: ['n2'],
      members: [
        aMember('n1', { conn_url: 'postgres://h1:5432/postgres', role: 'master' }),
        aMember('n2', { conn_url: 'postgres://h2:6432/postgres', xlog_location: 0 }),
      ],
    });
    const text = renderList(view, 's', { format: 'tsv' });
    assert.match(text, /\tn1\th1:5432\tLeader\t/);
    assert.match(text, /\tn2\th2:6432\tSync Standby\t/);
  });

  test('the title without an initialize key says uninitialized; no members still draws the frame', () => {
    assert.equal(
      renderList(aView({ initialize: undefined }), 'empty', { format: 'pretty' }),
      [
        '+ Cluster: empty (uninitialized) ---+-----------+',
        '| Member | Host | Role | State | TL | Lag in MB |',
        '+--------+------+------+-------+----+-----------+',
        '+--------+------+------+-------+----+-----------+',
        '',
      ].join('\n'),
    );
    assert.equal(renderList(aView(), 'empty', { format: 'json' }), '[]\n');
  });

  test('Lag in MB rounds like Python (halves to even), never negative', () => {
    const view = aView({
      leader: 'n0', optime: 10 * MB,
      members: [
        aMember('n1', { xlog_location: 10 * MB - MB / 2 }), // 0.5 → 0
        aMember('n2', { xlog_location: 10 * MB - 1.5 * MB }), // 1.5 → 2
        aMember('n3', { xlog_location: 10 * MB - 2.5 * MB }), // 2.5 → 2
        aMember('n4', { xlog_location: 20 * MB }), // ahead → 0
      ],
    });
    const lags = JSON.parse(renderList(view, 's', { format: 'json' })).map((r: Record<string, unknown>) => r['Lag in MB']);
    assert.deepEqual(lags, [0, 2, 2, 0]);
    assert.deepEqual([0.5, 1.5, 2.5, 2.51, 3.49].map(pythonRound), [0, 2, 2, 3, 3]);
  });
});
