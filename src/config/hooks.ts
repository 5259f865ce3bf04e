/**
 * `postgresql.callbacks`, `postgresql.pre_promote` and `postgresql.before_stop`: the user's scripts (run by
 * src/agent/callbacks.ts). Each is a command string split as Python's shlex.split does (Patroni), checked here so a
 * quote left open is a configuration error at start, not a failed failover later. Callback names Patroni 3.0.2 does
 * not know are ignored with a warning, as Patroni ignores them.
 */
import { ConfigError } from '../lib/errors';
import { shlexSplit } from '../lib/shlex';
import type { PostgresHooks } from './types';
import { type ParseContext, type YamlMap, optionalMap, optionalText } from './values';

export const CALLBACK_NAMES = ['on_start', 'on_stop', 'on_restart', 'on_reload', 'on_role_change'] as const;

export function parseHooks(map: YamlMap, ctx: ParseContext): PostgresHooks {
  const hooks: PostgresHooks = {};
  const callbacks = optionalMap(map.callbacks, 'postgresql.callbacks', ctx);
  if (callbacks) {
    const known: readonly string[] = CALLBACK_NAMES;
    for (const name of Object.keys(callbacks)) {
      if (!known.includes(name)) ctx.warnings.push(`postgresql.callbacks.${name} is not a Patroni callback (${CALLBACK_NAMES.join(', ')}); it is ignored`);
    }
    for (const name of CALLBACK_NAMES) {
      const script = command(callbacks, name, 'postgresql.callbacks', ctx);
      if (script) (hooks.callbacks ??= {})[name] = script;
    }
  }
  const prePromote = command(map, 'pre_promote', 'postgresql', ctx);
  if (prePromote) hooks.prePromote = prePromote;
  const beforeStop = command(map, 'before_stop', 'postgresql', ctx);
  if (beforeStop) hooks.beforeStop = beforeStop;
  return hooks;
}

function command(map: YamlMap, key: string, parent: string, ctx: ParseContext): string | undefined {
  const value = optionalText(map, key, parent, ctx);
  if (value === undefined || value.trim() === '') return undefined;
  try {
    if (shlexSplit(value).length === 0) return undefined;
  } catch (err) {
    throw new ConfigError(`${parent}.${key}`, `cannot be split into a command (${(err as Error).message})`, 'close the quote or escape the character, as for a POSIX shell');
  }
  return value;
}
