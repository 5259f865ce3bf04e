import { ConfigError } from '../lib/errors';
import { DYNAMIC_ONLY_KEYS, NESTED_TYPO_EDITS, closestKey } from './known-keys';
import { parseRecoveryConf } from './recovery-conf';
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
 * Smallest timing values, in seconds. Patroni 3.0.2 takes any number; Patroni 3.2+ raises ttl to 20 and
 * retry_timeout to 3. pgha supports short ttls (failover bounded by ttl), so it only raises values to what the timing
 * rule itself implies: loop_wait >= 1 and retry_timeout >= 1 make ttl >= 1 + 2*1 = 3. That is also above etcd's
 * minimum lease TTL (about 2 s with the default 1 s election timeout; etcd silently raises shorter leases).
 */
export const TIMING_MINIMUMS = { ttl: 3, loop_wait: 1, retry_timeout: 1 } as const;

/** Keys read from `<dynamic>.postgresql`; others (pg_ident...) are kept in `raw` only. */
const DYNAMIC_POSTGRESQL_KEYS = ['use_slots', 'use_pg_rewind', 'parameters', 'pg_hba', 'pg_ident', 'recovery_conf',
  'remove_data_directory_on_rewind_failure', 'remove_data_directory_on_diverged_timelines', 'bin_dir', 'bin_name',
  'basebackup', 'create_replica_methods', 'callbacks', 'pg_ctl_timeout', 'use_unix_socket', 'use_unix_socket_repl'];

export type DynamicConfigResult = { ok: true; config: DynamicConfig; warnings: string[] } | { ok: false; error: ConfigError };

/**
 * What a field that cannot be read turns into. Strict (bootstrap.dcs, PATCH /config): the error is thrown. Lenient
 * (the `config` key at run time, as Patroni applies what it can): the field keeps `base`'s value and a warning
 * names it.
 */
export interface Reader {
  take<T>(read: () => T, fallback: T, field: string): T;
  warn(message: string): void;
  lenient: boolean;
}

function strictReader(warnings: string[]): Reader {
  return { take: (read) => read(), warn: (m) => warnings.push(m), lenient: false };
}

function lenientReader(warnings: string[]): Reader {
  return {
    take(read, fallback, field) {
      try {
        return read();
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        warnings.push(`${err.message}; ${field} keeps ${JSON.stringify(fallback)}`);
        return fallback;
      }
    },
    warn: (m) => warnings.push(m),
    lenient: true,
  };
}

/**
 * Parses a dynamic configuration map (bootstrap.dcs, or the `config` key) with Patroni's defaults, and validates
 * it: wrong types and values below the minimums are errors. Timing values that break the rule are adjusted, not
 * refused (adjustTiming), and the adjustment is added to `warnings`. `field` prefixes every message.
 */
export function parseDynamicConfig(raw: Record<string, unknown> | undefined, field = 'bootstrap.dcs', warnings: string[] = []): DynamicConfig {
  return build(raw ?? {}, field, strictReader(warnings), DEFAULT_DYNAMIC);
}

/**
 * The `config` key at run time, field by field, as Patroni applies it: a field that cannot be read keeps its value
 * in `base` (the last good configuration) and a warning names it; the others apply. Only a key that is not a map
 * at all (or not JSON) changes nothing.
 */
export function parseDynamicConfigLenient(raw: unknown, base: DynamicConfig, field = 'config'): DynamicConfigResult {
  const value = typeof raw === 'string' ? parseJson(raw, field) : raw;
  if (value instanceof ConfigError) return { ok: false, error: value };
  if (value !== null && value !== undefined && !isMap(value)) {
    return { ok: false, error: wrongValue(field, value, 'a map of settings', 'fix it with pgha ctl edit-config (or patronictl edit-config)') };
  }
  const warnings: string[] = [];
  return { ok: true, config: build(value ?? {}, field, lenientReader(warnings), base), warnings };
}

