/**
 * The pooled listeners' settings: the listener key `pool_mode` (passthrough, the default, session or transaction)
 * and the top-level `pool:` section with the limits of every pool (docs/router.md "Pool modes"). The defaults are
 * PgBouncer's where it has one (default_pool_size 20, min_pool_size 0, server_idle_timeout 10 min,
 * server_lifetime 1 h, DISCARD ALL as server_reset_query); the queue timeout defaults to hold_timeout, so a client
 * waits for a server connection as long as it would wait for a backend. With `workers: N` each worker runs its own
 * pools, so `size` is per worker: up to N × size server connections per (listener, user, database, member).
 */
import { ConfigError } from '../lib/errors';
import type { PoolConfig, PoolMode } from '../router/pool/types';
import { optionalDuration } from './duration';
import { checkKeys, section, wholeNumber } from './router-values';
import { describeValue, type YamlMap } from './values';

const POOL_KEYS = ['size', 'min_idle', 'idle_timeout', 'lifetime', 'queue_timeout', 'reset_query'];
const MODES: readonly PoolMode[] = ['passthrough', 'session', 'transaction'];

/** `pool_mode` of a listener (undefined: passthrough). */
export function parsePoolMode(value: unknown, field: string): PoolMode {
  if (value === undefined || value === null) return 'passthrough';
  const v = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if ((MODES as readonly string[]).includes(v)) return v as PoolMode;
  throw new ConfigError(field, `got ${describeValue(value, field)}`, `use one of: ${MODES.join(', ')}`);
}

/** The `pool:` section; `holdTimeoutMs` (the top-level hold_timeout) is the queue timeout's default. */
export function parsePool(value: unknown, holdTimeoutMs: number): PoolConfig {
  const map: YamlMap = section(value, 'pool');
  checkKeys(map, POOL_KEYS, 'pool');
  const size = wholeNumber(map, 'size', 'pool', 20, 1, 10_000);
  const minIdle = wholeNumber(map, 'min_idle', 'pool', 0, 0, 10_000);
  if (minIdle > size) throw new ConfigError('pool.min_idle', `${minIdle} is above pool.size (${size})`, `lower it to at most ${size}`);
  const reset = map.reset_query;
  if (reset !== undefined && reset !== null && typeof reset !== 'string') {
    throw new ConfigError('pool.reset_query', `got ${describeValue(reset, 'pool.reset_query')}, expected SQL text`, 'write e.g. reset_query: DISCARD ALL, or "" for none');
  }
  return {
    size,
    minIdle,
    idleTimeoutMs: optionalDuration(map, 'idle_timeout', 'pool', 600_000),
    lifetimeMs: optionalDuration(map, 'lifetime', 'pool', 3_600_000),
    queueTimeoutMs: optionalDuration(map, 'queue_timeout', 'pool', holdTimeoutMs),
    resetQuery: typeof reset === 'string' ? reset.trim() : 'DISCARD ALL',
  };
}
