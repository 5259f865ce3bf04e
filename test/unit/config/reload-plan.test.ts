import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyReloadPlan, planReload } from '../../../src/config/reload-plan';
import { assertConfigError, parseEdited } from './helpers';

type Doc = Record<string, Record<string, unknown>>;

test('an unchanged file: nothing applied, nothing waits, Patroni\'s sentence', () => {
  const running = parseEdited(() => undefined);
  const plan = planReload(running, parseEdited(() => undefined));
  assert.deepEqual(plan.applied, []);
  assert.deepEqual(plan.needAgentRestart, []);
  assert.equal(plan.reason, 'no local configuration items changed');
});

test('a new pg_hba line, a new tag and a changed parameter are applied now', () => {
  const running = parseEdited((d) => { d.tags = { nofailover: false }; });
  const next = parseEdited((d) => {
    d.tags = { nofailover: true };
    (d as Doc).postgresql!.pg_hba = ['host all app 127.0.0.1/32 md5'];
    (d as Doc).postgresql!.parameters = { work_mem: '8MB' };
  });
  const plan = planReload(running, next);
  assert.deepEqual(plan.applied, ['tags', 'postgresql.parameters', 'postgresql.pg_hba']);
  assert.deepEqual(planReload(parseEdited(() => undefined), parseEdited((d) => { d.log = { level: 'DEBUG' }; })).applied, ['log'], 'the log level too');
  assert.deepEqual(plan.needAgentRestart, []);
  assert.equal(plan.reason, 'applied tags, postgresql.parameters, postgresql.pg_hba');
  assert.deepEqual(plan.config.tags, { nofailover: true });
  assert.deepEqual(plan.config.postgresql.pgHba, ['host all app 127.0.0.1/32 md5']);
  assert.equal(plan.config.postgresql.parameters.work_mem, '8MB');
});

test('a removed pg_hba goes back to the dynamic/bootstrap one (the field is dropped, not kept)', () => {
  const running = parseEdited((d) => { (d as Doc).postgresql!.pg_hba = ['host all all 0.0.0.0/0 md5']; });
  const plan = planReload(running, parseEdited(() => undefined));
  assert.deepEqual(plan.applied, ['postgresql.pg_hba']);
  assert.equal('pgHba' in plan.config.postgresql, false);
});

test('sockets, directories and names keep their running value until the agent restarts', () => {
  const running = parseEdited(() => undefined);
  const next = parseEdited((d) => {
    (d as Doc).restapi!.listen = '127.0.0.1:8010';
    (d as Doc).postgresql!.data_dir = '/srv/other';
    (d as Doc).etcd3!.hosts = '127.0.0.1:2390';
    d.name = 'node9';
    d.tags = { nosync: true };
  });
  const plan = planReload(running, next);
  assert.deepEqual(plan.applied, ['tags']);
  // connect_address follows listen when not given: both wait.
  assert.deepEqual(plan.needAgentRestart, ['name', 'etcd3', 'postgresql.data_dir', 'restapi.listen', 'restapi.connect_address']);
  assert.match(plan.reason, /^applied tags; kept the running name, etcd3, postgresql.data_dir, restapi.listen, restapi.connect_address until the agent restarts$/);
  assert.equal(plan.config.name, 'node1');
  assert.equal(plan.config.postgresql.dataDir, '/var/lib/postgresql/pgha/node1');
  assert.equal(plan.config.restapi.listen.port, 8008);
  assert.deepEqual(plan.config.etcd, running.etcd);
});

test('REST password, allowlist and headers are applied; the certificate waits', () => {
  const running = parseEdited(() => undefined);
  const next = parseEdited((d) => {
    (d as Doc).restapi!.authentication = { username: 'admin', password: 'secret' };
    (d as Doc).restapi!.allowlist = ['127.0.0.1', '10.0.0.0/8'];
    (d as Doc).restapi!.http_extra_headers = { 'X-Frame-Options': 'SAMEORIGIN' };
    (d as Doc).restapi!.certfile = '/etc/pgha/api.pem';
  });
  const plan = planReload(running, next);
  assert.deepEqual(plan.applied, ['restapi.authentication', 'restapi.allowlist', 'restapi.http_extra_headers']);
  // The REST certificate is also the agent's client certificate towards the other members (ctl falls back to it).
  assert.deepEqual(plan.needAgentRestart, ['ctl', 'restapi.certfile']);
  assert.deepEqual(plan.config.restapi.allowlist, ['127.0.0.1', '10.0.0.0/8']);
  assert.equal(plan.config.restapi.certfile, undefined);
});

test('applying a plan updates the object every component holds, in place', () => {
  const shared = parseEdited(() => undefined);
  const postgresBefore = shared.postgresql;
  const plan = planReload(shared, parseEdited((d) => { d.tags = { nofailover: true }; (d as Doc).postgresql!.parameters = { work_mem: '8MB' }; }));
  applyReloadPlan(shared, plan);
  assert.deepEqual(shared.tags, { nofailover: true });
  assert.equal(shared.postgresql.parameters.work_mem, '8MB');
  assert.equal(postgresBefore.parameters.work_mem, undefined, 'the running object is replaced, not edited under a reader');
});

test('allowlist and extra headers: invalid entries are refused naming the entry', () => {
  assertConfigError(() => parseEdited((d) => { (d as Doc).restapi!.allowlist = ['10.0.0.0/33']; }), 'restapi.allowlist[0]', ['not a network']);
  assertConfigError(() => parseEdited((d) => { (d as Doc).restapi!.allowlist = ['127.0.0.1', 'bad host!']; }), 'restapi.allowlist[1]', ['neither an address']);
  assertConfigError(() => parseEdited((d) => { (d as Doc).restapi!.allowlist = '10.0.0.1'; }), 'restapi.allowlist', ['a list']);
  assertConfigError(() => parseEdited((d) => { (d as Doc).restapi!.http_extra_headers = { 'Bad Header': 'x' }; }), 'restapi.http_extra_headers.Bad Header', ['not a valid HTTP header']);
  const ok = parseEdited((d) => {
    (d as Doc).restapi!.allowlist = ['127.0.0.1', '10.1.2.3/8', 'fd00::/8', 'app1.example.com'];
    (d as Doc).restapi!.allowlist_include_members = true;
    (d as Doc).restapi!.https_extra_headers = { 'Strict-Transport-Security': 'max-age=31536000' };
  });
  assert.deepEqual(ok.restapi.allowlist, ['127.0.0.1', '10.1.2.3/8', 'fd00::/8', 'app1.example.com']);
  assert.equal(ok.restapi.allowlistIncludeMembers, true);
  assert.deepEqual(ok.restapi.httpsExtraHeaders, { 'Strict-Transport-Security': 'max-age=31536000' });
});