function build(map: YamlMap, field: string, r: Reader, base: DynamicConfig): DynamicConfig {
  checkDynamicKeys(map, field, r);
  refuseUnsupported(map, field, r);
  const seconds = (key: string, fallback: number, min: number, was: number): number =>
    r.take(() => {
      const value = optionalWholeNumber(map, key, field, 'seconds') ?? fallback;
      if (value < min) throw belowMinimum(join(field, key), value, min, 'seconds');
      return value;
    }, was, join(field, key));
  const timing = (key: keyof typeof TIMING_MINIMUMS, was: number): number =>
    r.take(() => {
      const value = optionalWholeNumber(map, key, field, 'seconds') ?? DYNAMIC_DEFAULTS[key];
      if (value >= TIMING_MINIMUMS[key]) return value;
      // A value written by an operator (REST, ctl, the YAML) is refused so the operator learns of it; one found in
      // etcd at run time is raised instead, since refusing it there would leave the cluster on stale timing.
      if (!r.lenient) throw belowMinimum(join(field, key), value, TIMING_MINIMUMS[key], 'seconds');
      r.warn(`${join(field, key)}: ${value} is below the minimum of ${TIMING_MINIMUMS[key]} seconds; using ${TIMING_MINIMUMS[key]}`);
      return TIMING_MINIMUMS[key];
    }, was, join(field, key));
  const flag = (key: string, fallback: boolean, was: boolean | undefined): boolean =>
    r.take(() => optionalBool(map, key, field) ?? fallback, was ?? fallback, join(field, key));
  const remapped = (key: string, legacy: string): string => (map[key] === undefined || map[key] === null) && map[legacy] !== undefined ? legacy : key;

  const timings = adjustTiming({ ttl: timing('ttl', base.ttlSeconds), loopWait: timing('loop_wait', base.loopWaitSeconds), retry: timing('retry_timeout', base.retryTimeoutSeconds) });
  if (timings.warning) r.warn(`${field}: ${timings.warning}`);
  return {
    ttlSeconds: timings.ttl,
    loopWaitSeconds: timings.loopWait,
    retryTimeoutSeconds: timings.retry,
    maximumLagOnFailoverBytes: r.take(() => bytes(map, 'maximum_lag_on_failover', field, DYNAMIC_DEFAULTS.maximum_lag_on_failover, 0), base.maximumLagOnFailoverBytes, join(field, 'maximum_lag_on_failover')),
    maximumLagOnSyncnodeBytes: r.take(() => bytes(map, 'maximum_lag_on_syncnode', field, DYNAMIC_DEFAULTS.maximum_lag_on_syncnode, -1), base.maximumLagOnSyncnodeBytes ?? -1, join(field, 'maximum_lag_on_syncnode')),
    primaryStartTimeoutSeconds: seconds(remapped('primary_start_timeout', 'master_start_timeout'), DYNAMIC_DEFAULTS.primary_start_timeout, 0, base.primaryStartTimeoutSeconds),
    primaryStopTimeoutSeconds: seconds(remapped('primary_stop_timeout', 'master_stop_timeout'), DYNAMIC_DEFAULTS.primary_stop_timeout, 0, base.primaryStopTimeoutSeconds ?? 0),
    checkTimeline: flag('check_timeline', DYNAMIC_DEFAULTS.check_timeline, base.checkTimeline),
    pause: flag('pause', DYNAMIC_DEFAULTS.pause, base.pause),
    synchronousMode: r.take(() => synchronousMode(map, field), base.synchronousMode, join(field, 'synchronous_mode')),
    synchronousModeStrict: flag('synchronous_mode_strict', DYNAMIC_DEFAULTS.synchronous_mode_strict, base.synchronousModeStrict),
    synchronousNodeCount: r.take(() => count(map, 'synchronous_node_count', field, DYNAMIC_DEFAULTS.synchronous_node_count, 1), base.synchronousNodeCount, join(field, 'synchronous_node_count')),
    failsafeMode: flag('failsafe_mode', DYNAMIC_DEFAULTS.failsafe_mode, base.failsafeMode),
    maxTimelinesHistory: r.take(() => count(map, 'max_timelines_history', field, DYNAMIC_DEFAULTS.max_timelines_history, 0), base.maxTimelinesHistory ?? 0, join(field, 'max_timelines_history')),
    raw: structuredClone(map),
    postgresql: r.take(() => dynamicPostgresql(map.postgresql, join(field, 'postgresql'), r, base.postgresql), base.postgresql, join(field, 'postgresql')),
  };
}

