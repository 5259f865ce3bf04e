/**
 * The router's configuration: `router.yml`, the short flag form, and the agent YAML's `router:` section (same
 * schema; scope, namespace and etcd come from the agent). Every error names the field, the value seen and the fix
 * (ConfigError). Durations: a number of seconds or a string with a unit (`250ms`, `10s`, `2m`); sizes: a number
 * of bytes or a string with Patroni's units (`512kB`, `16MB`, `1GB`). See docs/router.md and config/router.yml.
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from '../lib/errors';
import { parseHostPort } from '../config/address';
import { describeValue, isMap, type YamlMap } from '../config/values';
import { parseByteSize } from '../model/lsn';
import { DEFAULT_SWITCHOVER_HOLD_MS } from './routing';
import { parseCidr } from './cidr';
import { DEFAULT_END_SESSIONS } from './read-follow';
import { parseEndSessions } from './end-sessions-config';
import type { ClientTlsFiles, TlsFile } from '../lib/json-get';
import type { BalanceMode, EndSessionsConfig, ListenerConfig, ListenerRole, RouterConfig } from './types';

export const DEFAULT_WRITE_PORT = 5000;
export const DEFAULT_READ_PORT = 5001;

const TOP_KEYS = [
  'scope', 'namespace', 'etcd', 'etcd3', 'listeners', 'metrics', 'health', 'lag', 'lease', 'hold_timeout',
  'startup_timeout', 'max_startup_packet', 'connect_timeout', 'drain_timeout', 'weight_tag', 'tcp_keepalive',
  'switchover_hold', 'max_connections', 'max_held', 'max_connections_per_client', 'workers', 'proxy_protocol', 'end_sessions',
];
const LISTENER_KEYS = [
  'name', 'listen', 'role', 'max_lag', 'max_lag_seconds', 'balance', 'tags', 'include_noloadbalance',
  'fallback_to_leader', 'require_streaming', 'hold_timeout', 'max_connections', 'max_held', 'max_connections_per_client',
  'proxy_protocol', 'end_sessions',
];
const HEALTH_KEYS = ['interval', 'timeout', 'rise', 'fall', 'fast_interval', 'max_age', 'verify_tls', 'cacert', 'cert', 'key', 'key_password'];
const LAG_KEYS = ['position', 'history'];
const LEASE_KEYS = ['default_ttl', 'margin'];
const ETCD_KEYS = ['hosts', 'host', 'deadline', 'username', 'password', 'protocol', 'cacert', 'cert', 'key'];
const ROLES: readonly ListenerRole[] = ['primary', 'replica', 'read-only', 'any'];

function checkKeys(map: YamlMap, known: readonly string[], field: string): void {
  for (const key of Object.keys(map)) {
    if (!known.includes(key)) {
      throw new ConfigError(field ? `${field}.${key}` : key, 'is not a router setting', `remove it or use one of: ${known.join(', ')}`);
    }
  }
}

function section(value: unknown, field: string): YamlMap {
  if (value === undefined || value === null) return {};
  if (!isMap(value)) throw new ConfigError(field, `got ${describeValue(value, field)}, expected a map of settings`, `indent the settings under ${field}:`);
  return value;
}

/** Seconds as a number, or a string with ms/s/m/h. Returns ms. */
/**
 * The longest duration a timer can wait: node clamps a longer delay to 1 ms (with only a warning), so a
 * `hold_timeout: 1e300` would silently mean "at once". Refused at load instead.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export function parseDuration(value: unknown, field: string): number {
  let ms: number | undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) ms = Math.round(value * 1000);
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
    if (m) {
      const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
      ms = Math.round(Number(m[1]) * mult);
    }
  }
  if (ms === undefined) {
    throw new ConfigError(field, `got ${describeValue(value, field)}, expected a duration`, `write seconds as a number (10) or with a unit: 250ms, 10s, 2m`);
  }
  if (ms > MAX_DURATION_MS) {
    throw new ConfigError(field, `got ${describeValue(value, field)}, longer than the longest timer (${Math.floor(MAX_DURATION_MS / 86_400_000)} days)`, 'write a duration in seconds or minutes, e.g. 30s or 2m');
  }
  return ms;
}

function duration(map: YamlMap, key: string, parent: string, fallback: number, min = 0): number {
  const field = parent ? `${parent}.${key}` : key;
  if (map[key] === undefined || map[key] === null) return fallback;
  const ms = parseDuration(map[key], field);
  if (ms < min) throw new ConfigError(field, `is ${ms} ms, below the minimum of ${min} ms`, `set it to at least ${min}ms`);
  return ms;
}

function size(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const n = typeof value === 'string' ? parseByteSize(value) : undefined;
  if (n === undefined) throw new ConfigError(field, `got ${describeValue(value, field)}, expected a size`, 'write bytes as a number (1048576) or with a unit: 512kB, 16MB, 1GB');
  return n;
}

function wholeNumber(map: YamlMap, key: string, parent: string, fallback: number, min: number, max: number): number {
  const field = `${parent}.${key}`;
  const v = map[key];
  if (v === undefined || v === null) return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(field, `got ${describeValue(v, field)}, expected a whole number from ${min} to ${max}`, `write e.g. ${key}: ${fallback}`);
  }
  return n;
}

/**
 * Connection limits: a whole number, 0 = no limit. The default `max_connections` (10,000 per listener) is far above
 * any PostgreSQL `max_connections` a listener can usefully front, and keeps two full listeners (2 descriptors per
 * routed session) inside the 65,536 open files of the shipped systemd units (LimitNOFILE), so a connection flood
 * gets 53300 answers instead of starving the router of descriptors for etcd, health checks and backends.
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
const MAX_LIMIT = 1_000_000;

export interface ConnectionLimits {
  maxConnections: number;
  maxHeld: number;
  maxConnectionsPerClient: number;
}

function limit(map: YamlMap, key: string, parent: string, fallback: number): number {
  const field = parent ? `${parent}.${key}` : key;
  const v = map[key];
  if (v === undefined || v === null) return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > MAX_LIMIT) {
    throw new ConfigError(field, `got ${describeValue(v, field)}, expected a whole number of connections from 0 to ${MAX_LIMIT}`, `write e.g. ${key}: ${key === 'max_connections' ? 1000 : 100} (0 means no limit)`);
  }
  return n;
}

function connectionLimits(map: YamlMap, parent: string, defaults: ConnectionLimits): ConnectionLimits {
  const out: ConnectionLimits = {
    maxConnections: limit(map, 'max_connections', parent, defaults.maxConnections),
    maxHeld: limit(map, 'max_held', parent, defaults.maxHeld),
    maxConnectionsPerClient: limit(map, 'max_connections_per_client', parent, defaults.maxConnectionsPerClient),
  };
  const p = parent ? `${parent}.` : '';
  for (const [key, n] of [['max_held', out.maxHeld], ['max_connections_per_client', out.maxConnectionsPerClient]] as const) {
    if (out.maxConnections > 0 && n > out.maxConnections) {
      throw new ConfigError(`${p}${key}`, `${n} is above ${p}max_connections (${out.maxConnections}), so it could never be reached`, `lower it to at most ${out.maxConnections}, or raise max_connections`);
    }
  }
  return out;
}

/**
 * `proxy_protocol`: the networks trusted to send a PROXY header (a list, or one comma-separated string); `[]` or
 * false = off. Undefined when the key is absent (the listener takes the top-level value).
 */
