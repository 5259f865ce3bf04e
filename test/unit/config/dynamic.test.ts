import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DYNAMIC_DEFAULTS, adjustTiming, parseDynamicConfig, parseDynamicConfigLenient, tryParseDynamicConfig } from '../../../src/config/dynamic';
import { ConfigError } from '../../../src/lib/errors';
import { assertConfigError } from './helpers';

test('an empty or absent map gets Patroni\'s defaults', () => {
  for (const raw of [undefined, {}]) {
    const c = parseDynamicConfig(raw);
    assert.equal(c.ttlSeconds, 30);
    assert.equal(c.loopWaitSeconds, 10);
    assert.equal(c.retryTimeoutSeconds, 10);
    assert.equal(c.maximumLagOnFailoverBytes, 1048576);
    assert.equal(c.maximumLagOnSyncnodeBytes, -1);
    assert.equal(c.primaryStartTimeoutSeconds, 300);
    assert.equal(c.primaryStopTimeoutSeconds, 0);
    assert.equal(c.checkTimeline, false);
    assert.equal(c.pause, false);
    assert.equal(c.synchronousMode, false);
    assert.equal(c.synchronousModeStrict, false);
    assert.equal(c.synchronousNodeCount, 1);
    assert.equal(c.failsafeMode, false);
    assert.equal(c.maxTimelinesHistory, 0);
    assert.deepEqual(c.postgresql, { useSlots: true, usePgRewind: false, parameters: {} });
  }
  assert.equal(DYNAMIC_DEFAULTS.ttl, 30);
});

test('values are read, including Patroni spellings: master_start_timeout, "on"/"off", digit strings', () => {
  const c = parseDynamicConfig({
    ttl: '40', loop_wait: 5, retry_timeout: 7, maximum_lag_on_failover: 0, master_start_timeout: 60, check_timeline: 'on',
    synchronous_mode: 'on', synchronous_mode_strict: false, synchronous_node_count: 2, pause: true,
    postgresql: { use_slots: false, use_pg_rewind: 'yes', parameters: { wal_level: 'logical', max_connections: 200, hot_standby: true, x: null }, pg_hba: ['local all all trust'] },
  });
  assert.equal(c.ttlSeconds, 40);
  assert.equal(c.loopWaitSeconds, 5);
  assert.equal(c.retryTimeoutSeconds, 7);
  assert.equal(c.maximumLagOnFailoverBytes, 0);
  assert.equal(c.primaryStartTimeoutSeconds, 60);
  assert.equal(c.checkTimeline, true);
  assert.equal(c.synchronousMode, true);
  assert.equal(c.synchronousNodeCount, 2);
  assert.equal(c.pause, true);
  assert.deepEqual(c.postgresql, {
    useSlots: false, usePgRewind: true, parameters: { wal_level: 'logical', max_connections: 200, hot_standby: true }, pgHba: ['local all all trust'],
  });
  assert.equal(parseDynamicConfig({ primary_start_timeout: 10, master_start_timeout: 60 }).primaryStartTimeoutSeconds, 10);
});

test('the raw map is kept for writing back and for keys pgha does not model', () => {
  const raw = { ttl: 30, slots: { s1: { type: 'physical' } } };
  const c = parseDynamicConfig(raw);
  assert.deepEqual(c.raw, raw);
  assert.notEqual(c.raw, raw);
});

test('timing rule: loop_wait + 2*retry_timeout > ttl is accepted and lowered as Patroni 3.2 does, with a warning', () => {
  // The issue: PATCH /config with ttl 20, loop_wait 2, retry_timeout 10 got 400; Patroni 3.0.2 accepts it.
  const warnings: string[] = [];
  const c = parseDynamicConfig({ ttl: 20, loop_wait: 2, retry_timeout: 10 }, 'bootstrap.dcs', warnings);
  assert.deepEqual([c.ttlSeconds, c.loopWaitSeconds, c.retryTimeoutSeconds], [20, 1, 9]);
  assert.deepEqual(warnings, ['bootstrap.dcs: loop_wait (2) + 2*retry_timeout (10) = 22 is more than ttl (20): using loop_wait 1 and retry_timeout 9 (adjusted as Patroni 3.2+ does)']);
  assert.deepEqual(c.raw, { ttl: 20, loop_wait: 2, retry_timeout: 10 }, 'the map as written is kept for writing back');
});

