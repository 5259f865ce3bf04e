import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import type { AgentStatus } from '../../../src/agent/status';
import { AgentMetrics, paddedVersion, PATRONI_METRICS, pythonTimestampSeconds } from '../../../src/metrics/agent-metrics';
import { aPrimaryStatus, aReplicaStatus, NOW } from '../../support/builders';

function metricsFor(status: AgentStatus | undefined, nowMs = NOW): AgentMetrics {
  return new AgentMetrics({ scope: 'pgcluster', name: status?.name ?? 'node1', version: '0.1.0', status: () => status, now: () => nowMs });
}

/** The value of `name{labels}` in the exposition text (labels as printed, or none). */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const L1 = '{scope="pgcluster",name="node1"}';
const L2 = '{scope="pgcluster",name="node2"}';

describe('patroni_* metrics (Patroni 3.x names, computed at scrape time)', () => {
  test('every 3.x metric is present with HELP, TYPE and {scope, name} labels', async () => {
    const text = await metricsFor(aPrimaryStatus()).render();
    for (const spec of PATRONI_METRICS) {
      assert.ok(text.includes(`# HELP ${spec.name} `), `HELP ${spec.name}`);
      assert.ok(text.includes(`# TYPE ${spec.name} ${spec.type}\n`), `TYPE ${spec.name}`);
      assert.notEqual(valueOf(text, `${spec.name}${L1}`), undefined, `value of ${spec.name}`);
    }
    assert.equal(PATRONI_METRICS.length, 22);
    assert.ok(text.endsWith('\n'));
  });

  test('a primary', async () => {
    const text = await metricsFor(aPrimaryStatus()).render();
    const expected: Record<string, number> = {
      patroni_version: 30002, patroni_postgres_running: 1, patroni_master: 1, patroni_primary: 1,
      patroni_xlog_location: 67_419_744, patroni_replica: 0, patroni_standby_leader: 0, patroni_xlog_received_location: 0,
      patroni_postgres_server_version: 160004, patroni_cluster_unlocked: 0, patroni_postgres_timeline: 3,
      patroni_dcs_last_seen: 1_724_874_295, patroni_is_paused: 0, patroni_postgres_streaming: 0,
      patroni_postmaster_start_time: 1_724_873_966.352526,
    };
    for (const [name, value] of Object.entries(expected)) assert.equal(valueOf(text, `${name}${L1}`), value, name);
  });

  test('a paused, lagging sync replica that needs a restart', async () => {
    const status = aReplicaStatus({
      pause: true, dynamic: { synchronousMode: true },
      probe: { receiveLsn: 900, replayLsn: 800, replayPaused: true, replayedTimestamp: '2024-08-28 19:41:00+00:00', pendingRestart: true },
    });
    const view = { ...status.view!, sync: { leader: 'node1', syncStandby: ['node2'], modRevision: 1 } };
    const text = await metricsFor({ ...status, view }).render();
    const expected: Record<string, number> = {
      patroni_master: 0, patroni_replica: 1, patroni_sync_standby: 1, patroni_xlog_location: 0,
      patroni_xlog_received_location: 900, patroni_xlog_replayed_location: 800, patroni_xlog_paused: 1,
      patroni_xlog_replayed_timestamp: 1_724_874_060, patroni_postgres_streaming: 1, patroni_postgres_in_archive_recovery: 0,
      patroni_pending_restart: 1, patroni_is_paused: 1,
    };
    for (const [name, value] of Object.entries(expected)) assert.equal(valueOf(text, `${name}${L2}`), value, name);
  });

  test('before the first status: no patroni series, but HELP/TYPE and the pgha metrics are there', async () => {
    const text = await metricsFor(undefined).render();
    assert.equal(valueOf(text, `patroni_primary${L1}`), undefined);
    assert.ok(text.includes('# TYPE patroni_primary gauge'));
    assert.equal(valueOf(text, 'pgha_agent_ha_cycles_total'), 0);
  });

  test('the status is re-read at every scrape (bindStatus)', async () => {
    let status: AgentStatus = aReplicaStatus({ name: 'node1' });
    const metrics = new AgentMetrics({ scope: 'pgcluster', name: 'node1', version: '0.1.0', now: () => NOW });
    metrics.bindStatus(() => status);
    assert.equal(valueOf(await metrics.render(), `patroni_primary${L1}`), 0);
    status = aPrimaryStatus();
    assert.equal(valueOf(await metrics.render(), `patroni_primary${L1}`), 1);
  });

  test('paddedVersion and Python timestamps', () => {
    assert.equal(paddedVersion('3.0.2'), 30002);
    assert.equal(paddedVersion('4.1.4'), 40104);
    assert.equal(paddedVersion('10.12.3'), 101203);
    assert.equal(pythonTimestampSeconds('1970-01-01 00:00:01.5+00:00'), 1.5);
    assert.equal(pythonTimestampSeconds('1970-01-01 02:00:00+02:00'), 0);
    assert.equal(pythonTimestampSeconds('1970-01-01T00:00:00Z'), 0);
    assert.equal(pythonTimestampSeconds('yesterday'), undefined);
    assert.equal(pythonTimestampSeconds(null), undefined);
  });
});