function proxyNetworks(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === false) return [];
  const list = typeof value === 'string' ? value.split(',').map((n) => n.trim()).filter((n) => n !== '') : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (!list) {
    throw new ConfigError(field, `got ${describeValue(value, field)}, expected the list of networks trusted to send PROXY headers`, 'write e.g. proxy_protocol: [10.0.0.0/8, "fd00::/8"], or [] (or false) to turn it off');
  }
  return list.map((n, i) => {
    if (typeof n !== 'string' || !parseCidr(n)) {
      throw new ConfigError(`${field}[${i}]`, `got ${describeValue(n, field)}, which is not an IPv4 or IPv6 network`, 'write a CIDR such as 10.0.0.0/8, 192.168.1.10/32 or fd00::/8 (a bare address means just that address)');
    }
    return n.trim();
  });
}

function bool(map: YamlMap, key: string, parent: string, fallback: boolean): boolean {
  const v = map[key];
  const field = `${parent}.${key}`;
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|yes|on)$/i.test(v)) return true;
  if (typeof v === 'string' && /^(false|no|off)$/i.test(v)) return false;
  throw new ConfigError(field, `got ${describeValue(v, field)}, expected true or false`, `write ${key}: true or ${key}: false`);
}

function str(map: YamlMap, key: string, parent: string): string | undefined {
  const v = map[key];
  const field = parent ? `${parent}.${key}` : key;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(field, `got ${describeValue(v, field)}, expected a non-empty string`, `quote it: ${key}: "..."`);
  return v.trim();
}

