/**
 * `end_sessions` (top level, and per read listener over it, key by key): for each cause that takes a member out of
 * a read pool, how long its open sessions there may go on, as a duration, or `never` (read-follow.ts; defaults
 * DEFAULT_END_SESSIONS). A primary listener refuses the key: write sessions follow the leader anyway.
 */
import { ConfigError } from '../lib/errors';
import type { EndSessionsConfig, ReadExitCause } from '../router/types';
import { parseDuration } from './duration';
import { describeValue, isMap } from './values';

const CAUSES: readonly ReadExitCause[] = ['promoted', 'lag', 'tags'];
const EXAMPLE = 'end_sessions: {promoted: 0s, lag: never, tags: 5m}';

export function parseEndSessions(value: unknown, field: string, defaults: EndSessionsConfig): EndSessionsConfig {
  if (value === undefined || value === null) return defaults;
  if (!isMap(value)) throw new ConfigError(field, `got ${describeValue(value, field)}, expected a map of causes`, `write e.g. ${EXAMPLE}`);
  const out: Record<ReadExitCause, number | 'never'> = { ...defaults };
  for (const [k, v] of Object.entries(value)) {
    const f = `${field}.${k}`;
    if (!(CAUSES as readonly string[]).includes(k)) throw new ConfigError(f, 'is not a cause that ends read sessions', `use one of: ${CAUSES.join(', ')}`);
    const cause = k as ReadExitCause;
    if (typeof v === 'string' && v.trim().toLowerCase() === 'never') {
      out[cause] = 'never';
      continue;
    }
    try {
      out[cause] = parseDuration(v, f);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(err.field, err.problem.replace('expected a duration', 'expected a grace or never'), `${err.fix ?? 'write a duration'}, or never (e.g. ${EXAMPLE})`);
      throw err;
    }
  }
  return out;
}
