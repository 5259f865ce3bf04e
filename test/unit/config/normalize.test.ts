import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseYamlText } from '../../../src/config/document';
import { assertConfigError, minimalYaml, parse, parseEdited, section } from './helpers';

type Doc = Record<string, unknown>;
const pg = (doc: Doc): Doc => section(doc, 'postgresql');

test('test%123 survives YAML, env and every password field', () => {
  const yaml = `${minimalYaml()}bootstrap:\n  users:\n    admin: {password: test%123}\n`.replace('su-pass', 'test%123');
  const c = parse(parseYamlText(yaml, 't'), { PATRONI_REPLICATION_PASSWORD: 'test%123', PATRONI_RESTAPI_USERNAME: 'u', PATRONI_RESTAPI_PASSWORD: 'test%123' });
  assert.equal(c.postgresql.authentication.superuser.password, 'test%123');
  assert.equal(c.postgresql.authentication.replication.password, 'test%123');
  assert.equal(c.restapi.authentication?.password, 'test%123');
  assert.equal(c.bootstrap.users.admin?.password, 'test%123');
});

test('passwords YAML reads as numbers or booleans keep their exact text', () => {
  const yaml = minimalYaml().replace('su-pass', '0123').replace('rep-pass', '123456') + 'bootstrap:\n  users:\n    a: {password: yes}\n    b: {password: 1e3}\n';
  const c = parse(parseYamlText(yaml, 't'));
  assert.equal(c.postgresql.authentication.superuser.password, '0123');
  assert.equal(c.postgresql.authentication.replication.password, '123456');
  assert.equal(c.bootstrap.users.a?.password, 'yes');
  assert.equal(c.bootstrap.users.b?.password, '1e3');
});

test('numbers given directly (not from YAML text) become strings', () => {
  const c = parseEdited((d) => { section(section(pg(d), 'authentication'), 'superuser').password = 123; });
  assert.equal(c.postgresql.authentication.superuser.password, '123');
});

test('YAML 1.1 as in Patroni: yes/no/on/off are booleans; a repeated key is refused', () => {
  const c = parse(parseYamlText(`${minimalYaml()}tags: {nofailover: yes, nosync: off, replicatefrom: node2, failover_priority: 2}\n`, 't'));
  assert.deepEqual(c.tags, { nofailover: true, nosync: false, replicatefrom: 'node2', failover_priority: 2 });
  assertConfigError(() => parseYamlText('scope: a\nscope: b\n', 'dup.yml'), 'dup.yml', ['Map keys must be unique', 'line 2']);
});

test('etcd hosts: comma-separated with spaces, list, host, url, default port 2379, IPv6', () => {
  const hosts = (etcd3: unknown) => parseEdited((d) => { d.etcd3 = etcd3; }).etcd;
  assert.deepEqual(hosts({ hosts: 'ty-db1:2379, ty-db2:2379, ty-db3' }).hosts, [
    { host: 'ty-db1', port: 2379 }, { host: 'ty-db2', port: 2379 }, { host: 'ty-db3', port: 2379 },
  ]);
  assert.deepEqual(hosts({ hosts: ['a:1', 'b'], port: 2479 }).hosts, [{ host: 'a', port: 1 }, { host: 'b', port: 2479 }]);
  assert.deepEqual(hosts({ host: '10.0.0.1' }).hosts, [{ host: '10.0.0.1', port: 2379 }]);
  assert.deepEqual(hosts({ hosts: '[::1]:2379,[fe80::1]' }).hosts, [{ host: '::1', port: 2379 }, { host: 'fe80::1', port: 2379 }]);
  const fromUrl = hosts({ url: 'https://user:p%40ss@etcd.local:2381' });
  assert.deepEqual(fromUrl, { section: 'etcd3', hosts: [{ host: 'etcd.local', port: 2381 }], protocol: 'https', username: 'user', password: 'p@ss' });
});

test('when several endpoint keys are set, Patroni precedence applies with a warning', () => {
  const c = parseEdited((d) => { d.etcd3 = { url: 'http://u:2379', hosts: 'h:2379' }; });
  assert.deepEqual(c.etcd.hosts, [{ host: 'u', port: 2379 }]);
  assert.ok(c.warnings?.some((w) => w.includes('etcd3.url is used')));
});

test('connect_address defaults to a specific listen address; postgres uses the first listed host', () => {
  const c = parseEdited((d) => { pg(d).listen = '10.0.0.5,127.0.0.1:5433'; });
  assert.deepEqual(c.restapi.connectAddress, { host: '127.0.0.1', port: 8008 });
  assert.deepEqual(c.postgresql.connectAddress, { host: '10.0.0.5', port: 5433 });
  assert.deepEqual(c.postgresql.listen, { hosts: ['10.0.0.5', '127.0.0.1'], port: 5433 });
});

test('restapi listen "*:8008" and ":8008" mean all IPv4 interfaces', () => {
  for (const listen of ['*:8008', ':8008']) {
    const c = parseEdited((d) => { section(d, 'restapi').listen = listen; section(d, 'restapi').connect_address = '10.0.0.1:8008'; });
    assert.deepEqual(c.restapi.listen, { host: '0.0.0.0', port: 8008 });
  }
});

test('pgpass defaults to <home of the running user>/pgpass (no dot, as Patroni); relative paths are made absolute', () => {
  const c = parseEdited((d) => { pg(d).data_dir = 'data/node1'; });
  assert.equal(c.postgresql.pgpass, '/var/lib/postgresql/pgpass');
  assert.equal(c.postgresql.dataDir, '/srv/data/node1');
});