function etcdHosts(value: unknown, field: string): string[] {
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (!list || list.length === 0) {
    throw new ConfigError(field, `got ${describeValue(value, field)}, expected host:port endpoints`, 'write e.g. hosts: [10.0.0.1:2379, 10.0.0.2:2379] or hosts: "10.0.0.1:2379,10.0.0.2:2379"');
  }
  return list.map((h, i) => {
    const text = typeof h === 'string' ? h.trim().replace(/^https?:\/\//, '') : h;
    const hp = parseHostPort(text, `${field}[${i}]`, { defaultPort: 2379, example: '127.0.0.1:2379' });
    if (!hp.host) throw new ConfigError(`${field}[${i}]`, `got ${describeValue(h, field)}, which names no host`, 'write host:port, e.g. 127.0.0.1:2379');
    return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
  });
}

/** `host:port`, `[v6]:port` or a bare port; port 0 asks the kernel for a free one (tests). */
function listenAddress(value: unknown, field: string, example: string): { host: string; port: number } {
  if (typeof value === 'number') return { host: '0.0.0.0', port: checkPort(value, field) };
  const m = typeof value === 'string' ? /^\s*(?:\[([^\]]*)\]|([^:]*|.*)):(\d+)\s*$/.exec(value) : null;
  if (!m) throw new ConfigError(field, `got ${describeValue(value, field)}, expected "host:port"`, `write it as host:port, e.g. ${example}`);
  const host = (m[1] ?? m[2] ?? '').trim();
  return { host: host === '' || host === '*' ? '0.0.0.0' : host, port: checkPort(Number(m[3]), field) };
}

function checkPort(n: number, field: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(field, `port ${n} is not from 0 to 65535`, 'use a free port, e.g. 5000');
  return n;
}

function parseBalance(value: unknown, field: string): BalanceMode {
  if (value === undefined || value === null) return 'least-connections';
  const v = typeof value === 'string' ? value.trim().toLowerCase().replace(/_/g, '-') : '';
  if (v === 'least-connections' || v === 'leastconn' || v === 'least-conn') return 'least-connections';
  if (v === 'round-robin' || v === 'roundrobin') return 'round-robin';
  throw new ConfigError(field, `got ${describeValue(value, field)}`, 'use least_connections (default) or round_robin');
}

