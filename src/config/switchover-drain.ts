/**
 * The agent's `switchover_drain:` section (top level of the agent YAML; docs/configuration.md): `timeout`, how long
 * the leader waits, before a planned switchover demotes it, for every registered router to say it has drained
 * (agent/plan-drain.ts). 0 turns the wait off. Patroni has no such key and ignores unknown sections, so one YAML
 * still serves both.
 */
import { ConfigError } from '../lib/errors';
import { optionalDuration } from './duration';
import { optionalMap, type ParseContext, type YamlMap } from './values';

const KEYS = ['timeout'];
/** A drain longer than this would hold a switchover longer than most clients' own statement timeouts. */
const MAX_TIMEOUT_MS = 60_000;

export function parseAgentSwitchoverDrain(doc: YamlMap, ctx: ParseContext): { timeoutMs: number } {
  const map = optionalMap(doc.switchover_drain, 'switchover_drain', ctx) ?? {};
  for (const key of Object.keys(map)) {
    if (!KEYS.includes(key)) throw new ConfigError(`switchover_drain.${key}`, 'is not a switchover_drain setting', `use: ${KEYS.join(', ')}`);
  }
  const timeoutMs = optionalDuration(map, 'timeout', 'switchover_drain', 5000);
  if (timeoutMs > MAX_TIMEOUT_MS) throw new ConfigError('switchover_drain.timeout', `is ${timeoutMs} ms, above ${MAX_TIMEOUT_MS} ms`, 'a switchover should not wait longer than a minute for routers: use e.g. 5s');
  return { timeoutMs };
}
