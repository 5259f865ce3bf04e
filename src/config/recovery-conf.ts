/**
 * `recovery_conf` maps: `postgresql.recovery_conf` (local file, or `postgresql.recovery_conf` of the dynamic
 * configuration) for replicas, and `bootstrap.<method>.recovery_conf` for a custom bootstrap. Values are kept as the
 * text postgres gets (Patroni writes str(value)); a boolean is `on`/`off`, an empty value (`name:`) is left out.
 */
import { ConfigError } from '../lib/errors';
import { type ParseContext, join, kindOf, optionalMap } from './values';

export function parseRecoveryConf(value: unknown, field: string, ctx?: ParseContext): Record<string, string> | undefined {
  const map = optionalMap(value, field, ctx);
  if (!map) return undefined;
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(map)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(join(field, name), 'is not a parameter name', 'write recovery parameters such as restore_command or recovery_min_apply_delay');
    if (v === null || v === undefined) continue;
    if (typeof v === 'object') throw new ConfigError(join(field, name), `got ${kindOf(v)}, expected a value`, `write ${name}: value`);
    out[name] = typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
  }
  return out;
}

/**
 * The `recovery_conf` a replica uses: the local file's when it has one, else the dynamic configuration's. Patroni
 * builds its effective configuration so (config.py _build_effective_configuration: a local `postgresql` key
 * replaces the dynamic one whole; maps are not merged).
 */
export function effectiveRecoveryConf(local: Record<string, string> | undefined, dynamic: Record<string, string> | undefined): Record<string, string> {
  return local ?? dynamic ?? {};
}