function parseListener(raw: unknown, field: string, nameHint: string | undefined, defaults: { holdTimeoutMs: number; limits: ConnectionLimits; proxyProtocol: string[]; endSessions: EndSessionsConfig }): ListenerConfig {
  const map = section(raw, field);
  checkKeys(map, LISTENER_KEYS, field);
  const name = str(map, 'name', field) ?? nameHint;
  if (!name) throw new ConfigError(`${field}.name`, 'is missing', 'name every listener, e.g. name: write');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ConfigError(`${field}.name`, `got ${JSON.stringify(name)}`, 'use letters, digits, _ . - (it is a metric label)');
  const roleText = str(map, 'role', field);
  if (!roleText) throw new ConfigError(`${field}.role`, 'is missing', `set one of: ${ROLES.join(', ')}`);
  const role = roleText.toLowerCase().replace('_', '-') as ListenerRole;
  if (!ROLES.includes(role)) throw new ConfigError(`${field}.role`, `got ${JSON.stringify(roleText)}`, `use one of: ${ROLES.join(', ')}`);
  if (map.listen === undefined || map.listen === null) throw new ConfigError(`${field}.listen`, 'is missing', 'set the address, e.g. listen: 0.0.0.0:5000');
  const { host, port } = listenAddress(map.listen, `${field}.listen`, '0.0.0.0:5000');
  const tagsMap = section(map.tags, `${field}.tags`);
  const tagFilters: Record<string, string> = {};
  for (const [k, v] of Object.entries(tagsMap)) tagFilters[k] = typeof v === 'string' ? v : String(v).toLowerCase();
  if (role === 'primary') {
    for (const k of ['max_lag', 'max_lag_seconds', 'tags', 'include_noloadbalance', 'fallback_to_leader', 'balance', 'end_sessions']) {
      if (map[k] !== undefined) throw new ConfigError(`${field}.${k}`, 'does not apply to a primary listener (there is one write target)', `remove it, or use role: replica / read-only / any`);
    }
  }
  if (role !== 'replica' && map.fallback_to_leader !== undefined) {
    throw new ConfigError(`${field}.fallback_to_leader`, `does not apply to role ${role}`, role === 'read-only' ? 'read-only always falls back to the leader; remove it' : 'remove it');
  }
  const out: ListenerConfig = {
    name,
    role,
    host,
    port,
    balance: parseBalance(map.balance, `${field}.balance`),
    tagFilters,
    includeNoloadbalance: bool(map, 'include_noloadbalance', field, false),
    fallbackToLeader: role === 'read-only' ? true : bool(map, 'fallback_to_leader', field, false),
    requireStreaming: bool(map, 'require_streaming', field, true),
    holdTimeoutMs: duration(map, 'hold_timeout', field, defaults.holdTimeoutMs),
    ...connectionLimits(map, field, defaults.limits),
    proxyProtocol: proxyNetworks(map.proxy_protocol, `${field}.proxy_protocol`) ?? defaults.proxyProtocol,
    ...(role !== 'primary' ? { endSessions: parseEndSessions(map.end_sessions, `${field}.end_sessions`, defaults.endSessions, parseDuration) } : {}),
  };
  if (map.max_lag !== undefined && map.max_lag !== null) out.maxLagBytes = size(map.max_lag, `${field}.max_lag`);
  if (map.max_lag_seconds !== undefined && map.max_lag_seconds !== null) out.maxLagSeconds = parseDuration(map.max_lag_seconds, `${field}.max_lag_seconds`) / 1000;
  return out;
}

export function defaultListeners(
  holdTimeoutMs: number,
  limits: ConnectionLimits = { maxConnections: DEFAULT_MAX_CONNECTIONS, maxHeld: 0, maxConnectionsPerClient: 0 },
  proxyProtocol: string[] = [],
  endSessions: EndSessionsConfig = DEFAULT_END_SESSIONS,
): ListenerConfig[] {
  const base = { balance: 'least-connections' as const, tagFilters: {}, includeNoloadbalance: false, requireStreaming: true, holdTimeoutMs, ...limits, proxyProtocol };
  return [
    { ...base, name: 'write', role: 'primary', host: '0.0.0.0', port: DEFAULT_WRITE_PORT, fallbackToLeader: false },
    { ...base, name: 'read', role: 'replica', host: '0.0.0.0', port: DEFAULT_READ_PORT, fallbackToLeader: false, maxLagBytes: 16 * 1024 * 1024, endSessions },
  ];
}

/**
 * `health.cacert`, `cert`, `key`, `key_password`: the files are read when the router starts (or reloads), where
 * an unreadable one is refused naming its field. `key` defaults to `cert` (one PEM holding both, as Patroni's
 * restapi.certfile).
 */
function healthTlsFiles(h: YamlMap, verifyTls: boolean): ClientTlsFiles | undefined {
  const file = (key: string): TlsFile | undefined => {
    const v = str(h, key, 'health');
    return v === undefined ? undefined : { file: v, field: `health.${key}` };
  };
  const ca = file('cacert');
  const cert = file('cert');
  const key = file('key');
  const pw = h.key_password;
  if (ca && !verifyTls) throw new ConfigError('health.cacert', 'is set while health.verify_tls is false, so it would never be used', 'remove one of them: keep verify_tls true to check the agents\' certificates against cacert');
  if (key && !cert) throw new ConfigError('health.key', 'is set without health.cert', 'set health.cert to the client certificate this key belongs to, or remove key');
  if (pw !== undefined && pw !== null && !cert) throw new ConfigError('health.key_password', 'is set without health.cert', 'set health.cert and health.key, or remove key_password');
  if (pw !== undefined && pw !== null && typeof pw !== 'string' && typeof pw !== 'number') {
    throw new ConfigError('health.key_password', `got ${describeValue(pw, 'health.key_password')}`, 'write the password as a string');
  }
  if (!ca && !cert) return undefined;
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(pw !== undefined && pw !== null ? { passphrase: String(pw) } : {}),
  };
}

