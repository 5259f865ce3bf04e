import { ConfigError } from '../lib/errors';
import { DYNAMIC_ONLY_KEYS, NESTED_TYPO_EDITS, closestKey } from './known-keys';
import type { DynamicConfig } from './types';
import {
  type YamlMap,
  isMap,
  join,
  optionalBool,
  optionalMap,
  optionalStringList,
  optionalWholeNumber,
  parseBool,
  wrongValue,
} from './values';

/** Patroni's defaults for the dynamic configuration (reference §4.1, patroni/config.py __DEFAULT_CONFIG). */
export const DYNAMIC_DEFAULTS = {
  ttl: 30,
  loop_wait: 10,
  retry_timeout: 10,
  maximum_lag_on_failover: 1048576,
  maximum_lag_on_syncnode: -1,
  primary_start_timeout: 300,
  primary_stop_timeout: 0,
  check_timeline: false,
  synchronous_mode: false,
  synchronous_mode_strict: false,
  synchronous_node_count: 1,
  failsafe_mode: false,
  max_timelines_history: 0,
  pause: false,
  use_slots: true,
  use_pg_rewind: false,
} as const;

/**
 * Smallest accepted timing values, in seconds. Patroni 3.2+ raises ttl to 20 and retry_timeout to 3; pgha
 * supports short ttls (failover bounded by ttl), so it only requires what the timing rule itself implies:
 * loop_wait >= 1 and retry_timeout >= 1 make ttl >= 1 + 2*1 = 3. That is also above etcd's minimum lease TTL
 * (about 2 s with the default 1 s election timeout; etcd silently raises shorter leases).
 */
export const TIMING_MINIMUMS = { ttl: 3, loop_wait: 1, retry_timeout: 1 } as const;

/** Keys read from `<dynamic>.postgresql`; others (recovery_conf, pg_ident...) are kept in `raw` only. */
const DYNAMIC_POSTGRESQL_KEYS = ['use_slots', 'use_pg_rewind', 'parameters', 'pg_hba', 'pg_ident', 'recovery_conf',
  'remove_data_directory_on_rewind_failure', 'remove_data_directory_on_diverged_timelines', 'bin_dir', 'bin_name',
  'basebackup', 'create_replica_methods', 'callbacks', 'pg_ctl_timeout', 'use_unix_socket', 'use_unix_socket_repl'];

export type DynamicConfigResult = { ok: true; config: DynamicConfig } | { ok: false; error: ConfigError };

/**
 * Parses a dynamic configuration map (bootstrap.dcs, or the `config` key) with Patroni's defaults, and validates
 * it: wrong types, values below the minimums and a broken timing rule are errors. `field` prefixes every message.
 */
export function parseDynamicConfig(raw: Record<string, unknown> | undefined, field = 'bootstrap.dcs'): DynamicConfig {
  const map = raw ?? {};
  checkDynamicKeys(map, field);
  refuseUnsupported(map, field);
  const seconds = (key: string, fallback: number, min: number): number => {
    const value = optionalWholeNumber(map, key, field, 'seconds') ?? fallback;
    if (value < min) throw belowMinimum(join(field, key), value, min, 'seconds');
    return value;
  };
  const remapped = (key: string, legacy: string): string => (map[key] === undefined || map[key] === null) && map[legacy] !== undefined ? legacy : key;

  const config: DynamicConfig = {
    ttlSeconds: seconds('ttl', DYNAMIC_DEFAULTS.ttl, TIMING_MINIMUMS.ttl),
    loopWaitSeconds: seconds('loop_wait', DYNAMIC_DEFAULTS.loop_wait, TIMING_MINIMUMS.loop_wait),
    retryTimeoutSeconds: seconds('retry_timeout', DYNAMIC_DEFAULTS.retry_timeout, TIMING_MINIMUMS.retry_timeout),
    maximumLagOnFailoverBytes: bytes(map, 'maximum_lag_on_failover', field, DYNAMIC_DEFAULTS.maximum_lag_on_failover, 0),
    maximumLagOnSyncnodeBytes: bytes(map, 'maximum_lag_on_syncnode', field, DYNAMIC_DEFAULTS.maximum_lag_on_syncnode, -1),
    primaryStartTimeoutSeconds: seconds(remapped('primary_start_timeout', 'master_start_timeout'), DYNAMIC_DEFAULTS.primary_start_timeout, 0),
    primaryStopTimeoutSeconds: seconds(remapped('primary_stop_timeout', 'master_stop_timeout'), DYNAMIC_DEFAULTS.primary_stop_timeout, 0),
    checkTimeline: optionalBool(map, 'check_timeline', field) ?? DYNAMIC_DEFAULTS.check_timeline,
    pause: optionalBool(map, 'pause', field) ?? DYNAMIC_DEFAULTS.pause,
    synchronousMode: synchronousMode(map, field),
    synchronousModeStrict: optionalBool(map, 'synchronous_mode_strict', field) ?? DYNAMIC_DEFAULTS.synchronous_mode_strict,
    synchronousNodeCount: count(map, 'synchronous_node_count', field, DYNAMIC_DEFAULTS.synchronous_node_count, 1),
    failsafeMode: optionalBool(map, 'failsafe_mode', field) ?? DYNAMIC_DEFAULTS.failsafe_mode,
    maxTimelinesHistory: count(map, 'max_timelines_history', field, DYNAMIC_DEFAULTS.max_timelines_history, 0),
    raw: structuredClone(map),
    postgresql: dynamicPostgresql(map.postgresql, join(field, 'postgresql')),
  };
  validateTiming(config, field);
  return config;
}

/**
 * The rule Patroni documents (reference §4.1): `loop_wait + 2*retry_timeout <= ttl`, so a leader can miss one
 * loop and two full DCS retries before its lock expires. Patroni 3.2+ lowers the values itself; pgha refuses.
 */