test('adjustTiming lowers loop_wait first, then retry_timeout, never ttl; a rule that holds is left alone', () => {
  assert.deepEqual(adjustTiming({ ttl: 30, loopWait: 10, retry: 10 }), { ttl: 30, loopWait: 10, retry: 10 });
  assert.deepEqual(omitWarning(adjustTiming({ ttl: 25, loopWait: 10, retry: 10 })), { ttl: 25, loopWait: 5, retry: 10 });
  assert.deepEqual(omitWarning(adjustTiming({ ttl: 10, loopWait: 10, retry: 10 })), { ttl: 10, loopWait: 1, retry: 4 });
  assert.deepEqual(omitWarning(adjustTiming({ ttl: 3, loopWait: 1, retry: 5 })), { ttl: 3, loopWait: 1, retry: 1 });
  for (const ttl of [3, 4, 5, 10, 19, 20, 31]) {
    for (const loopWait of [1, 2, 10, 40]) {
      for (const retry of [1, 3, 10, 30]) {
        const t = adjustTiming({ ttl, loopWait, retry });
        assert.ok(t.loopWait + 2 * t.retry <= ttl && t.loopWait >= 1 && t.retry >= 1, `${ttl}/${loopWait}/${retry} → ${JSON.stringify(t)}`);
      }
    }
  }
});

test('short ttls are accepted: ttl 5, loop_wait 1, retry_timeout 2 (Patroni\'s ttl >= 20 minimum is not applied)', () => {
  const c = parseDynamicConfig({ ttl: 5, loop_wait: 1, retry_timeout: 2 });
  assert.deepEqual([c.ttlSeconds, c.loopWaitSeconds, c.retryTimeoutSeconds], [5, 1, 2]);
  const edge = parseDynamicConfig({ ttl: 3, loop_wait: 1, retry_timeout: 1 });
  assert.equal(edge.ttlSeconds, 3);
});

test('minimums written by an operator are refused: ttl >= 3, loop_wait >= 1, retry_timeout >= 1', () => {
  assertConfigError(() => parseDynamicConfig({ ttl: 2, loop_wait: 1, retry_timeout: 1 }), 'bootstrap.dcs.ttl', ['got 2, which is below the minimum of 3 seconds', 'set it to 3 or more']);
  assertConfigError(() => parseDynamicConfig({ loop_wait: 0 }), 'bootstrap.dcs.loop_wait', ['below the minimum of 1 seconds']);
  assertConfigError(() => parseDynamicConfig({ retry_timeout: 0 }), 'bootstrap.dcs.retry_timeout', ['below the minimum of 1 seconds']);
  assertConfigError(() => parseDynamicConfig({ synchronous_node_count: 0 }), 'bootstrap.dcs.synchronous_node_count', ['below the minimum of 1']);
  assertConfigError(() => parseDynamicConfig({ maximum_lag_on_failover: -5 }), 'bootstrap.dcs.maximum_lag_on_failover', ['below the minimum of 0 bytes']);
});