/** Validates a router document (router.yml, or the agent's `router:` section with scope/namespace/etcd added). */
export function loadRouterConfig(doc: unknown, source: string): RouterConfig {
  try {
    return load(doc, source);
  } catch (err) {
    if (err instanceof ConfigError) {
      const wrapped = new ConfigError(err.field, `${err.problem} [in ${source}]`, err.fix);
      throw wrapped;
    }
    throw err;
  }
}

function load(doc: unknown, source: string): RouterConfig {
  if (doc === null || doc === undefined) throw new ConfigError('(document)', 'is empty', 'write at least scope: and etcd: {hosts: ...}');
  const map = section(doc, '(document)');
  checkKeys(map, TOP_KEYS, '');
  const scope = str(map, 'scope', '');
  if (!scope) throw new ConfigError('scope', 'is missing', 'set the cluster name the agents use, e.g. scope: pgcluster');
  const namespace = str(map, 'namespace', '') ?? '/service/';
  if (map.etcd !== undefined && map.etcd3 !== undefined) throw new ConfigError('etcd3', 'both etcd: and etcd3: are present', 'keep one (they mean the same: the v3 API)');
  const etcdField = map.etcd3 !== undefined ? 'etcd3' : 'etcd';
  const etcdMap = section(map[etcdField], etcdField);
  checkKeys(etcdMap, ETCD_KEYS, etcdField);
  const hostsRaw = etcdMap.hosts ?? etcdMap.host;
  if (hostsRaw === undefined || hostsRaw === null) throw new ConfigError(`${etcdField}.hosts`, 'is missing', 'list the etcd endpoints, e.g. etcd: {hosts: [127.0.0.1:2379]}');
  const etcd: RouterConfig['etcd'] = {
    hosts: etcdHosts(hostsRaw, `${etcdField}.hosts`),
    deadlineMs: duration(etcdMap, 'deadline', etcdField, 5000, 100),
  };
  const username = etcdMap.username;
  const password = etcdMap.password;
  if (username !== undefined && username !== null) etcd.username = String(username);
  if (password !== undefined && password !== null) etcd.password = String(password);
  const protocol = etcdMap.protocol;
  if (protocol !== undefined && protocol !== null && protocol !== 'http' && protocol !== 'https') {
    throw new ConfigError(`${etcdField}.protocol`, `is ${JSON.stringify(protocol)}`, 'write http or https');
  }
  for (const f of ['cacert', 'cert', 'key'] as const) {
    const v = etcdMap[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !v) throw new ConfigError(`${etcdField}.${f}`, `is ${JSON.stringify(v)}`, 'give the path of a PEM file');
    etcd[f] = v;
  }
  if (etcd.cert !== undefined && etcd.key === undefined) throw new ConfigError(`${etcdField}.key`, 'is missing while cert is set', 'give the client certificate\'s key file');
  if (protocol === 'https' || etcd.cacert !== undefined || etcd.cert !== undefined) etcd.protocol = 'https';

  const holdTimeoutMs = duration(map, 'hold_timeout', '', 10_000);
  const limits = connectionLimits(map, '', { maxConnections: DEFAULT_MAX_CONNECTIONS, maxHeld: 0, maxConnectionsPerClient: 0 });
  const proxyProtocol = proxyNetworks(map.proxy_protocol, 'proxy_protocol') ?? [];
  const endSessions = parseEndSessions(map.end_sessions, 'end_sessions', DEFAULT_END_SESSIONS, parseDuration);
  let listeners: ListenerConfig[];
  if (map.listeners === undefined || map.listeners === null) {
    listeners = defaultListeners(holdTimeoutMs, limits, proxyProtocol, endSessions);
  } else if (Array.isArray(map.listeners)) {
    listeners = map.listeners.map((l, i) => parseListener(l, `listeners[${i}]`, undefined, { holdTimeoutMs, limits, proxyProtocol, endSessions }));
  } else if (isMap(map.listeners)) {
    listeners = Object.entries(map.listeners).map(([name, l]) => parseListener(l, `listeners.${name}`, name, { holdTimeoutMs, limits, proxyProtocol, endSessions }));
  } else {
    throw new ConfigError('listeners', `got ${describeValue(map.listeners, 'listeners')}`, 'write a list of listeners, each with name, listen and role');
  }
  if (listeners.length === 0) throw new ConfigError('listeners', 'is empty', 'configure at least one listener');
  const seenNames = new Set<string>();
  const seenAddr = new Map<string, string>();
  for (const l of listeners) {
    if (seenNames.has(l.name)) throw new ConfigError('listeners', `the name ${l.name} is used twice`, 'give every listener its own name');
    seenNames.add(l.name);
    if (l.port !== 0) {
      const addr = `${l.host}:${l.port}`;
      const other = seenAddr.get(addr);
      if (other) throw new ConfigError(`listeners.${l.name}.listen`, `${addr} is also the address of listener ${other}`, 'give every listener its own port');
      seenAddr.set(addr, l.name);
    }
  }

  let metrics: RouterConfig['metrics'];
  if (map.metrics !== undefined && map.metrics !== null) {
    const m = typeof map.metrics === 'string' || typeof map.metrics === 'number' ? { listen: map.metrics } : section(map.metrics, 'metrics');
    checkKeys(m, ['listen'], 'metrics');
    if (m.listen === undefined) throw new ConfigError('metrics.listen', 'is missing', 'set e.g. metrics: {listen: 127.0.0.1:9187}');
    metrics = listenAddress(m.listen, 'metrics.listen', '127.0.0.1:9187');
  }

  const h = section(map.health, 'health');
  checkKeys(h, HEALTH_KEYS, 'health');
  const intervalMs = duration(h, 'interval', 'health', 1000, 50);
  const health: RouterConfig['health'] = {
    intervalMs,
    timeoutMs: duration(h, 'timeout', 'health', Math.min(1000, intervalMs), 10),
    rise: wholeNumber(h, 'rise', 'health', 2, 1, 100),
    fall: wholeNumber(h, 'fall', 'health', 2, 1, 100),
    fastIntervalMs: duration(h, 'fast_interval', 'health', 100, 10),
    maxAgeMs: duration(h, 'max_age', 'health', Math.max(3000, 3 * intervalMs), 10),
    verifyTls: bool(h, 'verify_tls', 'health', true),
  };
  const tls = healthTlsFiles(h, health.verifyTls);
  if (tls) health.tls = tls;
  if (health.timeoutMs > health.intervalMs) {
    throw new ConfigError('health.timeout', `${health.timeoutMs} ms is longer than health.interval (${health.intervalMs} ms)`, 'a check must finish before the next one starts: lower timeout or raise interval');
  }
  if (health.maxAgeMs < health.intervalMs) {
    throw new ConfigError('health.max_age', `${health.maxAgeMs} ms is shorter than health.interval (${health.intervalMs} ms): every answer would be stale`, 'set max_age to at least 2-3 intervals');
  }

  const maxLagSeconds = Math.max(0, ...listeners.map((l) => l.maxLagSeconds ?? 0));
  const lg = section(map.lag, 'lag');
  checkKeys(lg, LAG_KEYS, 'lag');
  const position = lg.position === undefined || lg.position === null ? 'replay' : String(lg.position);
  if (position !== 'replay' && position !== 'receive') throw new ConfigError('lag.position', `got ${describeValue(lg.position, 'lag.position')}`, 'use replay (default, as Patroni) or receive');
  const lag: RouterConfig['lag'] = {
    position,
    historyMs: duration(lg, 'history', 'lag', Math.max(600_000, maxLagSeconds * 3000), 1000),
  };
  if (lag.historyMs < maxLagSeconds * 2000) {
    throw new ConfigError('lag.history', `${lag.historyMs} ms is shorter than twice the largest max_lag_seconds (${maxLagSeconds} s)`, `raise it to at least ${maxLagSeconds * 3} s`);
  }

  const ls = section(map.lease, 'lease');
  checkKeys(ls, LEASE_KEYS, 'lease');
  const lease: RouterConfig['lease'] = {
    defaultTtlMs: duration(ls, 'default_ttl', 'lease', 30_000, 1000),
    marginMs: duration(ls, 'margin', 'lease', 5000),
  };
  if (lease.marginMs >= lease.defaultTtlMs) {
    throw new ConfigError('lease.margin', `${lease.marginMs} ms is not below lease.default_ttl (${lease.defaultTtlMs} ms)`, 'the margin must leave part of the ttl, e.g. margin: 5s with ttl 30s');
  }

  const weightTag = str(map, 'weight_tag', '') ?? 'weight';
  return {
    source,
    scope,
    namespace,
    etcd,
    listeners,
    ...(metrics ? { metrics } : {}),
    health,
    lag,
    lease,
    startup: {
      timeoutMs: duration(map, 'startup_timeout', '', 10_000, 100),
      maxPacketBytes: map.max_startup_packet === undefined ? 10_000 : size(map.max_startup_packet, 'max_startup_packet'),
    },
    connectTimeoutMs: duration(map, 'connect_timeout', '', 5000, 10),
    drainTimeoutMs: duration(map, 'drain_timeout', '', 30_000),
    weightTag,
    tcpKeepaliveMs: duration(map, 'tcp_keepalive', '', 60_000),
    switchoverHoldMs: duration(map, 'switchover_hold', '', DEFAULT_SWITCHOVER_HOLD_MS),
    workers: parseWorkers(map.workers),
  };
}

