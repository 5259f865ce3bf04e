import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse } from 'yaml';
import { loadRouterConfig, parseRouterFlags } from '../../../src/router/index';
import { ConfigError } from '../../../src/lib/errors';

const minimal = { scope: 'pgcluster', etcd: { hosts: ['10.0.0.1:2379'] } };

function refuses(doc: unknown, field: string, pattern: RegExp): void {
  assert.throws(
    () => loadRouterConfig(doc, 'router.yml'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.field, field);
      assert.match(err.message, pattern);
      assert.match(err.message, /\[in router\.yml\]/);
      return true;
    },
  );
}

describe('router.yml', () => {
  test('the minimal document gets the documented defaults', () => {
    const c = loadRouterConfig(minimal, 'router.yml');
    assert.equal(c.namespace, '/service/');
    assert.deepEqual(c.etcd.hosts, ['10.0.0.1:2379']);
    assert.deepEqual(c.listeners.map((l) => [l.name, l.role, l.host, l.port]), [['write', 'primary', '0.0.0.0', 5000], ['read', 'replica', '0.0.0.0', 5001]]);
    assert.equal(c.listeners[1]!.maxLagBytes, 16 * 1024 * 1024);
    assert.equal(c.listeners[0]!.holdTimeoutMs, 10_000);
    assert.deepEqual(c.health, { intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 2, fastIntervalMs: 100, maxAgeMs: 3000, verifyTls: true });
    assert.deepEqual(c.lease, { defaultTtlMs: 30_000, marginMs: 5000 });
    assert.equal(c.switchoverHoldMs, 30_000);
    assert.equal(c.metrics, undefined);
  });

  test('config/router.yml, the documented example, loads', () => {
    const c = loadRouterConfig(parse(readFileSync('config/router.yml', 'utf8')), 'config/router.yml');
    assert.ok(c.listeners.length >= 2);
    assert.ok(c.metrics);
  });

  test('listeners as a list or a map; units for durations and sizes', () => {
    const c = loadRouterConfig(
      {
        ...minimal,
        listeners: { w: { listen: '127.0.0.1:6000', role: 'primary', hold_timeout: '2.5s' }, r: { listen: ':6001', role: 'read-only', max_lag: '512kB', max_lag_seconds: 30, balance: 'round_robin', tags: { dc: 'east', ssd: true } } },
        hold_timeout: 3,
        health: { interval: '500ms', timeout: '250ms' },
      },
      'x',
    );
    const [w, r] = c.listeners;
    assert.equal(w!.holdTimeoutMs, 2500);
    assert.equal(r!.host, '0.0.0.0');
    assert.equal(r!.maxLagBytes, 512 * 1024);
    assert.equal(r!.maxLagSeconds, 30);
    assert.equal(r!.balance, 'round-robin');
    assert.equal(r!.fallbackToLeader, true, 'read-only always falls back');
    assert.deepEqual(r!.tagFilters, { dc: 'east', ssd: 'true' });
    assert.equal(c.health.maxAgeMs, 3000);
    assert.equal(loadRouterConfig({ ...minimal, switchover_hold: '45s' }, 'x').switchoverHoldMs, 45_000);
    assert.equal(loadRouterConfig({ ...minimal, switchover_hold: 0 }, 'x').switchoverHoldMs, 0);
  });

  test('errors name the field, the value and the fix', () => {
    refuses({ etcd: { hosts: 'a:1' } }, 'scope', /is missing.*scope: pgcluster/);
    refuses({ scope: 's' }, 'etcd.hosts', /is missing/);
    refuses({ ...minimal, listners: [] }, 'listners', /is not a router setting/);
    refuses({ ...minimal, listeners: [{ name: 'w', listen: '127.0.0.1:5000', role: 'writer' }] }, 'listeners[0].role', /"writer".*primary, replica, read-only, any/);
    refuses({ ...minimal, listeners: [{ name: 'w', listen: '127.0.0.1:5000', role: 'primary', max_lag: '1MB' }] }, 'listeners[0].max_lag', /does not apply to a primary listener/);
    refuses({ ...minimal, listeners: [{ name: 'r', listen: 'x:1', role: 'replica', max_lag: '16 bananas' }] }, 'listeners[0].max_lag', /expected a size.*16MB/);
    refuses({ ...minimal, listeners: [{ name: 'a', listen: '127.0.0.1:5000', role: 'primary' }, { name: 'b', listen: '127.0.0.1:5000', role: 'replica' }] }, 'listeners.b.listen', /also the address of listener a/);
    refuses({ ...minimal, hold_timeout: 'soon' }, 'hold_timeout', /expected a duration/);
    refuses({ ...minimal, switchover_hold: 'forever' }, 'switchover_hold', /expected a duration/);
    refuses({ ...minimal, health: { interval: '1s', timeout: '2s' } }, 'health.timeout', /longer than health.interval/);
    refuses({ ...minimal, lease: { default_ttl: 10, margin: 10 } }, 'lease.margin', /not below lease.default_ttl/);
    refuses({ ...minimal, health: { rise: 0 } }, 'health.rise', /from 1 to 100/);
    refuses({ ...minimal, listeners: [{ name: 'w', listen: '127.0.0.1:99999', role: 'primary' }] }, 'listeners[0].listen', /not from 0 to 65535/);
  });

  test('the agent router: section form (scope/namespace/etcd added by the agent)', () => {
    const c = loadRouterConfig({ listeners: [{ name: 'w', listen: '127.0.0.1:0', role: 'primary' }], scope: 'batman', namespace: '/service', etcd: { hosts: ['127.0.0.1:2379'] } }, 'node1.yml (router:)');
    assert.equal(c.scope, 'batman');
    assert.equal(c.listeners[0]!.port, 0);
  });
});

