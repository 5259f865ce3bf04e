import YAML from 'yaml';
import { ConfigError } from '../lib/errors';
import { patchConfig } from './document';
import { type YamlMap, isMap, parseBool, parseWholeNumber } from './values';

/**
 * `PATRONI_*` environment overrides, mapped as Patroni 3.x does (reference §9, patroni/config.py
 * `_build_environment_configuration`), patched over the file. Differences from Patroni, each to remove a trap:
 * - a DCS endpoint set by env (`_HOST`, `_HOSTS`, `_URL`, `_PROXY`, `_SRV`) replaces the file's endpoints of that
 *   section; Patroni would keep a file `hosts:` over an env `HOST` (its precedence is proxy > url > hosts > host);
 * - `PATRONI_ETCD[3]_USERNAME/PASSWORD` only patch an existing section and are never taken for a bootstrap user;
 * - `PATRONI_<USER>_PASSWORD` names an existing `bootstrap.users` entry case-insensitively, otherwise the role
 *   name is lower-cased (as PostgreSQL folds `CREATE ROLE ADMIN`); Patroni would create the role "ADMIN";
 * - a value that cannot be parsed is an error naming the variable, not a logged exception.
 */
export interface EnvOverrides {
  /** The document with the overrides applied (a copy; the input is not changed). */
  doc: YamlMap;
  /** Every `PATRONI_*` variable that was read. Patroni removes these from its environment before starting Postgres. */
  consumed: string[];
  /** Field path → the variable that set it, so errors can say where a bad value came from. */
  origins: Map<string, string>;
}

const PREFIX = 'PATRONI_';

const SECTION_VALUES: Record<string, readonly string[]> = {
  restapi: ['listen', 'connect_address', 'certfile', 'keyfile', 'keyfile_password', 'cafile', 'ciphers', 'verify_client',
    'http_extra_headers', 'https_extra_headers', 'allowlist', 'allowlist_include_members', 'request_queue_size', 'server_tokens'],
  ctl: ['insecure', 'cacert', 'certfile', 'keyfile', 'keyfile_password'],
  postgresql: ['listen', 'connect_address', 'proxy_address', 'config_dir', 'data_dir', 'pgpass', 'bin_dir'],
  log: ['level', 'traceback_level', 'format', 'dateformat', 'max_queue_size', 'dir', 'file_size', 'file_num', 'loggers'],
  raft: ['data_dir', 'self_addr', 'partner_addrs', 'password', 'bind_addr'],
};
const LIST_VALUES = new Set(['restapi.allowlist', 'raft.partner_addrs']);
const MAP_VALUES = new Set(['restapi.http_extra_headers', 'restapi.https_extra_headers', 'log.loggers']);
const BOOL_VALUES = new Set(['restapi.allowlist_include_members', 'ctl.insecure']);
const INT_VALUES = new Set(['log.max_queue_size', 'log.file_size', 'log.file_num', 'restapi.request_queue_size']);

/** libpq settings accepted per user (Patroni's _AUTH_ALLOWED_PARAMETERS). */
export const AUTH_PARAMETERS = ['username', 'password', 'sslmode', 'sslcert', 'sslkey', 'sslpassword', 'sslrootcert',
  'sslcrl', 'sslcrldir', 'gssencmode', 'channel_binding'] as const;
const USER_TYPES = ['replication', 'superuser', 'rewind'] as const;

/** `PATRONI_<DCS>_<SUFFIX>`: the DCS names, and the suffixes Patroni 3.x recognises for them. */
const DCS_NAMES = new Set(['ETCD', 'ETCD3', 'CONSUL', 'ZOOKEEPER', 'EXHIBITOR', 'KUBERNETES', 'CITUS']);
const DCS_SUFFIXES = new Set(['HOST', 'HOSTS', 'PORT', 'USE_PROXIES', 'PROTOCOL', 'SRV', 'SRV_SUFFIX', 'URL', 'PROXY',
  'CACERT', 'CERT', 'KEY', 'VERIFY', 'TOKEN', 'CHECKS', 'DC', 'CONSISTENCY', 'REGISTER_SERVICE', 'SERVICE_CHECK_INTERVAL',
  'SERVICE_CHECK_TLS_SERVER_NAME', 'SERVICE_TAGS', 'NAMESPACE', 'CONTEXT', 'USE_ENDPOINTS', 'SCOPE_LABEL', 'ROLE_LABEL',
  'POD_IP', 'PORTS', 'LABELS', 'BYPASS_API_SERVICE', 'RETRIABLE_HTTP_CODES', 'KEY_PASSWORD', 'USE_SSL', 'SET_ACLS',
  'GROUP', 'DATABASE']);
