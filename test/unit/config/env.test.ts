import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEnvironmentOverrides, parseEnvList } from '../../../src/config/env';
import { assertConfigError, minimalDoc, parse, parseEdited, section } from './helpers';

test('parseEnvList reads both of Patroni\'s forms', () => {
  assert.deepEqual(parseEnvList("'h1:2379','h2:2379'"), ['h1:2379', 'h2:2379']);
  assert.deepEqual(parseEnvList('h1:2379,h2:2379'), ['h1:2379', 'h2:2379']);
  assert.deepEqual(parseEnvList('h1:2379, h2:2379'), ['h1:2379', 'h2:2379']);
  assert.deepEqual(parseEnvList('[h1:2379, h2:2379]'), ['h1:2379', 'h2:2379']);
  assert.deepEqual(parseEnvList('- h1:2379\n- h2:2379'), ['h1:2379', 'h2:2379']);
});

test('PATRONI_SCOPE, PATRONI_NAMESPACE, PATRONI_NAME override the file', () => {
  const c = parse(minimalDoc(), { PATRONI_SCOPE: 'other', PATRONI_NAMESPACE: 'pgha/', PATRONI_NAME: 'node9' });
  assert.equal(c.scope, 'other');
  assert.equal(c.namespace, '/pgha');
  assert.equal(c.name, 'node9');
});

test('an empty PATRONI_* value counts as unset, as in Patroni', () => {
  assert.equal(parse(minimalDoc(), { PATRONI_NAME: '' }).name, 'node1');
});

test('PATRONI_RESTAPI_LISTEN, _CONNECT_ADDRESS, _USERNAME, _PASSWORD', () => {
  const c = parse(minimalDoc(), {
    PATRONI_RESTAPI_LISTEN: '0.0.0.0:9008',
    PATRONI_RESTAPI_CONNECT_ADDRESS: '10.0.0.1:9008',
    PATRONI_RESTAPI_USERNAME: 'api',
    PATRONI_RESTAPI_PASSWORD: 'test%123',
  });
  assert.deepEqual(c.restapi.listen, { host: '0.0.0.0', port: 9008 });
  assert.deepEqual(c.restapi.connectAddress, { host: '10.0.0.1', port: 9008 });
  assert.deepEqual(c.restapi.authentication, { username: 'api', password: 'test%123' });
});

for (const dcs of ['ETCD', 'ETCD3'] as const) {
  const key = dcs.toLowerCase();
  const withSection = (doc: Record<string, unknown>): void => {
    delete doc.etcd3;
    doc[key] = { hosts: 'file-host:2379' };
  };

  test(`PATRONI_${dcs}_HOSTS in both list forms replaces the file's endpoints`, () => {
    for (const value of ["'h1:2379','h2:2380'", 'h1:2379,h2:2380']) {
      const c = parseEdited(withSection, { [`PATRONI_${dcs}_HOSTS`]: value });
      assert.equal(c.etcd.section, key);
      assert.deepEqual(c.etcd.hosts, [{ host: 'h1', port: 2379 }, { host: 'h2', port: 2380 }]);
    }
  });

  test(`PATRONI_${dcs}_HOST wins over a hosts: list in the file (Patroni would keep the file's)`, () => {
    const c = parseEdited(withSection, { [`PATRONI_${dcs}_HOST`]: 'envhost' });
    assert.deepEqual(c.etcd.hosts, [{ host: 'envhost', port: 2379 }]);
  });

  test(`PATRONI_${dcs}_URL sets protocol, host and port`, () => {
    const c = parseEdited(withSection, { [`PATRONI_${dcs}_URL`]: 'https://etcd.example:2479' });
    assert.deepEqual(c.etcd.hosts, [{ host: 'etcd.example', port: 2479 }]);
    assert.equal(c.etcd.protocol, 'https');
  });

  test(`PATRONI_${dcs}_PROTOCOL, _USERNAME, _PASSWORD, _CACERT, _CERT, _KEY`, () => {
    const c = parseEdited(withSection, {
      [`PATRONI_${dcs}_PROTOCOL`]: 'https',
      [`PATRONI_${dcs}_USERNAME`]: 'root',
      [`PATRONI_${dcs}_PASSWORD`]: 'test%123',
      [`PATRONI_${dcs}_CACERT`]: '/etc/etcd/ca.pem',
      [`PATRONI_${dcs}_CERT`]: '/etc/etcd/client.pem',
      [`PATRONI_${dcs}_KEY`]: '/etc/etcd/client-key.pem',
    });
    assert.deepEqual(c.etcd, {
      section: key,
      hosts: [{ host: 'file-host', port: 2379 }],
      protocol: 'https',
      username: 'root',
      password: 'test%123',
      cacert: '/etc/etcd/ca.pem',
      cert: '/etc/etcd/client.pem',
      key: '/etc/etcd/client-key.pem',
    });
    assert.deepEqual(c.bootstrap.users, {}, `PATRONI_${dcs}_PASSWORD is not taken for a bootstrap user`);
  });

  test(`PATRONI_${dcs}_HOSTS alone creates the ${key}: section`, () => {
    const c = parseEdited((doc) => delete doc.etcd3, { [`PATRONI_${dcs}_HOSTS`]: '127.0.0.1:2379' });
    assert.equal(c.etcd.section, key);
  });
}