describe('workers', () => {
  test('one process unless asked; a number, or auto for one per core', () => {
    assert.equal(loadRouterConfig(minimal, 'router.yml').workers, 1);
    assert.equal(loadRouterConfig({ ...minimal, workers: 3 }, 'router.yml').workers, 3);
    assert.equal(loadRouterConfig({ ...minimal, workers: '2' }, 'router.yml').workers, 2);
    assert.equal(loadRouterConfig({ ...minimal, workers: 'auto' }, 'router.yml').workers, availableParallelism());
    assert.equal(parseRouterFlags(['--etcd', '127.0.0.1:2379', '--scope', 'demo', '--workers', 'auto']).workers, availableParallelism());
  });

  test('zero, a fraction, a word or too many: the error names the field and the fix', () => {
    for (const bad of [0, 1.5, 'many', 65, -1]) refuses({ ...minimal, workers: bad }, 'workers', /expected a whole number from 1 to 64 or auto/);
  });
});

describe('flags', () => {
  test('the short form', () => {
    const c = parseRouterFlags(['--etcd', '127.0.0.1:2379,127.0.0.2:2379', '--scope', 'demo', '--namespace', '/pg/', '--write', '127.0.0.1:7000', '--read=127.0.0.1:7001', '--metrics', '127.0.0.1:9187', '--read-max-lag', '1MB', '--read-fallback-to-leader']);
    assert.equal(c.scope, 'demo');
    assert.equal(c.namespace, '/pg/');
    assert.deepEqual(c.etcd.hosts, ['127.0.0.1:2379', '127.0.0.2:2379']);
    assert.deepEqual(c.listeners.map((l) => `${l.name}:${l.role}:${l.port}`), ['write:primary:7000', 'read:replica:7001']);
    assert.equal(c.listeners[1]!.maxLagBytes, 1024 * 1024);
    assert.equal(c.listeners[1]!.fallbackToLeader, true);
    assert.deepEqual(c.metrics, { host: '127.0.0.1', port: 9187 });
  });

  test('defaults to 5000/5001; unknown flags and missing values are refused', () => {
    const c = parseRouterFlags(['--etcd', 'e:2379', '--scope', 's']);
    assert.deepEqual(c.listeners.map((l) => l.port), [5000, 5001]);
    assert.throws(() => parseRouterFlags(['--etcd', 'e:2379', '--scope', 's', '--wirte', 'x:1']), /--wirte: is not a router flag/);
    assert.throws(() => parseRouterFlags(['--etcd']), /--etcd: needs a value/);
    assert.throws(() => parseRouterFlags(['--scope', 's']), /--etcd: is missing/);
  });
});

