import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestKey, editDistance } from '../../../src/config/known-keys';
import { assertConfigError, fakeProbe, parseEdited, section } from './helpers';

type Doc = Record<string, unknown>;
const pg = (doc: Doc): Doc => section(doc, 'postgresql');
const api = (doc: Doc): Doc => section(doc, 'restapi');

test('restapi.listen: 8008 (a number) → expected "host:port"', () => {
  assertConfigError(() => parseEdited((d) => { api(d).listen = 8008; }), 'restapi.listen', ['got 8008 (a number)', 'expected "host:port"', 'e.g. 127.0.0.1:8008']);
});

test('a port out of range or not a number', () => {
  assertConfigError(() => parseEdited((d) => { api(d).listen = '127.0.0.1:80080'; }), 'restapi.listen', ['"127.0.0.1:80080"', 'not a number from 1 to 65535']);
  assertConfigError(() => parseEdited((d) => { pg(d).listen = '127.0.0.1:pg'; }), 'postgresql.listen', ['"127.0.0.1:pg"', 'not a number from 1 to 65535']);
});

for (const [field, remove, fix] of [
  ['scope', (d: Doc) => delete d.scope, 'scope: pgcluster'],
  ['name', (d: Doc) => delete d.name, 'name: node1'],
  ['restapi', (d: Doc) => delete d.restapi, 'PATRONI_RESTAPI_LISTEN'],
  ['restapi.listen', (d: Doc) => delete api(d).listen, 'listen: 127.0.0.1:8008'],
  ['postgresql', (d: Doc) => delete d.postgresql, 'add a postgresql: section'],
  ['postgresql.data_dir', (d: Doc) => delete pg(d).data_dir, 'data_dir: /var/lib/postgresql/15/main'],
  ['postgresql.listen', (d: Doc) => delete pg(d).listen, 'listen: 127.0.0.1:5432'],
  ['etcd3', (d: Doc) => delete d.etcd3, 'add an etcd3: section'],
  ['postgresql.authentication.superuser', (d: Doc) => delete section(pg(d), 'authentication').superuser, 'PATRONI_SUPERUSER_USERNAME'],
  ['postgresql.authentication.replication', (d: Doc) => delete section(pg(d), 'authentication').replication, 'PATRONI_REPLICATION_USERNAME'],
] as const) {
  test(`missing ${field} is refused with the fix`, () => {
    assertConfigError(() => parseEdited((d) => { remove(d); }), field, ['is missing', fix]);
  });
}

test('an empty data_dir is refused', () => {
  assertConfigError(() => parseEdited((d) => { pg(d).data_dir = ''; }), 'postgresql.data_dir', ['is empty']);
});

test('a typo in a top-level section: postgressql → did you mean postgresql?', () => {
  assertConfigError(() => parseEdited((d) => { d.postgressql = d.postgresql; }), 'postgressql', ['not a known top-level section', 'did you mean postgresql?']);
  assertConfigError(() => parseEdited((d) => { d.restpai = {}; }), 'restpai', ['did you mean restapi?']);
});

test('an unknown top-level section far from any known one lists the known sections', () => {
  assertConfigError(() => parseEdited((d) => { d.frobnicate = 1; }), 'frobnicate', ['not a known top-level section', 'known sections: scope, namespace, name, restapi, etcd, etcd3']);
});

test('a typo inside a section: did you mean', () => {
  assertConfigError(() => parseEdited((d) => { pg(d).data_dri = '/x'; }), 'postgresql.data_dri', ['did you mean postgresql.data_dir?']);
  assertConfigError(() => parseEdited((d) => { section(d, 'etcd3').hsots = 'h:1'; }), 'etcd3.hsots', ['did you mean etcd3.hosts?']);
  assertConfigError(() => parseEdited((d) => { api(d).conect_address = 'h:1'; }), 'restapi.conect_address', ['did you mean restapi.connect_address?']);
});

test('an unknown key more than one edit from a known one is accepted with a warning (it may be a Patroni setting)', () => {
  const c = parseEdited((d) => { api(d).some_future_patroni_option = true; api(d).crlfile = '/crl.pem'; });
  assert.ok(c.warnings?.includes('restapi.some_future_patroni_option is not a setting pgha knows; it is ignored'));
  assert.ok(c.warnings?.includes('restapi.crlfile is not a setting pgha knows; it is ignored'), 'crlfile is 2 edits from cafile: not a typo');
});

