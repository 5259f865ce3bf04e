/**
 * etcd keys holding garbage, read as Patroni reads them (patroni/dcs/__init__.py: Member.from_node,
 * ClusterConfig.from_node, TimelineHistory.from_node, Cluster.timeline, Failover.from_node): never a throw.
 * Then thousands of seeded random views pushed through every consumer of a view (the agent's decide, the
 * router's routing table, the REST /cluster document, `ctl list` and `ctl history`): none may throw.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { clusterTimeline, leaderMember, parseClusterView, type ClusterView, type KeyValue } from '../../../src/model/cluster';
import { parseMemberValue } from '../../../src/model/member';
import { clusterKeys } from '../../../src/model/keys';
import { deriveRoutingTable } from '../../../src/router/routing';
import { parsePatroniStatus } from '../../../src/router/health';
import { clusterDocument } from '../../../src/api/cluster-doc';
import { renderList } from '../../../src/ctl/list';
import { renderHistory } from '../../../src/ctl/history';
import { decide } from '../../../src/agent/decide';
import { anObservation, runningPrimary, runningReplica, stoppedNode } from '../../support/agent-builders';
import { Rng } from '../../support/sim/rng';
import { aListener, aRoutingConfig, anInput, aPrimaryAgent, aReplicaAgent, aDownAgent } from '../router/builders';
import type { MemberHealth } from '../../../src/router/types';

const keys = clusterKeys('/service/', 'garbage');
let rev = 1;
const kv = (key: string, value: string): KeyValue => ({ key, value, modRevision: ++rev, createRevision: rev, lease: '0' });
const view = (...kvs: KeyValue[]): ClusterView => parseClusterView(keys, rev + 1, kvs);

describe('garbage in one key, read as Patroni reads it', () => {
  test('a member value that is not JSON is a member with no data: no host, never a backend', () => {
    for (const value of ['not json {', '', '[1,2]', '"text"', '42', 'null', 'true', 'postgres://[::1:bad', '\u0000\u00ff', '{"a":']) {
      const v = view(kv(keys.member('m1'), value));
      const m = v.members.get('m1');
      assert.ok(m, JSON.stringify(value));
      assert.equal(m.host, undefined, JSON.stringify(value));
      assert.equal(m.port, undefined, JSON.stringify(value));
      assert.deepEqual(parseMemberValue(value), value === 'postgres://[::1:bad' ? {} : {}, JSON.stringify(value));
    }
  });

  test('a leader naming an unknown member: the leader key is kept, its member is absent', () => {
    const v = view(kv(keys.leader, 'nobody'), kv(keys.member('m1'), '{"conn_url":"postgres://h:5432/postgres"}'));
    assert.equal(v.leader?.name, 'nobody');
    assert.equal(leaderMember(v), undefined);
  });

  test('a config key that is not a JSON object reads as {} (marked invalid)', () => {
    for (const value of ['{"ttl": 30, ', '[]', '7', 'null', '']) {
      assert.deepEqual(view(kv(keys.config, value)).config, { value: {}, valid: false, modRevision: rev }, value);
    }
  });

  test('history: [] is timeline 1; garbage (not a list, or a last line without a number) is timeline 0, unknown', () => {
    assert.equal(clusterTimeline(view(kv(keys.history, '[]'))), 1);
    assert.equal(clusterTimeline(view(kv(keys.history, '[[1, 100, "r"], [2, 200, "r"]]'))), 3);
    assert.equal(clusterTimeline(view(kv(keys.history, '[["4", 100, "r"]]'))), 5, "Patroni's int('4')");
    for (const value of ['{{', '{}', '"x"', '5', '[[1, 100], "garbage"]', '[["x", 1]]', '[null]', '[[]]', '[{}]', '[[null]]']) {
      assert.equal(clusterTimeline(view(kv(keys.history, value))), 0, value);
    }
    assert.equal(clusterTimeline(view()), 0, 'no key');
  });

  test('failover, sync, status and initialize garbage: no request, no sync state, no optime', () => {
    const v = view(kv(keys.failover, '[1,2'), kv(keys.sync, 'sync?'), kv(keys.status, '{"optime": "NaN", "slots": "{{"}'), kv(keys.initialize, '\u0000'));
    assert.equal(v.failover, undefined);
    assert.equal(v.sync, undefined);
    assert.equal(v.optime, undefined);
    assert.equal(v.slots, undefined);
    assert.equal(v.initialize, '\u0000');
  });
});

// ------------------------------------------------------------------------------------------- random views

function randomScalar(r: Rng): unknown {
  return r.pick<() => unknown>([
    () => null,
    () => r.chance(0.5),
    () => r.int(-5, 5),
    () => r.range(-1e20, 1e20),
    () => Number.MAX_SAFE_INTEGER,
    () => '',
    () => 'running',
    () => 'master',
    () => 'replica',
    () => 'postgres://127.0.0.1:5432/postgres',
    () => 'http://127.0.0.1:1/patroni',
    () => 'not a url',
    () => 'x'.repeat(r.int(0, 300)),
    () => '\u0000\u00ff\ud800',
    () => String(r.int(0, 1e9)),
    () => '0/1',
    () => 'true',
  ])();
}

function randomValue(r: Rng, depth = 0): unknown {
  if (depth > 2 || r.chance(0.6)) return randomScalar(r);
  if (r.chance(0.5)) return Array.from({ length: r.int(0, 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = r.int(0, 4); i > 0; i--) o[r.pick(['a', 'leader', 'member', 'ttl', 'nofailover', 'optime', '0'])] = randomValue(r, depth + 1);
  return o;
}

const MEMBER_FIELDS = ['conn_url', 'api_url', 'state', 'role', 'version', 'xlog_location', 'receive_lsn', 'replay_lsn', 'replication_state', 'timeline', 'tags', 'pending_restart', 'pause', 'scheduled_restart', 'nofailover'];
const CONFIG_FIELDS = ['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'synchronous_mode', 'pause', 'check_timeline', 'postgresql', 'standby_cluster', 'failsafe_mode'];

function randomObjectOf(r: Rng, fields: readonly string[], sane: Record<string, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = { ...sane };
  for (const f of fields) if (r.chance(0.4)) o[f] = randomValue(r);
  return o;
}

/** A key value: well-formed JSON of the key's shape with random field types, random JSON, or not JSON at all. */
function randomKeyValue(r: Rng, shape: () => Record<string, unknown>): string {
  switch (r.int(0, 4)) {
    case 0:
    case 1:
      return JSON.stringify(shape());
    case 2:
      return JSON.stringify(randomValue(r));
    case 3:
      return r.pick(['', '{', 'not json', '[[', 'null', '\u0000', 'postgres://h:1/x?application_name=http://h:2/patroni', 'a:b']);
    default: {
      const text = JSON.stringify(shape());
      return text.slice(0, r.int(0, text.length));
    }
  }
}

