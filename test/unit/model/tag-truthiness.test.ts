import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { decide } from '../../../src/agent/decide';
import { deriveRoutingTable } from '../../../src/router/routing';
import type { MemberHealth, MemberLag } from '../../../src/router/types';
import { aCluster, anObservation } from '../../support/agent-builders';
import { aMember, aView } from '../../support/builders';
import { aListener, aPrimaryAgent, aReplicaAgent, aRoutingConfig, anInput, lagOf } from '../router/builders';

/**
 * Patroni 3.0.2's answer for a boolean tag (nofailover, noloadbalance, clonefrom, nosync) set to each value:
 * `bool(self.tags.get(tag, False))` (patroni/__main__.py Patroni.nofailover/noloadbalance/nosync for its own tags,
 * patroni/dcs/__init__.py Member.nofailover/clonefrom for a peer's), never parse_bool. Recorded from the Debian
 * package (python3-patroni 3.0.2); checked live below where that package is installed.
 */
const PATRONI_3_0_2: ReadonlyArray<[unknown, boolean]> = [
  [true, true], [false, false],
  [1, true], [0, false], [2, true],
  ['true', true], ['false', true], ['yes', true], ['no', true], ['0', true], ['', false],
  [null, false], [[], false], [{}, false],
];

/** The agent: a replica of a cluster with no leader races unless it carries nofailover. */
function agentRefusesToRace(nofailover: unknown): boolean {
  const view = aCluster().initialized().optime(50_000_000).member('ty-db1', 5432).member('ty-db2', 5433).noLeader().build();
  const d = decide(anObservation({ name: 'ty-db2', view, peers: [], tags: { nofailover } }), {});
  return d.reason === 'cluster has no leader; I am tagged nofailover, not racing';
}

/** The router: a streaming replica is in the read pool unless it carries noloadbalance. */
function routerExcludes(noloadbalance: unknown): boolean {
  const view = aView({
    leader: 'node1',
    members: [
      aMember('node1', { role: 'master', conn_url: 'postgres://127.0.0.1:5431/postgres' }),
      aMember('node2', { conn_url: 'postgres://127.0.0.1:5432/postgres', tags: { noloadbalance } }),
    ],
  });
  const health = new Map<string, MemberHealth>([['node1', aPrimaryAgent()], ['node2', aReplicaAgent()]]);
  const lag = new Map<string, MemberLag>([['node2', lagOf(0, 0)]]);
  const table = deriveRoutingTable(anInput(view, { health, lag }), aRoutingConfig([aListener('write', 'primary'), aListener('read', 'replica')]));
  return !table.pools.read!.backends.some((b) => b.member === 'node2');
}

const show = (v: unknown) => JSON.stringify(v);

describe('a boolean tag means the same to the agent, the router and Patroni 3.0.2', () => {
  for (const [value, patroni] of PATRONI_3_0_2) {
    test(`nofailover: ${show(value)} and noloadbalance: ${show(value)} are both ${patroni ? 'set' : 'unset'}, as in Patroni`, () => {
      assert.equal(agentRefusesToRace(value), patroni, 'agent (decide) reading nofailover');
      assert.equal(routerExcludes(value), patroni, 'router (deriveRoutingTable) reading noloadbalance');
    });
  }

  // Debian's python3-patroni: the package lives outside pyenv's path, so its own python runs it.
  const python = '/usr/bin/python3';
  const installed = existsSync(python) && spawnSync(python, ['-c', 'import patroni'], { encoding: 'utf8' }).status === 0;
  test('the table is what the installed Patroni answers', { skip: installed ? false : 'Debian python3-patroni not installed' }, () => {
    const script = [
      'import json, sys',
      'from patroni.dcs import Member',
      'for v in json.loads(sys.argv[1]):',
      "    m = Member.from_node(0, 'n', None, json.dumps({'conn_url': 'postgres://h:5432/postgres', 'tags': {'nofailover': v}}))",
      '    print(json.dumps(bool(m.nofailover)))',
    ].join('\n');
    const r = spawnSync(python, ['-c', script, JSON.stringify(PATRONI_3_0_2.map(([v]) => v))], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const answers = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as boolean);
    assert.deepEqual(answers, PATRONI_3_0_2.map(([, b]) => b));
  });
});
