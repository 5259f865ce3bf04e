import { ConfigError } from '../lib/errors';
import { describeValue, join, type YamlMap } from './values';

/**
 * The longest duration a timer can wait: node clamps a longer delay to 1 ms (with only a warning), so a
 * `hold_timeout: 1e300` would silently mean "at once". Refused at load instead.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration in ms: seconds as a number (`10`, `2.5`), or a string with a unit (`250ms`, `10s`, `2m`, `1h`; no unit
 * means seconds). The one duration parser of every configuration file.
 */
export function parseDuration(value: unknown, field: string): number {
  let ms: number | undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) ms = Math.round(value * 1000);
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
    if (m) ms = Math.round(Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS]);
  }
  if (ms === undefined) {
    throw new ConfigError(field, `got ${describeValue(value, field)}, expected a duration`, `write seconds as a number (10) or with a unit: 250ms, 10s, 2m`);
  }
  if (ms > MAX_DURATION_MS) {
    throw new ConfigError(field, `got ${describeValue(value, field)}, longer than the longest timer (${Math.floor(MAX_DURATION_MS / 86_400_000)} days)`, 'write a duration in seconds or minutes, e.g. 30s or 2m');
  }
  return ms;
}

/** `map[key]` as a duration in ms (the fallback when absent), at least `minMs`. */
export function optionalDuration(map: YamlMap, key: string, parent: string, fallbackMs: number, minMs = 0): number {
  const field = join(parent, key);
  if (map[key] === undefined || map[key] === null) return fallbackMs;
  const ms = parseDuration(map[key], field);
  if (ms < minMs) throw new ConfigError(field, `is ${ms} ms, below the minimum of ${minMs} ms`, `set it to at least ${minMs}ms`);
  return ms;
}
