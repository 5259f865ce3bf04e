/**
 * The router's listeners (`listeners:` as a list or a map, or the default write/read pair) and what a listener
 * inherits from the top level: hold_timeout, the connection limits, proxy_protocol and end_sessions.
 */
import { ConfigError } from '../lib/errors';
import { parseCidr } from '../router/cidr';
import { DEFAULT_END_SESSIONS } from '../router/read-follow';
import type { BalanceMode, EndSessionsConfig, ListenerConfig, ListenerRole } from '../router/types';
import { optionalDuration, parseDuration } from './duration';
import { parseEndSessions } from './router-end-sessions';
import { parsePoolMode } from './router-pool';
import { checkKeys, listenAddress, section, size, str, wholeNumberIn } from './router-values';
import { describeValue, isMap, join, optionalBool, type YamlMap } from './values';

export const DEFAULT_WRITE_PORT = 5000;
export const DEFAULT_READ_PORT = 5001;

const LISTENER_KEYS = [
  'name', 'listen', 'role', 'max_lag', 'max_lag_seconds', 'balance', 'tags', 'include_noloadbalance',
  'fallback_to_leader', 'require_streaming', 'hold_timeout', 'max_connections', 'max_held', 'max_connections_per_client',
  'proxy_protocol', 'end_sessions', 'pool_mode',
];
const ROLES: readonly ListenerRole[] = ['primary', 'replica', 'read-only', 'any'];

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

/** What every listener takes from the top level unless it sets its own. */
export interface ListenerDefaults {
  holdTimeoutMs: number;
  limits: ConnectionLimits;
  proxyProtocol: string[];
  endSessions: EndSessionsConfig;
}

function limit(map: YamlMap, key: string, parent: string, fallback: number): number {
  const field = join(parent, key);
  const n = wholeNumberIn(map[key], 0, MAX_LIMIT);
  if (n === 'bad') {
    throw new ConfigError(field, `got ${describeValue(map[key], field)}, expected a whole number of connections from 0 to ${MAX_LIMIT}`, `write e.g. ${key}: ${key === 'max_connections' ? 1000 : 100} (0 means no limit)`);
  }
  return n ?? fallback;
}

export function connectionLimits(map: YamlMap, parent: string, defaults: ConnectionLimits): ConnectionLimits {
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
export function proxyNetworks(value: unknown, field: string): string[] | undefined {
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

function parseBalance(value: unknown, field: string): BalanceMode {
  if (value === undefined || value === null) return 'least-connections';
  const v = typeof value === 'string' ? value.trim().toLowerCase().replace(/_/g, '-') : '';
  if (v === 'least-connections' || v === 'leastconn' || v === 'least-conn') return 'least-connections';
  if (v === 'round-robin' || v === 'roundrobin') return 'round-robin';
  throw new ConfigError(field, `got ${describeValue(value, field)}`, 'use least_connections (default) or round_robin');
}

function parseListener(raw: unknown, field: string, nameHint: string | undefined, defaults: ListenerDefaults): ListenerConfig {
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
    includeNoloadbalance: optionalBool(map, 'include_noloadbalance', field) ?? false,
    fallbackToLeader: role === 'read-only' ? true : optionalBool(map, 'fallback_to_leader', field) ?? false,
    requireStreaming: optionalBool(map, 'require_streaming', field) ?? true,
    holdTimeoutMs: optionalDuration(map, 'hold_timeout', field, defaults.holdTimeoutMs),
    ...connectionLimits(map, field, defaults.limits),
    proxyProtocol: proxyNetworks(map.proxy_protocol, `${field}.proxy_protocol`) ?? defaults.proxyProtocol,
    poolMode: parsePoolMode(map.pool_mode, `${field}.pool_mode`),
    ...(role !== 'primary' ? { endSessions: parseEndSessions(map.end_sessions, `${field}.end_sessions`, defaults.endSessions) } : {}),
  };
  if (map.max_lag !== undefined && map.max_lag !== null) out.maxLagBytes = size(map.max_lag, `${field}.max_lag`);
  if (map.max_lag_seconds !== undefined && map.max_lag_seconds !== null) out.maxLagSeconds = parseDuration(map.max_lag_seconds, `${field}.max_lag_seconds`) / 1000;
  return out;
}

/** `listeners:` as a list (each with its name) or a map (name → listener); absent: the default pair. */
export function parseListeners(value: unknown, defaults: ListenerDefaults): ListenerConfig[] {
  let listeners: ListenerConfig[];
  if (value === undefined || value === null) {
    listeners = defaultListeners(defaults.holdTimeoutMs, defaults.limits, defaults.proxyProtocol, defaults.endSessions);
  } else if (Array.isArray(value)) {
    listeners = value.map((l, i) => parseListener(l, `listeners[${i}]`, undefined, defaults));
  } else if (isMap(value)) {
    listeners = Object.entries(value).map(([name, l]) => parseListener(l, `listeners.${name}`, name, defaults));
  } else {
    throw new ConfigError('listeners', `got ${describeValue(value, 'listeners')}`, 'write a list of listeners, each with name, listen and role');
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
  return listeners;
}

export function defaultListeners(
  holdTimeoutMs: number,
  limits: ConnectionLimits = { maxConnections: DEFAULT_MAX_CONNECTIONS, maxHeld: 0, maxConnectionsPerClient: 0 },
  proxyProtocol: string[] = [],
  endSessions: EndSessionsConfig = DEFAULT_END_SESSIONS,
): ListenerConfig[] {
  const base = { balance: 'least-connections' as const, tagFilters: {}, includeNoloadbalance: false, requireStreaming: true, holdTimeoutMs, ...limits, proxyProtocol, poolMode: 'passthrough' as const };
  return [
    { ...base, name: 'write', role: 'primary', host: '0.0.0.0', port: DEFAULT_WRITE_PORT, fallbackToLeader: false },
    { ...base, name: 'read', role: 'replica', host: '0.0.0.0', port: DEFAULT_READ_PORT, fallbackToLeader: false, maxLagBytes: 16 * 1024 * 1024, endSessions },
  ];
}
