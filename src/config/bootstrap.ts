import { parseDynamicConfig } from './dynamic';
import { BOOTSTRAP_KEYS, checkSectionKeys } from './known-keys';
import { parseCustomBootstrap } from './methods';
import { renderInitdbArgs } from './options-list';
import type { BootstrapConfig } from './types';
import { type ParseContext, type YamlMap, join, optionalMap, optionalString, optionalStringList, optionalText, wrongValue } from './values';

/**
 * `bootstrap`: used by the node that wins the initialize race (reference §5). A missing section is allowed
 * (such a node only joins an existing cluster); `bootstrap.dcs` is validated now so a bad ttl is refused at start
 * rather than when the cluster is first created.
 */
export function parseBootstrap(doc: YamlMap, ctx: ParseContext): BootstrapConfig {
  const map = optionalMap(doc.bootstrap, 'bootstrap', ctx) ?? {};
  const method = optionalString(map, 'method', 'bootstrap', ctx);
  const custom = method !== undefined && method !== 'initdb' ? parseCustomBootstrap(map, method, ctx) : undefined;
  checkSectionKeys(map, 'bootstrap', BOOTSTRAP_KEYS, ctx, method ? [method] : []);
  const dcsMap = optionalMap(map.dcs, 'bootstrap.dcs', ctx) ?? {};
  const config: BootstrapConfig = {
    dcs: structuredClone(dcsMap),
    initdbArgs: renderInitdbArgs(map.initdb),
    pgHba: optionalStringList(map, 'pg_hba', 'bootstrap', ctx) ?? [],
    users: parseUsers(map.users, ctx),
    dynamic: parseDynamicConfig(dcsMap, 'bootstrap.dcs', ctx.warnings),
  };
  const postBootstrap = optionalString(map, 'post_bootstrap', 'bootstrap', ctx) ?? optionalString(map, 'post_init', 'bootstrap', ctx);
  if (postBootstrap !== undefined) config.postBootstrap = postBootstrap;
  if (custom) config.custom = custom;
  return config;
}

/** `bootstrap.users: {name: {password, options: [createrole, ...]}}` (Patroni <= 3.x, reference §5.3). */
function parseUsers(value: unknown, ctx: ParseContext): BootstrapConfig['users'] {
  const map = optionalMap(value, 'bootstrap.users', ctx) ?? {};
  const users: BootstrapConfig['users'] = {};
  for (const [name, entry] of Object.entries(map)) {
    const field = join('bootstrap.users', name);
    const user = optionalMap(entry, field, ctx) ?? {};
    const password = optionalText(user, 'password', field, ctx);
    const options = userOptions(user.options, join(field, 'options'), ctx);
    users[name] = password === undefined ? { options } : { password, options };
  }
  return users;
}

function userOptions(value: unknown, field: string, ctx: ParseContext): string[] {
  if (value === null || value === undefined) return [];
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value;
  if (!Array.isArray(items)) throw wrongValue(field, value, 'a list of role options', 'write e.g. options: [createrole, createdb]', ctx);
  return items.map((item, i) => {
    if (typeof item !== 'string' || !/^[A-Za-z][A-Za-z0-9_ ]*$/.test(item.trim())) {
      throw wrongValue(`${field}[${i}]`, item, 'a role option such as createdb, replication or "connection limit 5"', 'write one option per item, without quotes or semicolons', ctx);
    }
    return item.trim();
  });
}