/** `workers: N | auto`: processes serving the listeners (auto: one per core this process may use). */
export function parseWorkers(value: unknown, field = 'workers'): number {
  if (value === undefined || value === null) return 1;
  if (value === 'auto') return Math.max(1, availableParallelism());
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new ConfigError(field, `got ${describeValue(value, field)}, expected a whole number from 1 to 64 or auto`, 'write workers: auto (one per core) or workers: 2');
  return n;
}

const FLAG_HELP = '--etcd HOST:PORT --scope NAME [--namespace /service/] [--write ADDR:PORT] [--read ADDR:PORT] [--metrics ADDR:PORT] [--read-max-lag SIZE] [--read-max-lag-seconds N] [--read-fallback-to-leader] [--hold-timeout DURATION] [--max-connections N] [--workers N|auto] [--proxy-protocol CIDR[,CIDR...]]';

/** `pgha router --etcd HOST:PORT --scope NAME …`: the short form, validated by the same loader. */
export function parseRouterFlags(argv: string[]): RouterConfig {
  const doc: YamlMap = {};
  const etcd: string[] = [];
  let write: string | undefined;
  let read: string | undefined;
  const readExtra: YamlMap = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    const inline = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new ConfigError(flag, 'needs a value', `write ${flag} VALUE (${FLAG_HELP})`);
      return v;
    };
    switch (flag) {
      case '--etcd':
        etcd.push(...value().split(','));
        break;
      case '--scope':
        doc.scope = value();
        break;
      case '--namespace':
        doc.namespace = value();
        break;
      case '--write':
        write = value();
        break;
      case '--read':
        read = value();
        break;
      case '--metrics':
        doc.metrics = { listen: value() };
        break;
      case '--hold-timeout':
        doc.hold_timeout = value();
        break;
      case '--max-connections':
        doc.max_connections = value();
        break;
      case '--workers':
        doc.workers = value();
        break;
      case '--proxy-protocol':
        doc.proxy_protocol = value();
        break;
      case '--read-max-lag':
        readExtra.max_lag = value();
        break;
      case '--read-max-lag-seconds':
        readExtra.max_lag_seconds = value();
        break;
      case '--read-fallback-to-leader':
        readExtra.fallback_to_leader = true;
        break;
      default:
        throw new ConfigError(arg, 'is not a router flag', `use ${FLAG_HELP}, or -c router.yml`);
    }
  }
  if (etcd.length === 0) throw new ConfigError('--etcd', 'is missing', 'pass the etcd endpoint, e.g. --etcd 127.0.0.1:2379');
  doc.etcd = { hosts: etcd };
  doc.listeners = [
    { name: 'write', role: 'primary', listen: write ?? `0.0.0.0:${DEFAULT_WRITE_PORT}` },
    { name: 'read', role: 'replica', listen: read ?? `0.0.0.0:${DEFAULT_READ_PORT}`, max_lag: '16MB', ...readExtra },
  ];
  return loadRouterConfig(doc, 'command-line flags');
}