const DCS_LIST_SUFFIXES = new Set(['HOSTS', 'PORTS', 'CHECKS', 'SERVICE_TAGS', 'RETRIABLE_HTTP_CODES']);
const DCS_BOOL_SUFFIXES = new Set(['USE_PROXIES', 'REGISTER_SERVICE', 'USE_ENDPOINTS', 'BYPASS_API_SERVICE', 'VERIFY']);
/** Keys that say where the DCS is; one set by env replaces all of them from the file. */
export const DCS_ENDPOINT_KEYS = ['host', 'hosts', 'url', 'proxy', 'srv'] as const;

/**
 * Patroni's `_parse_list`: `'h1:2379','h2:2379'`, `h1:2379,h2:2379`, `[a, b]` or a YAML block list.
 * Returns undefined when the text is not a list.
 */
export function parseEnvList(value: string): unknown[] | undefined {
  const text = value.trim().startsWith('-') || value.includes('[') ? value : `[${value}]`;
  try {
    const parsed: unknown = YAML.parse(text, { version: '1.1' });
    return Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Patroni's `_parse_dict`: `k: v, k2: v2` or `{k: v}`. */
export function parseEnvMap(value: string): YamlMap | undefined {
  const text = value.trim().startsWith('{') ? value : `{${value}}`;
  try {
    const parsed: unknown = YAML.parse(text, { version: '1.1' });
    return isMap(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

class EnvReader {
  readonly consumed = new Set<string>();
  readonly origins = new Map<string, string>();
  readonly patch: YamlMap = {};

  constructor(readonly env: NodeJS.ProcessEnv) {}

  /** Reads `PATRONI_<NAME>`; an empty value counts as unset (as in Patroni). */
  take(name: string): string | undefined {
    return this.takeExact(PREFIX + name.toUpperCase());
  }

  takeExact(full: string): string | undefined {
    const value = this.env[full];
    if (value === undefined) return undefined;
    this.consumed.add(full);
    return value === '' ? undefined : value;
  }

  set(path: readonly string[], value: unknown, envName: string): void {
    let node = this.patch;
    for (const key of path.slice(0, -1)) {
      if (!isMap(node[key])) node[key] = {};
      node = node[key] as YamlMap;
    }
    node[path[path.length - 1] as string] = value;
    this.origins.set(path.join('.'), envName.startsWith(PREFIX) ? envName : PREFIX + envName.toUpperCase());
  }

  patroniNames(): string[] {
    return Object.keys(this.env).filter((k) => k.startsWith(PREFIX)).sort();
  }
}

export function applyEnvironmentOverrides(base: YamlMap, env: NodeJS.ProcessEnv): EnvOverrides {
  const doc = structuredClone(base);
  const reader = new EnvReader(env);

  for (const key of ['name', 'namespace', 'scope']) {
    const value = reader.take(key);
    if (value !== undefined) reader.set([key], value, key);
  }
  readLegacyLogLevel(reader);
  readSectionValues(reader);
  readRestApiAuthentication(reader);
  readPostgresAuthentication(reader);
  const dcsPatch = readDcsSections(reader);
  replaceEndpointsSetByEnv(doc, dcsPatch);
  readDcsAuthentication(reader, doc);
  readBootstrapUsers(reader, doc);

  patchConfig(doc, reader.patch);
  return { doc, consumed: [...reader.consumed].sort(), origins: reader.origins };
}

function readLegacyLogLevel(reader: EnvReader): void {
  const legacy = reader.take('loglevel');
  if (legacy !== undefined && reader.env.PATRONI_LOG_LEVEL === undefined) reader.set(['log', 'level'], legacy, 'loglevel');
}

function readSectionValues(reader: EnvReader): void {
  for (const [section, params] of Object.entries(SECTION_VALUES)) {
    for (const param of params) {
      const envName = `${section}_${param}`;
      const raw = reader.take(envName);
      if (raw === undefined) continue;
      reader.set([section, param], typedSectionValue(`${section}.${param}`, raw, PREFIX + envName.toUpperCase()), envName);
    }
  }
}

function typedSectionValue(field: string, raw: string, envName: string): unknown {
  if (LIST_VALUES.has(field)) return parsedOrError(parseEnvList(raw), envName, 'a list such as a,b or [a, b]');
  if (MAP_VALUES.has(field)) return parsedOrError(parseEnvMap(raw), envName, 'a map such as "k: v, k2: v2"');
  if (BOOL_VALUES.has(field)) return parsedOrError(parseBool(raw), envName, 'true or false');
  if (INT_VALUES.has(field)) return parsedOrError(parseWholeNumber(raw), envName, 'a whole number');
  return raw;
}

function parsedOrError<T>(value: T | undefined, envName: string, expected: string): T {
  if (value === undefined) throw new ConfigError(envName, `cannot be read as ${expected}`, `fix or unset ${envName}`);
  return value;
}

function readRestApiAuthentication(reader: EnvReader): void {
  for (const param of ['username', 'password']) {
    const value = reader.take(`restapi_${param}`);
    if (value !== undefined) reader.set(['restapi', 'authentication', param], value, `restapi_${param}`);
  }
}

function readPostgresAuthentication(reader: EnvReader): void {
  for (const userType of USER_TYPES) {
    for (const param of AUTH_PARAMETERS) {
      const value = reader.take(`${userType}_${param}`);
      if (value !== undefined) reader.set(['postgresql', 'authentication', userType, param], value, `${userType}_${param}`);
    }
  }
}

/** `PATRONI_<DCS>_<SUFFIX>` → `<dcs>.<suffix>`. Any one of them creates that DCS section, as in Patroni. */
function readDcsSections(reader: EnvReader): YamlMap {
  const sections: YamlMap = {};
  for (const full of reader.patroniNames()) {
    const rest = full.slice(PREFIX.length);
    const underscore = rest.indexOf('_');
    if (underscore <= 0) continue;
    const name = rest.slice(0, underscore);
    const suffix = rest.slice(underscore + 1);
    if (!DCS_NAMES.has(name) || !DCS_SUFFIXES.has(suffix)) continue;
    const raw = reader.take(rest);
    if (raw === undefined) continue;
    const value = typedDcsValue(suffix, raw, full);
    reader.set([name.toLowerCase(), suffix.toLowerCase()], value, rest);
    const section = (sections[name.toLowerCase()] ??= {}) as YamlMap;
    section[suffix.toLowerCase()] = value;
  }
  return sections;
}

function typedDcsValue(suffix: string, raw: string, envName: string): unknown {
  if (suffix === 'PORT') return parsedOrError(parseWholeNumber(raw), envName, 'a port number');
  if (DCS_LIST_SUFFIXES.has(suffix)) return parsedOrError(parseEnvList(raw), envName, "a list such as 'h1:2379','h2:2379' or h1:2379,h2:2379");
  if (DCS_BOOL_SUFFIXES.has(suffix)) return parsedOrError(parseBool(raw), envName, 'true or false');
  return raw;
}

function replaceEndpointsSetByEnv(doc: YamlMap, dcsPatch: YamlMap): void {
  for (const [name, patch] of Object.entries(dcsPatch)) {
    const section = doc[name];
    if (!isMap(patch) || !isMap(section)) continue;
    if (!DCS_ENDPOINT_KEYS.some((k) => k in patch)) continue;
    for (const key of DCS_ENDPOINT_KEYS) if (!(key in patch)) delete section[key];
  }
}

function readDcsAuthentication(reader: EnvReader, doc: YamlMap): void {
  for (const dcs of ['etcd', 'etcd3']) {
    const exists = isMap(doc[dcs]) || isMap(reader.patch[dcs]);
    for (const param of ['username', 'password']) {
      const value = reader.take(`${dcs}_${param}`);
      if (value === undefined) continue;
      if (exists) reader.set([dcs, param], value, `${dcs}_${param}`);
    }
  }
}

/** `PATRONI_<USER>_PASSWORD` / `PATRONI_<USER>_OPTIONS` → `bootstrap.users.<user>` (reference §5.3). */
function readBootstrapUsers(reader: EnvReader, doc: YamlMap): void {
  const bootstrap = isMap(doc.bootstrap) ? doc.bootstrap : {};
  const existing = isMap(bootstrap.users) ? Object.keys(bootstrap.users) : [];
  for (const full of reader.patroniNames()) {
    if (reader.consumed.has(full) || !full.endsWith('_PASSWORD')) continue;
    const envUser = full.slice(PREFIX.length, -'_PASSWORD'.length);
    if (envUser === '') continue;
    const optionsName = `${PREFIX}${envUser}_OPTIONS`;
    const password = reader.takeExact(full);
    const optionsText = reader.takeExact(optionsName);
    if (password === undefined) continue;
    const user = existing.find((u) => u.toLowerCase() === envUser.toLowerCase()) ?? envUser.toLowerCase();
    reader.set(['bootstrap', 'users', user, 'password'], password, full);
    if (optionsText !== undefined) {
      const options = parsedOrError(parseEnvList(optionsText), optionsName, 'a list such as createrole,createdb');
      reader.set(['bootstrap', 'users', user, 'options'], options, optionsName);
    }
  }
}