describe('pgha_agent_* metrics', () => {
  test('counters, labelled actions, keepalive histogram and build info', async () => {
    const m = metricsFor(aPrimaryStatus());
    m.countCycle();
    m.countCycle();
    m.countAction('promote');
    m.countAction('acquire_leader');
    m.countAction('promote');
    m.countLeaderChange();
    m.observeKeepalive(0.004, true);
    m.observeKeepalive(1.2, false);
    m.countDcsError('keepAlive');
    const text = await m.render();
    assert.equal(valueOf(text, 'pgha_agent_ha_cycles_total'), 2);
    assert.equal(valueOf(text, 'pgha_agent_actions_total{action="promote"}'), 2);
    assert.equal(valueOf(text, 'pgha_agent_actions_total{action="acquire_leader"}'), 1);
    assert.equal(valueOf(text, 'pgha_agent_leader_changes_total'), 1);
    assert.equal(valueOf(text, 'pgha_agent_lease_keepalive_seconds_count'), 2);
    assert.equal(valueOf(text, 'pgha_agent_lease_keepalive_seconds_bucket{le="0.005"}'), 1);
    assert.equal(valueOf(text, 'pgha_agent_lease_keepalive_failures_total'), 1);
    assert.equal(valueOf(text, 'pgha_agent_dcs_errors_total{operation="keepAlive"}'), 1);
    assert.equal(valueOf(text, 'pgha_agent_build_info{version="0.1.0"}'), 1);
  });

  test('leader gauges come from the agent\'s own lock validity at scrape time', async () => {
    const leader = await metricsFor(aPrimaryStatus({ leaderValidUntilMs: NOW + 7_500 })).render();
    assert.equal(valueOf(leader, 'pgha_agent_is_leader'), 1);
    assert.equal(valueOf(leader, 'pgha_agent_leader_lock_remaining_seconds'), 7.5);
    const expired = await metricsFor(aPrimaryStatus({ leaderValidUntilMs: NOW - 1 })).render();
    assert.equal(valueOf(expired, 'pgha_agent_is_leader'), 0);
    assert.equal(valueOf(expired, 'pgha_agent_leader_lock_remaining_seconds'), 0);
  });

  test('setLeader covers scrapes without a bound status', async () => {
    const m = metricsFor(undefined);
    m.setLeader(true, 4.25);
    const text = await m.render();
    assert.equal(valueOf(text, 'pgha_agent_is_leader'), 1);
    assert.equal(valueOf(text, 'pgha_agent_leader_lock_remaining_seconds'), 4.25);
  });

  test('DCS operation labels are bounded', async () => {
    const m = metricsFor(undefined);
    for (let i = 0; i < 100; i++) m.countDcsError(`op_${i}`);
    m.countDcsError('not a name!');
    const text = await m.render();
    const series = text.split('\n').filter((l) => l.startsWith('pgha_agent_dcs_errors_total{'));
    assert.equal(series.length, 33); // 32 distinct names + "other"
    assert.equal(valueOf(text, 'pgha_agent_dcs_errors_total{operation="other"}'), 69);
  });

  test('an explicit registry: nothing lands in prom-client\'s global one, and instances coexist', async () => {
    const a = metricsFor(aPrimaryStatus());
    const b = metricsFor(aReplicaStatus());
    a.countCycle();
    assert.equal(valueOf(await b.render(), 'pgha_agent_ha_cycles_total'), 0);
    assert.equal(globalRegistry.getSingleMetric('pgha_agent_ha_cycles_total'), undefined);
    assert.equal(globalRegistry.getSingleMetric('patroni_primary'), undefined);
    assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
  });
});