test('edit distance counts a swap of neighbours as one edit', () => {
  assert.equal(editDistance('data_dri', 'data_dir'), 1);
  assert.equal(editDistance('postgressql', 'postgresql'), 1);
  assert.equal(editDistance('crlfile', 'cafile'), 2);
  assert.equal(closestKey('restpai', ['restapi', 'etcd']), 'restapi');
  assert.equal(closestKey('ab', ['xy']), undefined);
});

for (const dcs of ['consul', 'zookeeper', 'kubernetes', 'raft', 'exhibitor']) {
  test(`a ${dcs}: section is refused: pgha speaks etcd v3 only`, () => {
    assertConfigError(() => parseEdited((d) => { d[dcs] = { hosts: ['x:1'] }; }), dcs, [`is a ${dcs} DCS section`, 'pgha speaks etcd v3 only', 'etcd3: section']);
  });
}

test('both etcd: and etcd3: → error', () => {
  assertConfigError(() => parseEdited((d) => { d.etcd = { hosts: '127.0.0.1:2379' }; }), 'etcd3', ['both etcd: and etcd3: sections are present', 'keep only etcd3:']);
});

test('an etcd section without endpoint, or with srv only', () => {
  assertConfigError(() => parseEdited((d) => { d.etcd3 = { protocol: 'http' }; }), 'etcd3', ['has no endpoint', 'hosts: 127.0.0.1:2379']);
  assertConfigError(() => parseEdited((d) => { d.etcd3 = { srv: 'example.com' }; }), 'etcd3.srv', ['not supported by pgha', 'list the endpoints']);
  assertConfigError(() => parseEdited((d) => { d.etcd3 = { hosts: 2379 }; }), 'etcd3.hosts', ['got 2379 (a number)', 'comma-separated string of host:port']);
  assertConfigError(() => parseEdited((d) => { d.etcd3 = { hosts: '127.0.0.1:2379', protocol: 'grpc' }; }), 'etcd3.protocol', ['got "grpc"', '"http" or "https"']);
});

test('citus and watchdog.mode: required are refused', () => {
  assertConfigError(() => parseEdited((d) => { d.citus = { group: 0, database: 'x' }; }), 'citus', ['pgha does not support']);
  assertConfigError(() => parseEdited((d) => { d.watchdog = { mode: 'required' }; }), 'watchdog.mode', ['no hardware watchdog support', 'cannot reset a frozen host', 'watchdog.mode: automatic']);
  assert.ok(parseEdited((d) => { d.watchdog = { mode: false }; }).warnings?.every((w) => !w.includes('watchdog')));
});

test('watchdog.mode turns the fence process on (absent, automatic) or off (off, false)', () => {
  assert.equal(parseEdited(() => undefined).fence, true);
  const automatic = parseEdited((d) => { d.watchdog = { mode: 'automatic' }; });
  assert.equal(automatic.fence, true);
  assert.ok(automatic.warnings?.every((w) => !w.includes('watchdog')));
  assert.equal(parseEdited((d) => { d.watchdog = { mode: 'off' }; }).fence, false);
  assert.equal(parseEdited((d) => { d.watchdog = { mode: false }; }).fence, false);
});

test('a configured bin_dir without pg_ctl is refused, suggesting the detected one', () => {
  assertConfigError(
    () => parseEdited((d) => { pg(d).bin_dir = '/usr/pgsql-10/bin'; }),
    'postgresql.bin_dir',
    ['got "/usr/pgsql-10/bin", which has no pg_ctl', 'remove it to use the detected /usr/lib/postgresql/15/bin'],
  );
});

test('no bin_dir and nothing detectable → error naming postgresql.bin_dir', () => {
  assertConfigError(
    () => parseEdited(() => undefined, {}, { probe: fakeProbe({ serverBinDirs: [] }) }),
    'postgresql.bin_dir',
    ['is not set', '/usr/lib/postgresql/*/bin', 'pg_config --bindir', 'PATRONI_POSTGRESQL_BIN_DIR'],
  );
});