describe('etcd TLS and credentials', () => {
  test('cacert, cert and key turn TLS on; the credentials are kept', () => {
    const c = loadRouterConfig({ ...minimal, etcd: { hosts: ['10.0.0.1:2379'], cacert: '/ca.pem', cert: '/c.pem', key: '/c.key', username: 'u', password: 'p%1' } }, 't');
    assert.deepEqual({ ...c.etcd, deadlineMs: 0 }, { hosts: ['10.0.0.1:2379'], deadlineMs: 0, cacert: '/ca.pem', cert: '/c.pem', key: '/c.key', username: 'u', password: 'p%1', protocol: 'https' });
    assert.equal(loadRouterConfig({ ...minimal, etcd: { hosts: ['h:1'], protocol: 'https' } }, 't').etcd.protocol, 'https');
    assert.equal(loadRouterConfig(minimal, 't').etcd.protocol, undefined);
  });

  test('a cert without its key, a bad protocol or an empty path: errors name the field and the fix', () => {
    assert.throws(() => loadRouterConfig({ ...minimal, etcd: { hosts: ['h:1'], cert: '/c.pem' } }, 't'), (e: unknown) => e instanceof ConfigError && /etcd\.key/.test(e.message) && /key file/.test(e.message));
    assert.throws(() => loadRouterConfig({ ...minimal, etcd: { hosts: ['h:1'], protocol: 'ftp' } }, 't'), (e: unknown) => e instanceof ConfigError && /etcd\.protocol/.test(e.message) && /http or https/.test(e.message));
    assert.throws(() => loadRouterConfig({ ...minimal, etcd: { hosts: ['h:1'], cacert: '' } }, 't'), (e: unknown) => e instanceof ConfigError && /etcd\.cacert/.test(e.message));
  });
});

describe('connection limits', () => {
  const listener = (o: Record<string, unknown>) => ({ ...minimal, listeners: [{ name: 'w', listen: '127.0.0.1:0', role: 'primary', ...o }] });

  test('default: 10,000 connections per listener, no held or per-client limit; top-level values are listener defaults', () => {
    const c = loadRouterConfig(minimal, 't');
    for (const l of c.listeners) assert.deepEqual([l.maxConnections, l.maxHeld, l.maxConnectionsPerClient], [10_000, 0, 0]);
    const d = loadRouterConfig({ ...listener({ max_held: 5 }), max_connections: 100, max_connections_per_client: '20' }, 't');
    assert.deepEqual([d.listeners[0]!.maxConnections, d.listeners[0]!.maxHeld, d.listeners[0]!.maxConnectionsPerClient], [100, 5, 20]);
    assert.equal(loadRouterConfig(listener({ max_connections: 0 }), 't').listeners[0]!.maxConnections, 0, '0 = no limit');
    assert.equal(parseRouterFlags(['--etcd', 'e:1', '--scope', 's', '--max-connections', '500']).listeners[1]!.maxConnections, 500);
  });

  test('errors name the field and the fix', () => {
    refuses(listener({ max_connections: -1 }), 'listeners[0].max_connections', /expected a whole number of connections from 0 to 1000000.*0 means no limit/);
    refuses(listener({ max_connections: 'lots' }), 'listeners[0].max_connections', /"lots"|lots/);
    refuses({ ...minimal, max_held: 2.5 }, 'max_held', /whole number/);
    refuses(listener({ max_connections: 10, max_held: 11 }), 'listeners[0].max_held', /above listeners\[0\]\.max_connections \(10\).*lower it to at most 10/);
    refuses({ ...minimal, max_connections: 10, max_connections_per_client: 50 }, 'max_connections_per_client', /above max_connections \(10\)/);
  });
});