export function validateTiming(dynamic: DynamicConfig, field = 'bootstrap.dcs'): void {
  const { ttlSeconds: ttl, loopWaitSeconds: loopWait, retryTimeoutSeconds: retry } = dynamic;
  const needed = loopWait + 2 * retry;
  if (needed > ttl) {
    throw new ConfigError(
      field,
      `loop_wait (${loopWait}) + 2*retry_timeout (${retry}) = ${needed} must be <= ttl (${ttl})`,
      `raise ttl to at least ${needed}, or lower loop_wait or retry_timeout; pgha refuses such values instead of adjusting them as Patroni 3.2+ does`,
    );
  }
}

/**
 * For the `config` key read at run time: never throws. On an error the caller reports it and keeps the last good
 * configuration. Accepts the map or its JSON text.
 */
export function tryParseDynamicConfig(raw: unknown, field = 'config'): DynamicConfigResult {
  try {
    let value = raw;
    if (typeof raw === 'string') {
      try {
        value = raw.trim() === '' ? {} : (JSON.parse(raw) as unknown);
      } catch (err) {
        return { ok: false, error: new ConfigError(field, `is not valid JSON: ${(err as Error).message}`, 'fix it with pgha ctl edit-config (or patronictl edit-config)') };
      }
    }
    if (value !== null && value !== undefined && !isMap(value)) {
      throw wrongValue(field, value, 'a map of settings', 'fix it with pgha ctl edit-config (or patronictl edit-config)');
    }
    return { ok: true, config: parseDynamicConfig(value ?? undefined, field) };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, error: err };
    throw err;
  }
}

function checkDynamicKeys(map: YamlMap, field: string): void {
  const known: readonly string[] = [...DYNAMIC_ONLY_KEYS, 'postgresql'];
  for (const key of Object.keys(map)) {
    if (known.includes(key)) continue;
    const suggestion = closestKey(key, known, NESTED_TYPO_EDITS);
    if (suggestion) throw new ConfigError(join(field, key), 'is not a known setting', `did you mean ${join(field, suggestion)}?`);
  }
}

function refuseUnsupported(map: YamlMap, field: string): void {
  const standby = map.standby_cluster;
  if (standby !== null && standby !== undefined && !(isMap(standby) && Object.keys(standby).length === 0)) {
    throw new ConfigError(
      join(field, 'standby_cluster'),
      'is set, but pgha does not run standby clusters (a cluster replicating from another cluster)',
      'remove standby_cluster, or keep running this cluster with Patroni',
    );
  }
}

function synchronousMode(map: YamlMap, field: string): boolean {
  const value = map.synchronous_mode;
  if (value === null || value === undefined) return DYNAMIC_DEFAULTS.synchronous_mode;
  if (typeof value === 'string' && value.trim().toLowerCase() === 'quorum') {
    throw new ConfigError(join(field, 'synchronous_mode'), 'got "quorum", which pgha does not support', 'use synchronous_mode: on or off');
  }
  const parsed = typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number' ? parseBool(value) : undefined;
  if (parsed === undefined) {
    throw wrongValue(join(field, 'synchronous_mode'), value, 'on or off', 'write synchronous_mode: on or synchronous_mode: off');
  }
  return parsed;
}

function bytes(map: YamlMap, key: string, field: string, fallback: number, min: number): number {
  const value = optionalWholeNumber(map, key, field, 'bytes') ?? fallback;
  if (value < min) throw belowMinimum(join(field, key), value, min, 'bytes');
  return value;
}

function count(map: YamlMap, key: string, field: string, fallback: number, min: number): number {
  const value = optionalWholeNumber(map, key, field, 'items') ?? fallback;
  if (value < min) throw belowMinimum(join(field, key), value, min, '');
  return value;
}

function belowMinimum(field: string, value: number, min: number, unit: string): ConfigError {
  const unitText = unit ? ` ${unit}` : '';
  return new ConfigError(field, `got ${value}, which is below the minimum of ${min}${unitText}`, `set it to ${min} or more`);
}

function dynamicPostgresql(value: unknown, field: string): DynamicConfig['postgresql'] {
  const map = optionalMap(value, field) ?? {};
  for (const key of Object.keys(map)) {
    if (DYNAMIC_POSTGRESQL_KEYS.includes(key)) continue;
    const suggestion = closestKey(key, DYNAMIC_POSTGRESQL_KEYS, NESTED_TYPO_EDITS);
    if (suggestion) throw new ConfigError(join(field, key), 'is not a known setting', `did you mean ${join(field, suggestion)}?`);
  }
  const pgHba = optionalStringList(map, 'pg_hba', field);
  return {
    useSlots: optionalBool(map, 'use_slots', field) ?? DYNAMIC_DEFAULTS.use_slots,
    usePgRewind: optionalBool(map, 'use_pg_rewind', field) ?? DYNAMIC_DEFAULTS.use_pg_rewind,
    parameters: parseParameters(map.parameters, join(field, 'parameters')),
    ...(pgHba ? { pgHba } : {}),
  };
}

/**
 * A GUC map: scalar values only. `name:` with nothing (null) means "not set" (the seed writes `parameters:` with
 * nothing under it, and Patroni's patch semantics treat null as removal).
 */
export function parseParameters(value: unknown, field: string): Record<string, string | number | boolean> {
  const map = optionalMap(value, field) ?? {};
  const out: Record<string, string | number | boolean> = {};
  for (const [name, v] of Object.entries(map)) {
    if (v === null || v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw wrongValue(join(field, name), v, 'a string, number or boolean', `write it as ${name}: "value"`);
    }
    out[name] = v;
  }
  return out;
}