test('the legacy form without authentication: is accepted; pg_rewind stands in for the superuser and enables rewind', () => {
  const c = parseEdited((d) => {
    d.postgresql = {
      listen: '127.0.0.1:5432',
      data_dir: '/data',
      replication: { username: 'rep', password: 'test%123' },
      pg_rewind: { username: 'rewinder', password: 'x' },
    };
  });
  assert.deepEqual(c.postgresql.authentication, {
    superuser: { username: 'rewinder', password: 'x' },
    replication: { username: 'rep', password: 'test%123' },
  });
  assert.equal(c.postgresql.usePgRewind, true);
});

test('legacy users and an env-created authentication: section merge field by field', () => {
  const c = parseEdited(
    (d) => { d.postgresql = { listen: '127.0.0.1:5432', data_dir: '/data', superuser: { username: 'postgres' }, replication: { username: 'rep' } }; },
    { PATRONI_SUPERUSER_PASSWORD: 'test%123' },
  );
  assert.deepEqual(c.postgresql.authentication, { superuser: { username: 'postgres', password: 'test%123' }, replication: { username: 'rep' } });
});

test('a legacy postgresql.name stands in for a missing name, as in Patroni', () => {
  const c = parseEdited((d) => { delete d.name; pg(d).name = 'legacy1'; });
  assert.equal(c.name, 'legacy1');
});

test('defaults of the postgresql section', () => {
  const c = parse(parseYamlText(minimalYaml(), 't'));
  assert.equal(c.postgresql.database, 'postgres');
  assert.equal(c.postgresql.pgCtlTimeoutSeconds, 60);
  assert.equal(c.postgresql.removeDataDirectoryOnRewindFailure, false);
  assert.equal(c.postgresql.removeDataDirectoryOnDivergedTimelines, false);
  assert.equal(c.postgresql.usePgRewind, undefined);
  assert.deepEqual(c.postgresql.basebackupArgs, []);
  assert.equal(c.namespace, '/service');
  assert.deepEqual(c.tags, {});
  assert.deepEqual(c.bootstrap, { dcs: {}, initdbArgs: [], pgHba: [], users: {}, dynamic: c.bootstrap.dynamic });
  assert.equal(c.bootstrap.dynamic?.ttlSeconds, 30);
  assert.deepEqual(c.warnings, []);
});

test('dynamic-only keys at the top of the local file are ignored with a warning saying where they go', () => {
  const c = parseEdited((d) => { d.ttl = 5; d.synchronous_mode = true; });
  assert.ok(c.warnings?.some((w) => w.startsWith('ttl at the top of the local file is ignored') && w.includes('bootstrap.dcs')));
  assert.equal(c.bootstrap.dynamic?.ttlSeconds, 30);
});

test('the router: section is kept raw for the router loader', () => {
  const c = parseEdited((d) => { d.router = { listen: { write: '127.0.0.1:5000' } }; });
  assert.deepEqual(c.router, { listen: { write: '127.0.0.1:5000' } });
});

test('restapi TLS and client verification settings', () => {
  const c = parseEdited((d) => { Object.assign(section(d, 'restapi'), { certfile: '/c.pem', keyfile: '/k.pem', cafile: '/ca.pem', verify_client: 'required' }); });
  assert.equal(c.restapi.verifyClient, 'required');
  assert.equal(c.restapi.cafile, '/ca.pem');
  assertConfigError(() => parseEdited((d) => { section(d, 'restapi').verify_client = 'optional'; }), 'restapi.cafile', ['verify_client is optional']);
});

test('calls to other members: CA and client certificate from ctl.*, else restapi.* (Patroni\'s PatroniRequest)', () => {
  assert.equal(parseEdited(() => undefined).memberTls, undefined);
  const rest = parseEdited((d) => { Object.assign(section(d, 'restapi'), { certfile: '/c.pem', keyfile: '/k.pem', keyfile_password: 'pw', cafile: '/ca.pem', verify_client: 'required' }); });
  assert.deepEqual(rest.memberTls, {
    ca: { file: '/ca.pem', field: 'restapi.cafile' }, cert: { file: '/c.pem', field: 'restapi.certfile' }, key: { file: '/k.pem', field: 'restapi.keyfile' }, passphrase: 'pw',
  });
  const ctl = parseEdited((d) => {
    Object.assign(section(d, 'restapi'), { certfile: '/c.pem', keyfile: '/k.pem', cafile: '/ca.pem' });
    d.ctl = { cacert: '/ctl-ca.pem', certfile: '/ctl.pem' };
  });
  assert.deepEqual(ctl.memberTls, { ca: { file: '/ctl-ca.pem', field: 'ctl.cacert' }, cert: { file: '/ctl.pem', field: 'ctl.certfile' } }, 'the key comes with its certificate');
  const env = parseEdited((d) => { section(d, 'restapi').certfile = '/c.pem'; }, { PATRONI_RESTAPI_CAFILE: '/env-ca.pem' });
  assert.deepEqual(env.memberTls?.ca, { file: '/env-ca.pem', field: 'restapi.cafile' });
  assertConfigError(() => parseEdited((d) => { d.ctl = { cacert: 42 }; }), 'ctl.cacert', ['a string']);
});

test('basebackup options render like initdb ones; refused ones name the reason', () => {
  const c = parseEdited((d) => { pg(d).basebackup = [{ 'max-rate': '100M' }, { checkpoint: 'fast' }, 'verbose']; });
  assert.deepEqual(c.postgresql.basebackupArgs, ['--max-rate=100M', '--checkpoint=fast', '--verbose']);
  assertConfigError(() => parseEdited((d) => { pg(d).basebackup = { 'wal-method': 'fetch' }; }), 'postgresql.basebackup', ['"wal-method" cannot be set for pg_basebackup']);
});