test('PATRONI_ETCD_HOSTS next to a file etcd3: section is the both-sections error, naming the fix', () => {
  assertConfigError(() => parse(minimalDoc(), { PATRONI_ETCD_HOSTS: '127.0.0.1:2379' }), 'etcd3', ['both etcd: and etcd3:', 'PATRONI_ETCD_HOSTS created or changed one of them', 'keep only etcd3:']);
});

test('PATRONI_POSTGRESQL_LISTEN, _CONNECT_ADDRESS, _DATA_DIR, _BIN_DIR, _PGPASS', () => {
  const c = parse(minimalDoc(), {
    PATRONI_POSTGRESQL_LISTEN: '127.0.0.1,10.0.0.1:6432',
    PATRONI_POSTGRESQL_CONNECT_ADDRESS: '10.0.0.1:6432',
    PATRONI_POSTGRESQL_DATA_DIR: '/data/pg15',
    PATRONI_POSTGRESQL_BIN_DIR: '/usr/lib/postgresql/15/bin',
    PATRONI_POSTGRESQL_PGPASS: '/tmp/pgpass0',
  });
  assert.deepEqual(c.postgresql.listen, { hosts: ['127.0.0.1', '10.0.0.1'], port: 6432 });
  assert.deepEqual(c.postgresql.connectAddress, { host: '10.0.0.1', port: 6432 });
  assert.equal(c.postgresql.dataDir, '/data/pg15');
  assert.equal(c.postgresql.binDir, '/usr/lib/postgresql/15/bin');
  assert.equal(c.postgresql.pgpass, '/tmp/pgpass0');
});

test('PATRONI_SUPERUSER_*, PATRONI_REPLICATION_*, PATRONI_REWIND_* (with libpq settings)', () => {
  const c = parse(minimalDoc(), {
    PATRONI_SUPERUSER_USERNAME: 'admin',
    PATRONI_SUPERUSER_PASSWORD: 'test%123',
    PATRONI_REPLICATION_USERNAME: 'rep',
    PATRONI_REPLICATION_PASSWORD: 'test%123',
    PATRONI_REPLICATION_SSLMODE: 'require',
    PATRONI_REWIND_USERNAME: 'rewinder',
    PATRONI_REWIND_PASSWORD: 'rw',
  });
  assert.deepEqual(c.postgresql.authentication, {
    superuser: { username: 'admin', password: 'test%123' },
    replication: { username: 'rep', password: 'test%123', libpq: { sslmode: 'require' } },
    rewind: { username: 'rewinder', password: 'rw' },
  });
});

test('PATRONI_<USER>_PASSWORD / _OPTIONS set bootstrap.users; an existing user is matched case-insensitively', () => {
  const c = parseEdited(
    (doc) => { doc.bootstrap = { users: { admin: { password: 'old', options: ['createrole'] } } }; },
    { PATRONI_ADMIN_PASSWORD: 'test%123', PATRONI_APP_USER_PASSWORD: 'app', PATRONI_APP_USER_OPTIONS: 'createdb,"connection limit 5"' },
  );
  assert.deepEqual(c.bootstrap.users, {
    admin: { password: 'test%123', options: ['createrole'] },
    app_user: { password: 'app', options: ['createdb', 'connection limit 5'] },
  });
});

test('PATRONI_LOG_LEVEL and the legacy PATRONI_LOGLEVEL map onto pino levels', () => {
  assert.equal(parse(minimalDoc(), { PATRONI_LOG_LEVEL: 'WARNING' }).log.level, 'warn');
  assert.equal(parse(minimalDoc(), { PATRONI_LOGLEVEL: 'DEBUG' }).log.level, 'debug');
  assert.equal(parse(minimalDoc(), { PATRONI_LOGLEVEL: 'DEBUG', PATRONI_LOG_LEVEL: 'ERROR' }).log.level, 'error');
  assert.equal(parse(minimalDoc()).log.level, 'info');
});

test('a bad value set by env names the variable in the error', () => {
  assertConfigError(() => parse(minimalDoc(), { PATRONI_RESTAPI_LISTEN: 'localhost' }), 'restapi.listen', ['"localhost" from PATRONI_RESTAPI_LISTEN', 'add the port']);
  assertConfigError(() => parse(minimalDoc(), { PATRONI_ETCD3_PORT: 'abc' }), 'PATRONI_ETCD3_PORT', ['cannot be read as a port number']);
});

test('a stray PATRONI_CONSUL_HOST creates a consul section and is refused, naming the variable', () => {
  assertConfigError(() => parse(minimalDoc(), { PATRONI_CONSUL_HOST: '127.0.0.1:8500' }), 'consul', ['PATRONI_CONSUL_HOST', 'etcd v3 only', 'unset PATRONI_CONSUL_HOST']);
});

test('applyEnvironmentOverrides reports the variables it read and leaves the input untouched', () => {
  const doc = minimalDoc();
  const before = structuredClone(doc);
  const result = applyEnvironmentOverrides(doc, { PATRONI_NAME: 'x', PATRONI_SUPERUSER_PASSWORD: 's', HOME: '/root', PATRONI_UNKNOWN_THING: '1' });
  assert.deepEqual(doc, before);
  assert.deepEqual(result.consumed, ['PATRONI_NAME', 'PATRONI_SUPERUSER_PASSWORD']);
  assert.equal(result.origins.get('postgresql.authentication.superuser.password'), 'PATRONI_SUPERUSER_PASSWORD');
  assert.equal(section(section(result.doc, 'postgresql'), 'authentication').superuser !== undefined, true);
});
