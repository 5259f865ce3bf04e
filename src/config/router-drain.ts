/**
 * The router's `switchover_drain:` section (docs/router.md "Switchover without errors"): `timeout`, how long a
 * router waits for the transactions in flight on a draining leader before it acknowledges anyway (default 5 s, the
 * agent's default too), and `register`, whether it registers in etcd for the handshake: `auto` (when a listener
 * pools), `true` or `false`.
 */
import { ConfigError } from '../lib/errors';
import type { SwitchoverDrainConfig } from '../router/types';
import { optionalDuration } from './duration';
import { checkKeys, section } from './router-values';
import { describeValue } from './values';

const KEYS = ['timeout', 'register'];

export function parseRouterDrain(value: unknown): SwitchoverDrainConfig {
  const map = section(value, 'switchover_drain');
  checkKeys(map, KEYS, 'switchover_drain');
  const r = map.register;
  const register = r === undefined || r === null || r === 'auto' ? 'auto' : r === true || r === 'true' ? 'always' : r === false || r === 'false' ? 'never' : undefined;
  if (!register) throw new ConfigError('switchover_drain.register', `got ${describeValue(r, 'switchover_drain.register')}`, 'write auto (when a listener pools), true or false');
  return { timeoutMs: optionalDuration(map, 'timeout', 'switchover_drain', 5000), register };
}