describe('health checks over TLS', () => {
  test('cacert, cert, key and key_password are kept; key defaults to cert when absent', () => {
    const c = loadRouterConfig({ ...minimal, health: { cacert: '/ca.pem', cert: '/c.pem', key: '/c.key', key_password: 'pw' } }, 't');
    assert.deepEqual(c.health.tls, {
      ca: { file: '/ca.pem', field: 'health.cacert' }, cert: { file: '/c.pem', field: 'health.cert' }, key: { file: '/c.key', field: 'health.key' }, passphrase: 'pw',
    });
    assert.deepEqual(loadRouterConfig({ ...minimal, health: { cert: '/both.pem' } }, 't').health.tls, { cert: { file: '/both.pem', field: 'health.cert' } });
    assert.equal(loadRouterConfig(minimal, 't').health.tls, undefined);
  });

  test('errors name the field and the fix', () => {
    refuses({ ...minimal, health: { key: '/c.key' } }, 'health.key', /without health\.cert.*set health\.cert/);
    refuses({ ...minimal, health: { key_password: 'x' } }, 'health.key_password', /without health\.cert/);
    refuses({ ...minimal, health: { cacert: '/ca.pem', verify_tls: false } }, 'health.cacert', /verify_tls is false.*remove one/);
    refuses({ ...minimal, health: { cacert: '' } }, 'health.cacert', /non-empty string/);
    refuses({ ...minimal, health: { certfile: '/c.pem' } }, 'health.certfile', /is not a router setting.*cacert, cert, key, key_password/);
  });
});

describe('proxy_protocol (trusted networks for PROXY headers)', () => {
  test('off by default; the top level applies to every listener; a listener overrides it ([] or false: off)', () => {
    assert.deepEqual(loadRouterConfig(minimal, 't').listeners.map((l) => l.proxyProtocol), [[], []]);
    const c = loadRouterConfig({
      ...minimal,
      proxy_protocol: ['10.0.0.0/8', 'fd00::/8'],
      listeners: [
        { name: 'w', listen: '127.0.0.1:0', role: 'primary' },
        { name: 'r', listen: '127.0.0.1:0', role: 'replica', proxy_protocol: '192.168.0.0/16, 127.0.0.1' },
        { name: 'direct', listen: '127.0.0.1:0', role: 'any', proxy_protocol: false },
        { name: 'direct2', listen: '127.0.0.1:0', role: 'any', proxy_protocol: [] },
      ],
    }, 't');
    assert.deepEqual(c.listeners.map((l) => l.proxyProtocol), [['10.0.0.0/8', 'fd00::/8'], ['192.168.0.0/16', '127.0.0.1'], [], []]);
    const f = parseRouterFlags(['--etcd', 'e:1', '--scope', 's', '--proxy-protocol', '10.0.0.0/8,::1']);
    assert.deepEqual(f.listeners.map((l) => l.proxyProtocol), [['10.0.0.0/8', '::1'], ['10.0.0.0/8', '::1']]);
  });

  test('a bad network is refused naming its field and the fix', () => {
    refuses({ ...minimal, proxy_protocol: ['10.0.0.0/8', '10.0.0.0/33'] }, 'proxy_protocol[1]', /not an IPv4 or IPv6 network.*CIDR such as 10\.0\.0\.0\/8/);
    refuses({ ...minimal, listeners: [{ name: 'w', listen: '127.0.0.1:0', role: 'primary', proxy_protocol: ['lb.example.com'] }] }, 'listeners[0].proxy_protocol[0]', /lb\.example\.com/);
    refuses({ ...minimal, proxy_protocol: true }, 'proxy_protocol', /expected the list of networks.*\[\] \(or false\) to turn it off/);
    assert.throws(() => parseRouterFlags(['--etcd', 'e:1', '--scope', 's', '--proxy-protocol', '10.0.0.0/99']), /proxy_protocol\[0\]/);
  });
});