test('timing values below the minimums found in etcd at run time are raised to them with a warning', () => {
  const last = parseDynamicConfig({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
  const r = parseDynamicConfigLenient({ ttl: 2, loop_wait: 0, retry_timeout: 0 }, last);
  assert.ok(r.ok);
  assert.deepEqual([r.config.ttlSeconds, r.config.loopWaitSeconds, r.config.retryTimeoutSeconds], [3, 1, 1]);
  assert.deepEqual(r.warnings, [
    'config.ttl: 2 is below the minimum of 3 seconds; using 3',
    'config.loop_wait: 0 is below the minimum of 1 seconds; using 1',
    'config.retry_timeout: 0 is below the minimum of 1 seconds; using 1',
  ]);
});

test('the config key at run time applies field by field: a bad field keeps its last good value, the others apply', () => {
  // The issue: after `edit-config -s ttl=10` pgha ignored the whole key, so a later max_connections never applied.
  const last = parseDynamicConfig({ ttl: 30, loop_wait: 10, retry_timeout: 10, pause: false, postgresql: { parameters: { max_connections: 100, work_mem: '4MB' } } });
  const r = parseDynamicConfigLenient(
    { ttl: 'often', loop_wait: 2, pause: 'maybe', loop_wiat: 3, synchronous_mode: 'quorum', postgresql: { parameters: { max_connections: 150, work_mem: ['8MB'] } } },
    last,
  );
  assert.ok(r.ok);
  assert.equal(r.config.ttlSeconds, 30, 'ttl keeps its last good value');
  assert.equal(r.config.loopWaitSeconds, 2, 'loop_wait applies');
  assert.equal(r.config.pause, false);
  assert.equal(r.config.synchronousMode, false);
  assert.deepEqual(r.config.postgresql.parameters, { max_connections: 150, work_mem: '4MB' });
  assert.deepEqual(r.warnings, [
    'config.loop_wiat: is not a known setting (did you mean config.loop_wait?); it is ignored',
    'config.ttl: got "often", expected a whole number of seconds (write e.g. ttl: 30); config.ttl keeps 30',
    'config.pause: got "maybe", expected true or false (write pause: true or pause: false); config.pause keeps false',
    'config.synchronous_mode: got "quorum", which pgha does not support (use synchronous_mode: on or off); config.synchronous_mode keeps false',
    'config.postgresql.parameters.work_mem: got a list, expected a string, number or boolean (write it as work_mem: "value"); config.postgresql.parameters.work_mem keeps "4MB"',
  ]);
  // ttl=10 as written by patronictl edit-config -s ttl=10: accepted, loop_wait and retry_timeout lowered to fit.
  const ten = parseDynamicConfigLenient('{"ttl":10}', last);
  assert.ok(ten.ok);
  assert.deepEqual([ten.config.ttlSeconds, ten.config.loopWaitSeconds, ten.config.retryTimeoutSeconds], [10, 1, 4]);
  const notJson = parseDynamicConfigLenient('{ttl', last);
  assert.ok(!notJson.ok && notJson.error.message.startsWith('config: is not valid JSON'));
});

test('wrong types, typos and unsupported modes are refused', () => {
  assertConfigError(() => parseDynamicConfig({ ttl: '30s' }), 'bootstrap.dcs.ttl', ['got "30s"', 'a whole number of seconds']);
  assertConfigError(() => parseDynamicConfig({ ttl: 7.5 }), 'bootstrap.dcs.ttl', ['got 7.5 (a number)']);
  assertConfigError(() => parseDynamicConfig({ loop_wiat: 5 }), 'bootstrap.dcs.loop_wiat', ['did you mean bootstrap.dcs.loop_wait?']);
  assertConfigError(() => parseDynamicConfig({ postgresql: { use_slot: true } }), 'bootstrap.dcs.postgresql.use_slot', ['did you mean bootstrap.dcs.postgresql.use_slots?']);
  assertConfigError(() => parseDynamicConfig({ synchronous_mode: 'quorum' }), 'bootstrap.dcs.synchronous_mode', ['"quorum"', 'use synchronous_mode: on or off']);
  assertConfigError(() => parseDynamicConfig({ standby_cluster: { host: 'x' } }), 'bootstrap.dcs.standby_cluster', ['does not run standby clusters']);
  assertConfigError(() => parseDynamicConfig({ pause: 'maybe' }), 'bootstrap.dcs.pause', ['got "maybe"', 'true or false']);
});

test('tryParseDynamicConfig (the config key at run time) returns errors instead of throwing', () => {
  const good = tryParseDynamicConfig('{"ttl":5,"loop_wait":1,"retry_timeout":2}');
  assert.ok(good.ok);
  assert.equal(good.config.ttlSeconds, 5);
  const fromMap = tryParseDynamicConfig({ ttl: 30 });
  assert.ok(fromMap.ok);
  const empty = tryParseDynamicConfig('');
  assert.ok(empty.ok && empty.config.ttlSeconds === 30);

  const adjusted = tryParseDynamicConfig({ ttl: 10 });
  assert.ok(adjusted.ok && adjusted.config.retryTimeoutSeconds === 4 && adjusted.warnings.length === 1);
  const bad = tryParseDynamicConfig({ ttl: 'soon' });
  assert.ok(!bad.ok);
  assert.ok(bad.error instanceof ConfigError);
  const notJson = tryParseDynamicConfig('{ttl: 30');
  assert.ok(!notJson.ok && notJson.error.message.startsWith('config: is not valid JSON'));
  const notMap = tryParseDynamicConfig('[1]');
  assert.ok(!notMap.ok && notMap.error.message.includes('got a list, expected a map of settings'));
});

function omitWarning<T extends { warning?: string }>(t: T): Omit<T, 'warning'> {
  const { warning, ...rest } = t;
  assert.ok(warning);
  return rest;
}
