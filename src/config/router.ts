/**
 * The router's configuration: `router.yml`, the short flag form (router-flags.ts), and the agent YAML's `router:`
 * section (same schema; scope, namespace and etcd come from the agent). Every error names the field, the value
 * seen and the fix (ConfigError). Durations: a number of seconds or a string with a unit (`250ms`, `10s`, `2m`;
 * duration.ts); sizes: a number of bytes or a string with Patroni's units (`512kB`, `16MB`, `1GB`). The etcd
 * section is the agent's (router-etcd.ts). See docs/router.md and config/router.yml.
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from '../lib/errors';
import type { ClientTlsFiles, TlsFile } from '../lib/json-get';
import { DEFAULT_END_SESSIONS } from '../router/read-follow';
import { DEFAULT_SWITCHOVER_HOLD_MS } from '../router/routing';
import type { RouterConfig } from '../router/types';
import { optionalDuration } from './duration';
import { parseAuth } from './router-auth';
import { parseEndSessions } from './router-end-sessions';
import { parseRouterEtcd } from './router-etcd';
import { parseRouterDrain } from './router-drain';
import { parsePool } from './router-pool';
import { parseRouterTls } from './router-tls';
import { DEFAULT_MAX_CONNECTIONS, connectionLimits, parseListeners, proxyNetworks } from './router-listeners';
import { checkKeys, listenAddress, section, size, str, wholeNumber } from './router-values';
import { describeValue, optionalBool, type YamlMap } from './values';

const TOP_KEYS = [
  'scope', 'namespace', 'etcd', 'etcd3', 'listeners', 'metrics', 'health', 'lag', 'lease', 'hold_timeout',
  'startup_timeout', 'max_startup_packet', 'connect_timeout', 'drain_timeout', 'weight_tag', 'tcp_keepalive',
  'switchover_hold', 'max_connections', 'max_held', 'max_connections_per_client', 'workers', 'proxy_protocol', 'end_sessions',
  'switchover_drain',
  'pool',
  'auth',
  'tls',
];
const HEALTH_KEYS = ['interval', 'timeout', 'rise', 'fall', 'fast_interval', 'max_age', 'verify_tls', 'cacert', 'cert', 'key', 'key_password'];
const LAG_KEYS = ['position', 'history'];
const LEASE_KEYS = ['default_ttl', 'margin'];

/** Validates a router document (router.yml, or the agent's `router:` section with scope/namespace/etcd added). */
export function loadRouterConfig(doc: unknown, source: string): RouterConfig {
  try {
    return load(doc, source);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.field, `${err.problem} [in ${source}]`, err.fix);
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
  const warnings: string[] = [];
  const etcd = parseRouterEtcd(map, warnings);

  const holdTimeoutMs = optionalDuration(map, 'hold_timeout', '', 10_000);
  const listeners = parseListeners(map.listeners, {
    holdTimeoutMs,
    limits: connectionLimits(map, '', { maxConnections: DEFAULT_MAX_CONNECTIONS, maxHeld: 0, maxConnectionsPerClient: 0 }),
    proxyProtocol: proxyNetworks(map.proxy_protocol, 'proxy_protocol') ?? [],
    endSessions: parseEndSessions(map.end_sessions, 'end_sessions', DEFAULT_END_SESSIONS),
  });

  const tls = parseRouterTls(map.tls);
  let metrics: RouterConfig['metrics'];
  if (map.metrics !== undefined && map.metrics !== null) {
    const m = typeof map.metrics === 'string' || typeof map.metrics === 'number' ? { listen: map.metrics } : section(map.metrics, 'metrics');
    checkKeys(m, ['listen'], 'metrics');
    if (m.listen === undefined) throw new ConfigError('metrics.listen', 'is missing', 'set e.g. metrics: {listen: 127.0.0.1:9187}');
    metrics = listenAddress(m.listen, 'metrics.listen', '127.0.0.1:9187');
  }

  const maxLagSeconds = Math.max(0, ...listeners.map((l) => l.maxLagSeconds ?? 0));
  const workers = parseWorkers(map.workers);
  return {
    source,
    scope,
    namespace,
    etcd,
    listeners,
    ...(metrics ? { metrics } : {}),
    health: parseHealth(section(map.health, 'health')),
    lag: parseLag(section(map.lag, 'lag'), maxLagSeconds),
    lease: parseLease(section(map.lease, 'lease')),
    startup: {
      timeoutMs: optionalDuration(map, 'startup_timeout', '', 10_000, 100),
      maxPacketBytes: map.max_startup_packet === undefined ? 10_000 : size(map.max_startup_packet, 'max_startup_packet'),
    },
    connectTimeoutMs: optionalDuration(map, 'connect_timeout', '', 5000, 10),
    drainTimeoutMs: optionalDuration(map, 'drain_timeout', '', 30_000),
    weightTag: str(map, 'weight_tag', '') ?? 'weight',
    tcpKeepaliveMs: optionalDuration(map, 'tcp_keepalive', '', 60_000),
    switchoverHoldMs: optionalDuration(map, 'switchover_hold', '', DEFAULT_SWITCHOVER_HOLD_MS),
    workers,
    pool: parsePool(map.pool, holdTimeoutMs),
    ...(map.auth !== undefined && map.auth !== null ? { auth: parseAuth(map.auth) } : {}),
    switchoverDrain: parseRouterDrain(map.switchover_drain),
    ...(tls ? { tls } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

function parseHealth(h: YamlMap): RouterConfig['health'] {
  checkKeys(h, HEALTH_KEYS, 'health');
  const intervalMs = optionalDuration(h, 'interval', 'health', 1000, 50);
  const health: RouterConfig['health'] = {
    intervalMs,
    timeoutMs: optionalDuration(h, 'timeout', 'health', Math.min(1000, intervalMs), 10),
    rise: wholeNumber(h, 'rise', 'health', 2, 1, 100),
    fall: wholeNumber(h, 'fall', 'health', 2, 1, 100),
    fastIntervalMs: optionalDuration(h, 'fast_interval', 'health', 100, 10),
    maxAgeMs: optionalDuration(h, 'max_age', 'health', Math.max(3000, 3 * intervalMs), 10),
    verifyTls: optionalBool(h, 'verify_tls', 'health') ?? true,
  };
  const tls = healthTlsFiles(h, health.verifyTls);
  if (tls) health.tls = tls;
  if (health.timeoutMs > health.intervalMs) {
    throw new ConfigError('health.timeout', `${health.timeoutMs} ms is longer than health.interval (${health.intervalMs} ms)`, 'a check must finish before the next one starts: lower timeout or raise interval');
  }
  if (health.maxAgeMs < health.intervalMs) {
    throw new ConfigError('health.max_age', `${health.maxAgeMs} ms is shorter than health.interval (${health.intervalMs} ms): every answer would be stale`, 'set max_age to at least 2-3 intervals');
  }
  return health;
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

function parseLag(lg: YamlMap, maxLagSeconds: number): RouterConfig['lag'] {
  checkKeys(lg, LAG_KEYS, 'lag');
  const position = lg.position === undefined || lg.position === null ? 'replay' : String(lg.position);
  if (position !== 'replay' && position !== 'receive') throw new ConfigError('lag.position', `got ${describeValue(lg.position, 'lag.position')}`, 'use replay (default, as Patroni) or receive');
  const lag: RouterConfig['lag'] = {
    position,
    historyMs: optionalDuration(lg, 'history', 'lag', Math.max(600_000, maxLagSeconds * 3000), 1000),
  };
  if (lag.historyMs < maxLagSeconds * 2000) {
    throw new ConfigError('lag.history', `${lag.historyMs} ms is shorter than twice the largest max_lag_seconds (${maxLagSeconds} s)`, `raise it to at least ${maxLagSeconds * 3} s`);
  }
  return lag;
}

function parseLease(ls: YamlMap): RouterConfig['lease'] {
  checkKeys(ls, LEASE_KEYS, 'lease');
  const lease: RouterConfig['lease'] = {
    defaultTtlMs: optionalDuration(ls, 'default_ttl', 'lease', 30_000, 1000),
    marginMs: optionalDuration(ls, 'margin', 'lease', 5000),
  };
  if (lease.marginMs >= lease.defaultTtlMs) {
    throw new ConfigError('lease.margin', `${lease.marginMs} ms is not below lease.default_ttl (${lease.defaultTtlMs} ms)`, 'the margin must leave part of the ttl, e.g. margin: 5s with ttl 30s');
  }
  return lease;
}

/** `workers: N | auto`: processes serving the listeners (auto: one per core this process may use). */
export function parseWorkers(value: unknown, field = 'workers'): number {
  if (value === undefined || value === null) return 1;
  if (value === 'auto') return Math.max(1, availableParallelism());
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new ConfigError(field, `got ${describeValue(value, field)}, expected a whole number from 1 to 64 or auto`, 'write workers: auto (one per core) or workers: 2');
  return n;
}