describe('end_sessions (read sessions follow the role)', () => {
  const reads = (doc: Record<string, unknown>) => loadRouterConfig(doc, 't').listeners.filter((l) => l.role !== 'primary').map((l) => l.endSessions);

  test('defaults: promotion at once, lag and tags never; the write listener has none', () => {
    const c = loadRouterConfig(minimal, 't');
    assert.equal(c.listeners[0]!.endSessions, undefined);
    assert.deepEqual(c.listeners[1]!.endSessions, { promoted: 0, lag: 'never', tags: 'never' });
  });

  test('top level, then per listener key by key; durations as elsewhere, never in any case', () => {
    const doc = {
      ...minimal,
      end_sessions: { lag: '30s', tags: 'NEVER' },
      listeners: [
        { name: 'read', role: 'replica', listen: '127.0.0.1:5001' },
        { name: 'olap', role: 'read-only', listen: '127.0.0.1:5002', end_sessions: { promoted: 'never', tags: '5m' } },
      ],
    };
    assert.deepEqual(reads(doc), [{ promoted: 0, lag: 30_000, tags: 'never' }, { promoted: 'never', lag: 30_000, tags: 300_000 }]);
    assert.deepEqual(reads({ ...minimal, end_sessions: { promoted: 2 } }), [{ promoted: 2000, lag: 'never', tags: 'never' }]);
  });

  test('errors name the field and the fix', () => {
    refuses({ ...minimal, end_sessions: { lag: 'sometimes' } }, 'end_sessions.lag', /expected a grace or never.*or never \(e\.g\. end_sessions: \{promoted: 0s/);
    refuses({ ...minimal, end_sessions: { demoted: '1s' } }, 'end_sessions.demoted', /is not a cause that ends read sessions.*promoted, lag, tags/);
    refuses({ ...minimal, end_sessions: '10s' }, 'end_sessions', /expected a map of causes/);
    refuses({ ...minimal, end_sessions: { tags: -1 } }, 'end_sessions.tags', /expected a grace or never/);
    refuses(
      { ...minimal, listeners: [{ name: 'w', role: 'primary', listen: '127.0.0.1:5000', end_sessions: { promoted: 0 } }] },
      'listeners[0].end_sessions',
      /does not apply to a primary listener/,
    );
    refuses({ ...minimal, listeners: [{ name: 'r', role: 'replica', listen: '127.0.0.1:5001', end_sessions: { lag: 1e300 } }] }, 'listeners[0].end_sessions.lag', /longer than the longest timer/);
  });
});

describe('pool modes (pool_mode, pool:)', () => {
  test('defaults: every listener passthrough; pool limits as PgBouncer, queue_timeout = hold_timeout', () => {
    const c = loadRouterConfig({ ...minimal, hold_timeout: '7s' }, 'router.yml');
    assert.deepEqual(c.listeners.map((l) => l.poolMode), ['passthrough', 'passthrough']);
    assert.deepEqual(c.pool, { size: 20, minIdle: 0, idleTimeoutMs: 600_000, lifetimeMs: 3_600_000, queueTimeoutMs: 7000, resetQuery: 'DISCARD ALL' });
  });

  test('a listener in transaction mode, and the pool section', () => {
    const c = loadRouterConfig(
      { ...minimal, listeners: [{ name: 'w', listen: ':6000', role: 'primary', pool_mode: 'transaction' }], pool: { size: 5, min_idle: 1, idle_timeout: '30s', lifetime: '5m', queue_timeout: '2s', reset_query: '' } },
      'x',
    );
    assert.equal(c.listeners[0]!.poolMode, 'transaction');
    assert.deepEqual(c.pool, { size: 5, minIdle: 1, idleTimeoutMs: 30_000, lifetimeMs: 300_000, queueTimeoutMs: 2000, resetQuery: '' });
  });

  test('errors', () => {
    refuses({ ...minimal, listeners: [{ name: 'w', listen: ':6000', role: 'primary', pool_mode: 'statement' }] }, 'listeners[0].pool_mode', /"statement".*passthrough, session, transaction/);
    refuses({ ...minimal, pool: { size: 0 } }, 'pool.size', /from 1 to/);
    refuses({ ...minimal, pool: { size: 2, min_idle: 3 } }, 'pool.min_idle', /above pool.size/);
    refuses({ ...minimal, pool: { sise: 2 } }, 'pool.sise', /is not a router setting/);
  });

  test('pooled listeners run with workers: each worker has its own pools of pool.size', () => {
    const c = loadRouterConfig({ ...minimal, workers: 2, listeners: [{ name: 'w', listen: ':6000', role: 'primary', pool_mode: 'session' }], pool: { size: 4 } }, 'x');
    assert.equal(c.workers, 2);
    assert.equal(c.pool.size, 4);
  });

  test('flags: --pool-mode applies to every listener, --pool-size to every pool', () => {
    const c = parseRouterFlags(['--etcd', '127.0.0.1:2379', '--scope', 's', '--pool-mode', 'transaction', '--pool-size=7']);
    assert.deepEqual(c.listeners.map((l) => l.poolMode), ['transaction', 'transaction']);
    assert.equal(c.pool.size, 7);
    assert.throws(() => parseRouterFlags(['--etcd', 'h:1', '--scope', 's', '--pool-mode', 'bogus']), /pool_mode/);
  });
});
