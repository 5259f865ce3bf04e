import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseYamlText } from '../../../src/config/document';
import { ENV_SOURCE, loadAgentConfig, parseAgentConfig } from '../../../src/config/load';
import { TEST_OPTIONS, assertConfigError, fakeProbe, minimalYaml } from './helpers';
import { SEED_PATRONI_YML, SEED_PATRONI_YML_LOOPBACK } from './seed-fixture';

const CONFIG_DIR = join(__dirname, '..', '..', '..', '..', 'config');

for (const [i, name] of ['ty-db1', 'ty-db2', 'ty-db3'].entries()) {
  test(`config/pgha-node${i + 1}.yml loads as ${name}`, () => {
    const c = loadAgentConfig(join(CONFIG_DIR, `pgha-node${i + 1}.yml`), {}, TEST_OPTIONS);
    assert.equal(c.scope, 'pgcluster');
    assert.equal(c.namespace, '/service');
    assert.equal(c.name, name);
    assert.deepEqual(c.restapi.listen, { host: '127.0.0.1', port: 18008 + i });
    assert.deepEqual(c.restapi.connectAddress, { host: '127.0.0.1', port: 18008 + i });
    assert.deepEqual(c.etcd, { section: 'etcd3', hosts: [{ host: '127.0.0.1', port: 2379 }], protocol: 'http' });
    assert.deepEqual(c.postgresql.listen, { hosts: ['127.0.0.1'], port: 15432 + i });
    assert.deepEqual(c.postgresql.connectAddress, { host: '127.0.0.1', port: 15432 + i });
    assert.equal(c.postgresql.dataDir, `/var/lib/postgresql/pgha/${name}/data`);
    assert.equal(c.postgresql.binDir, '/usr/lib/postgresql/15/bin');
    assert.equal(c.postgresql.pgpass, `/var/lib/postgresql/pgha/${name}/pgpass`);
    assert.deepEqual(c.postgresql.authentication.superuser, { username: 'admin', password: 'test%123' });
    assert.deepEqual(c.postgresql.authentication.replication, { username: 'rep', password: 'test%123' });
    assert.deepEqual(c.bootstrap.initdbArgs, ['--encoding=UTF8', '--data-checksums']);
    assert.deepEqual(c.bootstrap.users, {
      admin: { password: 'test%123', options: ['createrole', 'createdb'] },
      rep: { password: 'test%123', options: ['replication'] },
    });
    assert.equal(c.bootstrap.dynamic?.ttlSeconds, 30);
    assert.equal(c.bootstrap.dynamic?.postgresql.usePgRewind, true);
    assert.deepEqual(c.tags, { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false });
  });
}

test('on this machine, the config/ files load with the real bin_dir check (skipped without PostgreSQL 15)', (t) => {
  if (!existsSync('/usr/lib/postgresql/15/bin/pg_ctl')) {
    t.skip('PostgreSQL 15 is not installed here');
    return;
  }
  for (const file of ['pgha-node1.yml', 'pgha-node2.yml', 'pgha-node3.yml', 'seed-etcd-v2-section.yml']) {
    assert.equal(loadAgentConfig(join(CONFIG_DIR, file), {}).postgresql.binDir, '/usr/lib/postgresql/15/bin', file);
  }
});

test('config/seed-etcd-v2-section.yml: the seed etcd: section is accepted and recorded as etcd (spoken as v3)', () => {
  const c = loadAgentConfig(join(CONFIG_DIR, 'seed-etcd-v2-section.yml'), {}, TEST_OPTIONS);
  assert.equal(c.etcd.section, 'etcd');
  assert.deepEqual(c.etcd.hosts, [{ host: '127.0.0.1', port: 2379 }, { host: 'localhost', port: 2379 }]);
  assert.equal(c.name, 'ty-db1');
});

test('the seed article patroni_pg.yml, byte for byte, loads with all its quirks', () => {
  const doc = parseYamlText(SEED_PATRONI_YML, 'seed');
  const c = parseAgentConfig(doc, {}, 'seed', { ...TEST_OPTIONS, probe: fakeProbe({ serverBinDirs: ['/usr/pgsql-10/bin'] }) });
  assert.equal(c.etcd.section, 'etcd');
  assert.deepEqual(c.etcd.hosts.map((h) => `${h.host}:${h.port}`), ['ty-db1:2379', 'ty-db2:2379', 'ty-db3:2379']);
  assert.deepEqual(c.restapi.listen, { host: '0.0.0.0', port: 8008 });
  assert.deepEqual(c.restapi.connectAddress, { host: 'ty-db1', port: 8008 });
  assert.deepEqual(c.postgresql.connectAddress, { host: 'ty-db1', port: 5432 });
  assert.equal(c.postgresql.binDir, '/usr/pgsql-10/bin');
  assert.equal(c.postgresql.pgpass, '/tmp/pgpass0');
  // `parameters:` with nothing under it: kept verbatim for the config key, empty once parsed.
  assert.deepEqual(c.bootstrap.dcs.postgresql, { use_pg_rewind: true, parameters: null });
  assert.deepEqual(c.bootstrap.dynamic?.postgresql.parameters, {});
  assert.equal(c.bootstrap.dynamic?.maximumLagOnFailoverBytes, 1048576);
  assert.deepEqual(c.bootstrap.pgHba, [
    'host replication rep 192.168.0.106/0 md5',
    'host replication rep 192.168.0.207/0 md5',
    'host replication rep 192.168.0.100/0 md5',
    'host all all 0.0.0.0/0 md5',
  ]);
  assert.equal(c.bootstrap.users.admin?.password, 'test%123');
  assert.equal(c.postgresql.authentication.superuser.password, 'test%123');
  // Local copies of protected GUCs are ignored (as in Patroni) with a warning each; the rest are kept as given.
  assert.deepEqual(c.postgresql.parameters, { unix_socket_directories: '.', synchronous_commit: 'remote_write', synchronous_standby_names: '' });
  for (const name of ['max_wal_senders', 'wal_keep_segments', 'wal_level', 'wal_log_hints']) {
    assert.ok(c.warnings?.some((w) => w.startsWith(`postgresql.parameters.${name} is ignored`)), name);
  }
  assert.deepEqual(c.tags, { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false });
  // The seed's socket in the data directory defeats pg_rewind: said at load time.
  assert.ok(c.warnings?.some((w) => w.startsWith('postgresql.parameters.unix_socket_directories puts the socket in the data directory')));
});