function randomView(r: Rng): { view: ClusterView; names: string[] } {
  const names = ['n1', 'n2', 'n3'].filter(() => r.chance(0.8));
  const kvs: KeyValue[] = [];
  for (const [i, name] of names.entries()) {
    kvs.push(
      kv(
        keys.member(name),
        randomKeyValue(r, () =>
          randomObjectOf(r, MEMBER_FIELDS, { conn_url: `postgres://127.0.0.1:${5432 + i}/postgres`, api_url: `http://127.0.0.1:${8008 + i}/patroni`, state: 'running', role: i === 0 ? 'master' : 'replica', xlog_location: 1000 }),
        ),
      ),
    );
  }
  if (r.chance(0.8)) kvs.push(kv(keys.leader, r.pick([...names, 'nobody', '', ' ', '{}'])));
  if (r.chance(0.7)) kvs.push(kv(keys.config, randomKeyValue(r, () => randomObjectOf(r, CONFIG_FIELDS, { ttl: 30, loop_wait: 10, retry_timeout: 10 }))));
  if (r.chance(0.5)) kvs.push(kv(keys.history, randomKeyValue(r, () => ({ lines: randomValue(r) }))));
  if (r.chance(0.5)) kvs.push(kv(keys.history, JSON.stringify(Array.from({ length: r.int(0, 3) }, () => randomValue(r)))));
  if (r.chance(0.5)) kvs.push(kv(keys.failover, randomKeyValue(r, () => randomObjectOf(r, ['leader', 'member', 'scheduled_at'], { leader: 'n1', member: 'n2' }))));
  if (r.chance(0.5)) kvs.push(kv(keys.sync, randomKeyValue(r, () => randomObjectOf(r, ['leader', 'sync_standby', 'quorum'], { leader: 'n1', sync_standby: 'n2' }))));
  if (r.chance(0.5)) kvs.push(kv(keys.status, randomKeyValue(r, () => randomObjectOf(r, ['optime', 'slots', 'retain_slots'], { optime: 1000 }))));
  if (r.chance(0.3)) kvs.push(kv(keys.optimeLeader, String(randomScalar(r))));
  if (r.chance(0.5)) kvs.push(kv(keys.initialize, String(randomScalar(r))));
  return { view: parseClusterView(keys, rev + 1, kvs), names };
}

