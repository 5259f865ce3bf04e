import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DYNAMIC_DEFAULTS, parseDynamicConfig, tryParseDynamicConfig, validateTiming } from '../../../src/config/dynamic';
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

test('timing rule: loop_wait + 2*retry_timeout > ttl is refused with the exact numbers and the fix', () => {
  assertConfigError(
    () => parseDynamicConfig({ ttl: 20, loop_wait: 10, retry_timeout: 10 }),
    'bootstrap.dcs',
    ['bootstrap.dcs: loop_wait (10) + 2*retry_timeout (10) = 30 must be <= ttl (20)', 'raise ttl to at least 30', 'instead of adjusting them as Patroni 3.2+ does'],
  );
});

test('short ttls are accepted: ttl 5, loop_wait 1, retry_timeout 2 (Patroni\'s ttl >= 20 minimum is not applied)', () => {
  const c = parseDynamicConfig({ ttl: 5, loop_wait: 1, retry_timeout: 2 });
  assert.deepEqual([c.ttlSeconds, c.loopWaitSeconds, c.retryTimeoutSeconds], [5, 1, 2]);
  const edge = parseDynamicConfig({ ttl: 3, loop_wait: 1, retry_timeout: 1 });
  assert.equal(edge.ttlSeconds, 3);
  assertConfigError(() => parseDynamicConfig({ ttl: 4, loop_wait: 1, retry_timeout: 2 }), 'bootstrap.dcs', ['= 5 must be <= ttl (4)']);
});

test('minimums: ttl >= 3, loop_wait >= 1, retry_timeout >= 1', () => {
  assertConfigError(() => parseDynamicConfig({ ttl: 2, loop_wait: 1, retry_timeout: 1 }), 'bootstrap.dcs.ttl', ['got 2, which is below the minimum of 3 seconds', 'set it to 3 or more']);
  assertConfigError(() => parseDynamicConfig({ loop_wait: 0 }), 'bootstrap.dcs.loop_wait', ['below the minimum of 1 seconds']);
  assertConfigError(() => parseDynamicConfig({ retry_timeout: 0 }), 'bootstrap.dcs.retry_timeout', ['below the minimum of 1 seconds']);
  assertConfigError(() => parseDynamicConfig({ synchronous_node_count: 0 }), 'bootstrap.dcs.synchronous_node_count', ['below the minimum of 1']);
  assertConfigError(() => parseDynamicConfig({ maximum_lag_on_failover: -5 }), 'bootstrap.dcs.maximum_lag_on_failover', ['below the minimum of 0 bytes']);
});

test('validateTiming alone, with a caller-chosen field', () => {
  const c = parseDynamicConfig({});
  assert.doesNotThrow(() => validateTiming(c));
  assertConfigError(() => validateTiming({ ...c, ttlSeconds: 29 }, 'config'), 'config', ['config: loop_wait (10) + 2*retry_timeout (10) = 30 must be <= ttl (29)']);
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

  const bad = tryParseDynamicConfig({ ttl: 10 });
  assert.ok(!bad.ok);
  assert.ok(bad.error instanceof ConfigError);
  assert.equal(bad.error.message, 'config: loop_wait (10) + 2*retry_timeout (10) = 30 must be <= ttl (10) (raise ttl to at least 30, or lower loop_wait or retry_timeout; pgha refuses such values instead of adjusting them as Patroni 3.2+ does)');
  const notJson = tryParseDynamicConfig('{ttl: 30');
  assert.ok(!notJson.ok && notJson.error.message.startsWith('config: is not valid JSON'));
  const notMap = tryParseDynamicConfig('[1]');
  assert.ok(!notMap.ok && notMap.error.message.includes('got a list, expected a map of settings'));
});