test('a wildcard listen without connect_address is refused for restapi and postgresql', () => {
  assertConfigError(
    () => parseEdited((d) => { api(d).listen = '0.0.0.0:8008'; }),
    'restapi.connect_address',
    ['is missing, and restapi.listen (0.0.0.0:8008) listens on every interface', 'e.g. 10.0.0.1:8008', '127.0.0.1:8008 when all nodes share one host'],
  );
  assertConfigError(() => parseEdited((d) => { pg(d).listen = '*:5432'; }), 'postgresql.connect_address', ['postgresql.listen (*:5432) listens on every interface']);
  assertConfigError(() => parseEdited((d) => { pg(d).connect_address = '0.0.0.0:5432'; }), 'postgresql.connect_address', ['a wildcard address']);
});

test('initdb options pgha controls are refused', () => {
  for (const [option, reason] of [
    ['pgdata', 'postgresql.data_dir'],
    ['username', 'superuser.username'],
    ['U', 'superuser.username'],
    ['pwfile', 'temporary file'],
    ['nosync', 'lose data'],
  ] as const) {
    assertConfigError(
      () => parseEdited((d) => { d.bootstrap = { initdb: ['data-checksums', { [option]: 'x' }] }; }),
      'bootstrap.initdb',
      [`option "${option}" cannot be set for initdb`, reason, `remove ${option} from bootstrap.initdb`],
    );
  }
});

test('scope and name must be strings without a slash', () => {
  assertConfigError(() => parseEdited((d) => { d.scope = 1; }), 'scope', ['got 1 (a number)', 'quote it: scope: "1"']);
  assertConfigError(() => parseEdited((d) => { d.name = 'a/b'; }), 'name', ['contains "/"', 'part of the etcd key path']);
});

test('a broken timing rule in bootstrap.dcs is adjusted at load time, with a warning (as Patroni 3.2+)', () => {
  const config = parseEdited((d) => { d.bootstrap = { dcs: { ttl: 20 } }; });
  assert.deepEqual([config.bootstrap.dynamic?.loopWaitSeconds, config.bootstrap.dynamic?.retryTimeoutSeconds], [1, 9]);
  assert.ok(config.warnings?.some((w) => w.startsWith('bootstrap.dcs: loop_wait (10) + 2*retry_timeout (10) = 30 is more than ttl (20)')), String(config.warnings));
});

test('error messages never echo a secret', () => {
  const message = assertConfigError(
    () => parseEdited((d) => { section(section(pg(d), 'authentication'), 'superuser').password = ['s3cr3t']; }),
    'postgresql.authentication.superuser.password',
    ['got a list', 'expected a string'],
  );
  assert.ok(!message.includes('s3cr3t'));
});

test('a custom bootstrap method needs its command; a callback that cannot be split is refused', () => {
  assertConfigError(() => parseEdited((d) => { d.bootstrap = { method: 'restore' }; }), 'bootstrap.restore.command', ['is missing', 'remove bootstrap.method to use initdb']);
  assertConfigError(() => parseEdited((d) => { pg(d).callbacks = { on_role_change: '/bin/vip "open' }; }), 'postgresql.callbacks.on_role_change', ['cannot be split', 'close the quote']);
});

test('a bad restapi.allowlist entry is refused; restapi authentication needs both fields', () => {
  assertConfigError(() => parseEdited((d) => { api(d).allowlist = ['10.0.0.0/8', '300.0.0.0/8']; }), 'restapi.allowlist[1]', ['not a network']);
  assertConfigError(() => parseEdited((d) => { api(d).authentication = { username: 'u' }; }), 'restapi.authentication.password', ['is missing']);
});

test('wrong section types are refused', () => {
  assertConfigError(() => parseEdited((d) => { d.tags = ['nofailover']; }), 'tags', ['got a list', 'expected a map']);
  assertConfigError(() => parseEdited((d) => { d.log = { level: 'LOUD' }; }), 'log.level', ['got "LOUD"', 'DEBUG, INFO, WARNING']);
  assertConfigError(() => parseEdited((d) => { pg(d).parameters = { shared_buffers: { a: 1 } }; }), 'postgresql.parameters.shared_buffers', ['got a map']);
});