function randomHealth(r: Rng, names: string[]): Map<string, MemberHealth> {
  const health = new Map<string, MemberHealth>();
  for (const name of names) {
    health.set(name, r.pick([() => aPrimaryAgent(), () => aReplicaAgent(), () => aDownAgent(), () => aReplicaAgent({ tags: randomValue(r) as Record<string, unknown> })])());
  }
  return health;
}

describe('seeded random garbage views through every consumer of a view', () => {
  const ROUNDS = 3000;
  const routing = aRoutingConfig([aListener('write', 'primary'), aListener('read', 'replica', { maxLagBytes: 1000 }), aListener('any', 'any')]);

  test(`${ROUNDS} views: parse, timeline, decide, routing, /cluster, ctl list and history never throw`, () => {
    const r = new Rng(20261129);
    for (let i = 0; i < ROUNDS; i++) {
      const { view: v, names } = randomView(r);
      const at = (what: string, fn: () => unknown): unknown => {
        try {
          return fn();
        } catch (err) {
          assert.fail(`round ${i}, ${what}: ${String((err as Error).stack ?? err)}\nview: ${JSON.stringify({ ...v, members: [...v.members.values()] })}`);
        }
      };
      const tl = at('clusterTimeline', () => clusterTimeline(v)) as number;
      assert.ok(Number.isInteger(tl) && tl >= 0, `round ${i}: timeline ${tl}`);
      at('decide as a replica', () => decide(anObservation({ view: v, postgres: runningReplica() }), {}));
      at('decide as a primary holding the lock', () => decide(anObservation({ name: 'n1', view: v, postgres: runningPrimary(), lockValidForMs: 10_000 }), {}));
      at('decide with postgres stopped', () => decide(anObservation({ name: 'n2', view: v, postgres: stoppedNode() }), {}));
      const table = at('deriveRoutingTable', () => deriveRoutingTable(anInput(v, { health: randomHealth(r, names) }), routing)) as ReturnType<typeof deriveRoutingTable>;
      for (const b of table.pools.write!.backends) assert.ok(v.members.has(b.member) && b.host && b.port, `round ${i}: write backend ${JSON.stringify(b)}`);
      at('clusterDocument', () => JSON.stringify(clusterDocument(v, 'garbage')));
      for (const format of ['pretty', 'json', 'tsv', 'topology'] as const) at(`ctl list -f ${format}`, () => renderList(v, 'garbage', { format, extended: true }));
      for (const format of ['pretty', 'json', 'tsv', 'yaml'] as const) at(`ctl history -f ${format}`, () => renderHistory(v.history, format));
    }
  });

  test('an agent REST answer that is garbage is either read field by field or refused with a reason (the member counts as down)', () => {
    const r = new Rng(7);
    for (let i = 0; i < 2000; i++) {
      const doc = r.chance(0.5) ? randomValue(r) : randomObjectOf(r, [...MEMBER_FIELDS, 'xlog', 'patroni', 'dcs_last_seen'], {});
      try {
        const st = parsePatroniStatus(doc);
        for (const k of ['role', 'state', 'replicationState'] as const) assert.ok(st[k] === undefined || typeof st[k] === 'string', `${k}: ${JSON.stringify(doc)}`);
        for (const k of ['timeline', 'location', 'receivedLocation', 'replayedLocation'] as const) assert.ok(st[k] === undefined || Number.isFinite(st[k]), `${k}: ${JSON.stringify(doc)}`);
      } catch (err) {
        assert.match((err as Error).message, /^answer (is not a JSON object|has neither state nor role)$/, JSON.stringify(doc));
      }
    }
  });
});