/**
 * The rule Patroni documents (reference §4.1): `loop_wait + 2*retry_timeout <= ttl`, so a leader can miss one loop
 * and two full DCS retries before its lock expires; pgha's fencing relies on it (an etcd call lasts at most
 * retry_timeout, the keepalive runs a few times per ttl). Patroni 3.0.2 takes any values; Patroni 3.2+ lowers them
 * to fit, and so does pgha: loop_wait first (down to 1), then retry_timeout, never ttl.
 */
export function adjustTiming(t: { ttl: number; loopWait: number; retry: number }): { ttl: number; loopWait: number; retry: number; warning?: string } {
  const { ttl, loopWait, retry } = t;
  const needed = loopWait + 2 * retry;
  if (needed <= ttl) return { ttl, loopWait, retry };
  let loop = Math.max(TIMING_MINIMUMS.loop_wait, ttl - 2 * retry);
  let retryTimeout = retry;
  if (loop + 2 * retryTimeout > ttl) {
    loop = TIMING_MINIMUMS.loop_wait;
    retryTimeout = Math.max(TIMING_MINIMUMS.retry_timeout, Math.floor((ttl - loop) / 2));
  }
  return {
    ttl,
    loopWait: loop,
    retry: retryTimeout,
    warning: `loop_wait (${loopWait}) + 2*retry_timeout (${retry}) = ${needed} is more than ttl (${ttl}): ` +
      `using loop_wait ${loop} and retry_timeout ${retryTimeout} (adjusted as Patroni 3.2+ does)`,
  };
}

/** Patroni's defaults as a configuration: the base of a strict parse (its fallbacks are never used). */
const DEFAULT_DYNAMIC: DynamicConfig = {
  ttlSeconds: DYNAMIC_DEFAULTS.ttl, loopWaitSeconds: DYNAMIC_DEFAULTS.loop_wait, retryTimeoutSeconds: DYNAMIC_DEFAULTS.retry_timeout,
  maximumLagOnFailoverBytes: DYNAMIC_DEFAULTS.maximum_lag_on_failover, primaryStartTimeoutSeconds: DYNAMIC_DEFAULTS.primary_start_timeout,
  checkTimeline: false, pause: false, synchronousMode: false, synchronousModeStrict: false, synchronousNodeCount: 1,
  postgresql: { useSlots: true, usePgRewind: false, parameters: {} },
};

function parseJson(text: string, field: string): unknown {
  try {
    return text.trim() === '' ? {} : (JSON.parse(text) as unknown);
  } catch (err) {
    return new ConfigError(field, `is not valid JSON: ${(err as Error).message}`, 'fix it with pgha ctl edit-config (or patronictl edit-config)');
  }
}

/**
 * For a result to refuse (PATCH/PUT /config, ctl edit-config): never throws; wrong types are errors, timing is
 * adjusted (with a warning). Accepts the map or its JSON text.
 */
export function tryParseDynamicConfig(raw: unknown, field = 'config'): DynamicConfigResult {
  try {
    const value = typeof raw === 'string' ? parseJson(raw, field) : raw;
    if (value instanceof ConfigError) return { ok: false, error: value };
    if (value !== null && value !== undefined && !isMap(value)) {
      throw wrongValue(field, value, 'a map of settings', 'fix it with pgha ctl edit-config (or patronictl edit-config)');
    }
    const warnings: string[] = [];
    return { ok: true, config: parseDynamicConfig(value ?? undefined, field, warnings), warnings };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, error: err };
    throw err;
  }
}