test('the seed file with loopback addresses loads', () => {
  const doc = parseYamlText(SEED_PATRONI_YML_LOOPBACK, 'seed-loopback');
  const c = parseAgentConfig(doc, {}, 'seed-loopback', { ...TEST_OPTIONS, probe: fakeProbe({ serverBinDirs: ['/usr/pgsql-10/bin'] }) });
  assert.deepEqual(c.etcd.hosts.map((h) => h.host), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  assert.deepEqual(c.bootstrap.pgHba, [
    'host replication rep 127.0.0.1/32 md5',
    'host replication rep 127.0.0.1/32 md5',
    'host replication rep 127.0.0.1/32 md5',
    'host all all 127.0.0.1/32 md5',
  ]);
});

test("Patroni 3.0.2's own Config reads config/pgha-node1.yml with the etcd3 section (skipped without python3-patroni)", (t) => {
  let out: string;
  try {
    // Debian's python3-patroni lives in the system interpreter, not in a pyenv/virtualenv one found first on PATH.
    out = execFileSync('/usr/bin/python3', ['-c', [
      'import json, sys',
      'from patroni.config import Config',
      'c = Config(sys.argv[1], validator=None)',
      "print(json.dumps({'scope': c['scope'], 'name': c['name'], 'etcd3': c['etcd3'], 'has_etcd': 'etcd' in c}))",
    ].join('\n'), join(CONFIG_DIR, 'pgha-node1.yml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
  } catch (err) {
    t.skip(`patroni python module not available: ${String(err).split('\n')[0]}`);
    return;
  }
  assert.deepEqual(JSON.parse(out), { scope: 'pgcluster', name: 'ty-db1', etcd3: { hosts: '127.0.0.1:2379' }, has_etcd: false });
});

test('a directory of YAML files is merged in name order; null in a later file removes a key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgha-config-'));
  try {
    writeFileSync(join(dir, '00-base.yml'), `${minimalYaml()}tags: {nofailover: true}\n`);
    writeFileSync(join(dir, '10-node.yaml'), 'name: node2\nrestapi: {connect_address: 127.0.0.1:9008}\ntags:\n');
    writeFileSync(join(dir, 'notes.txt'), 'not yaml: [');
    const c = loadAgentConfig(dir, {}, TEST_OPTIONS);
    assert.equal(c.name, 'node2');
    assert.deepEqual(c.restapi.listen, { host: '127.0.0.1', port: 8008 });
    assert.deepEqual(c.restapi.connectAddress, { host: '127.0.0.1', port: 9008 });
    assert.deepEqual(c.tags, {});
    assert.equal(c.source, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing config path is an error (Patroni would silently fall back to the environment)', () => {
  assertConfigError(() => loadAgentConfig('/nonexistent/pgha.yml', {}, TEST_OPTIONS), '/nonexistent/pgha.yml', ['cannot be read: ENOENT', 'check the -c/--config path']);
});

test('invalid YAML names the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgha-config-'));
  try {
    const file = join(dir, 'bad.yml');
    writeFileSync(file, 'scope: pgcluster\nrestapi: [listen\nname: x\n');
    assertConfigError(() => loadAgentConfig(file, {}, TEST_OPTIONS), file, ['is not valid YAML', 'line', 'fix the YAML syntax']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a path, PATRONI_CONFIGURATION holds the whole YAML and other PATRONI_* are not applied (as in Patroni)', () => {
  const c = loadAgentConfig(undefined, { PATRONI_CONFIGURATION: minimalYaml(), PATRONI_NAME: 'ignored' }, TEST_OPTIONS);
  assert.equal(c.name, 'node1');
  assert.equal(c.source, 'PATRONI_CONFIGURATION');
});

test('without a path or PATRONI_CONFIGURATION, the configuration comes from PATRONI_* alone', () => {
  const c = loadAgentConfig(undefined, {
    PATRONI_SCOPE: 'envcluster',
    PATRONI_NAME: 'envnode',
    PATRONI_RESTAPI_LISTEN: '127.0.0.1:8008',
    PATRONI_ETCD3_HOSTS: "'127.0.0.1:2379','127.0.0.2:2379'",
    PATRONI_POSTGRESQL_LISTEN: '127.0.0.1:5432',
    PATRONI_POSTGRESQL_DATA_DIR: '/data/pg',
    PATRONI_SUPERUSER_USERNAME: 'postgres',
    PATRONI_SUPERUSER_PASSWORD: 'test%123',
    PATRONI_REPLICATION_USERNAME: 'rep',
    PATRONI_REPLICATION_PASSWORD: 'test%123',
  }, TEST_OPTIONS);
  assert.equal(c.source, ENV_SOURCE);
  assert.equal(c.scope, 'envcluster');
  assert.deepEqual(c.etcd.hosts.map((h) => h.host), ['127.0.0.1', '127.0.0.2']);
  assert.equal(c.postgresql.authentication.superuser.password, 'test%123');
  assert.equal(c.postgresql.binDir, '/usr/lib/postgresql/15/bin');
});