function checkDynamicKeys(map: YamlMap, field: string, r: Reader): void {
  const known: readonly string[] = [...DYNAMIC_ONLY_KEYS, 'postgresql'];
  for (const key of Object.keys(map)) {
    if (known.includes(key)) continue;
    const suggestion = closestKey(key, known, NESTED_TYPO_EDITS);
    if (!suggestion) continue;
    const error = new ConfigError(join(field, key), 'is not a known setting', `did you mean ${join(field, suggestion)}?`);
    if (!r.lenient) throw error;
    r.warn(`${error.message}; it is ignored`);
  }
}

function refuseUnsupported(map: YamlMap, field: string, r: Reader): void {
  const standby = map.standby_cluster;
  if (standby !== null && standby !== undefined && !(isMap(standby) && Object.keys(standby).length === 0)) {
    const error = new ConfigError(
      join(field, 'standby_cluster'),
      'is set, but pgha does not run standby clusters (a cluster replicating from another cluster)',
      'remove standby_cluster, or keep running this cluster with Patroni',
    );
    if (!r.lenient) throw error;
    r.warn(`${error.message}; it is ignored`);
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

function dynamicPostgresql(value: unknown, field: string, r: Reader, base: DynamicConfig['postgresql']): DynamicConfig['postgresql'] {
  const map = optionalMap(value, field) ?? {};
  for (const key of Object.keys(map)) {
    if (DYNAMIC_POSTGRESQL_KEYS.includes(key)) continue;
    const suggestion = closestKey(key, DYNAMIC_POSTGRESQL_KEYS, NESTED_TYPO_EDITS);
    if (!suggestion) continue;
    const error = new ConfigError(join(field, key), 'is not a known setting', `did you mean ${join(field, suggestion)}?`);
    if (!r.lenient) throw error;
    r.warn(`${error.message}; it is ignored`);
  }
  const pgHba = r.take(() => optionalStringList(map, 'pg_hba', field), base.pgHba, join(field, 'pg_hba'));
  const recoveryConf = r.take(() => parseRecoveryConf(map.recovery_conf, join(field, 'recovery_conf')), base.recoveryConf, join(field, 'recovery_conf'));
  return {
    useSlots: r.take(() => optionalBool(map, 'use_slots', field) ?? DYNAMIC_DEFAULTS.use_slots, base.useSlots, join(field, 'use_slots')),
    usePgRewind: r.take(() => optionalBool(map, 'use_pg_rewind', field) ?? DYNAMIC_DEFAULTS.use_pg_rewind, base.usePgRewind, join(field, 'use_pg_rewind')),
    parameters: r.take(() => parseParameters(map.parameters, join(field, 'parameters'), r, base.parameters), base.parameters, join(field, 'parameters')),
    ...(pgHba ? { pgHba } : {}),
    ...(recoveryConf ? { recoveryConf } : {}),
  };
}

/**
 * A GUC map: scalar values only. `name:` with nothing (null) means "not set" (the seed writes `parameters:` with
 * nothing under it, and Patroni's patch semantics treat null as removal).
 */
export function parseParameters(
  value: unknown,
  field: string,
  r: Reader = strictReader([]),
  base: Record<string, string | number | boolean> = {},
): Record<string, string | number | boolean> {
  const map = optionalMap(value, field) ?? {};
  const out: Record<string, string | number | boolean> = {};
  for (const [name, v] of Object.entries(map)) {
    if (v === null || v === undefined) continue;
    const kept = r.take(() => {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        throw wrongValue(join(field, name), v, 'a string, number or boolean', `write it as ${name}: "value"`);
      }
      return v;
    }, base[name], join(field, name));
    if (kept !== undefined) out[name] = kept;
  }
  return out;
}
