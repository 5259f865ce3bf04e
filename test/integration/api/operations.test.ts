/**
 * The agent's REST write endpoints on a real two-node cluster (real etcd, real postgres, agents as processes),
 * with restapi.authentication configured through PATRONI_RESTAPI_USERNAME/PASSWORD.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { postgresUser } from '../../support/tmp';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { findSecrets, secretForms } from '../../support/secrets';
import { waitFor } from '../../support/wait';
import type { ClusterView } from '../../../src/model/cluster';

const run = promisify(execFile);
const PGHA_BIN = join(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');
const USER = 'patroni';
const PASS = 'api s3cret';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;

interface Reply {
  status: number;
  text: string;
  headers: Headers;
}

describe('REST write endpoints on a real cluster', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let view: ClusterView;
  const nodeIndex = (name: string) => c.nodes.findIndex((n) => n.name === name);
  const leaderName = () => view.leader!.name;
  const replicaName = () => [...view.members.keys()].find((n) => n !== leaderName())!;

  async function call(node: string, method: string, path: string, body?: unknown, auth: string | null = BASIC): Promise<Reply> {
    const port = c.nodes[nodeIndex(node)]!.apiPort;
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = auth;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(90_000),
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }
  const configKey = async () => {
    const kv = await c.store.get(`/service/${c.scope}/config`);
    return JSON.parse(kv!.value) as Record<string, unknown>;
  };
  const startTime = async (name: string) =>
    (await sql<{ t: string }>(c.nodes[nodeIndex(name)]!.pgPort, 'select pg_postmaster_start_time()::text as t'))[0]!.t;

  before(async () => {
    c = await startTestCluster({
      nodes: 2,
      command: (file) => ({
        file: process.execPath,
        args: [PGHA_BIN, 'agent', '-c', file],
        env: { PATRONI_RESTAPI_USERNAME: USER, PATRONI_RESTAPI_PASSWORD: PASS },
      }),
    });
    try {
      view = await c.waitHealthy(120_000);
    } catch (err) {
      throw new Error(`${String(err)}\n${[0, 1].map((i) => c.logTail(i, 20)).join('\n---\n')}`);
    }
  });
  after(async () => {
    if (c) await c.close();
  });

  it('refuses an unauthenticated or wrongly authenticated POST /switchover with 401 and writes nothing', async () => {
    const body = { leader: leaderName(), candidate: replicaName() };
    const none = await call(leaderName(), 'POST', '/switchover', body, null);
    assert.equal(none.status, 401);
    assert.equal(none.text, 'no auth header received');
    assert.equal(none.headers.get('www-authenticate'), 'Basic realm="Patroni"');
    const wrong = await call(leaderName(), 'POST', '/switchover', body, `Basic ${Buffer.from(`${USER}:nope`).toString('base64')}`);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.text, 'not authenticated');
    assert.equal(await c.store.get(`/service/${c.scope}/failover`), undefined);
    assert.equal((await c.view()).leader?.name, leaderName());
  });

  it('PATCH /config merges into the config key (null deletes) and PUT /config refuses an invalid config with 400', async () => {
    const patched = await call(replicaName(), 'PATCH', '/config', { maximum_lag_on_failover: 2097152, postgresql: { parameters: { work_mem: '8MB' } } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((JSON.parse(patched.text) as Record<string, unknown>).maximum_lag_on_failover, 2097152);
    let stored = await configKey();
    assert.equal(stored.maximum_lag_on_failover, 2097152);
    assert.deepEqual((stored.postgresql as { parameters: unknown }).parameters, { work_mem: '8MB' });
    assert.equal(stored.ttl, 15, 'other keys are kept');

    const removed = await call(leaderName(), 'PATCH', '/config', { postgresql: { parameters: { work_mem: null } } });
    assert.equal(removed.status, 200, removed.text);
    stored = await configKey();
    assert.deepEqual((stored.postgresql as { parameters: unknown }).parameters, {});

    const badPatch = await call(leaderName(), 'PATCH', '/config', { ttl: '3 s' });
    assert.equal(badPatch.status, 400);
    assert.match(badPatch.text, /a whole number of seconds/);

    const before = await configKey();
    const badPut = await call(leaderName(), 'PUT', '/config', { ttl: 'soon', loop_wait: 2 });
    assert.equal(badPut.status, 400);
    assert.match(badPut.text, /ttl/);
    assert.deepEqual(await configKey(), before, 'an invalid PUT leaves the key alone');

    const put = await call(leaderName(), 'PUT', '/config', { ...before, maximum_lag_on_failover: 1048576 });
    assert.equal(put.status, 200, put.text);
    assert.equal((await configKey()).maximum_lag_on_failover, 1048576);

    const empty = await call(leaderName(), 'PATCH', '/config', {});
    assert.equal(empty.status, 400, 'an empty body is 400');
  });

  it('POST /reload answers 202 reload scheduled', async () => {
    const res = await call(replicaName(), 'POST', '/reload');
    assert.equal(res.status, 202, res.text);
    assert.equal(res.text, 'reload scheduled');
  });

  it('POST /restart checks its conditions, then restarts postgres (postmaster start time changes)', async () => {
    const replica = replicaName();
    const mismatch = await call(replica, 'POST', '/restart', { role: 'primary' });
    assert.equal(mismatch.status, 503);
    assert.equal(mismatch.text, 'restart conditions are not satisfied');
    const bad = await call(replica, 'POST', '/restart', { when: 'now' });
    assert.equal(bad.status, 400);
    assert.equal(bad.text, 'Unknown filter for the scheduled restart: when');

    const before = await startTime(replica);
    const res = await call(replica, 'POST', '/restart', { role: 'replica' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, 'restarted successfully');
    const afterwards = await waitFor('postgres accepting connections again', () => startTime(replica), { timeoutMs: 30_000 });
    assert.notEqual(afterwards, before);
    await c.waitHealthy(60_000);
  });

  it('serves patronictl 3.0.2 restart and reload (with its credentials from PATRONI_RESTAPI_*)', async () => {
    const replica = replicaName();
    const env = { ...process.env, PATRONI_RESTAPI_USERNAME: USER, PATRONI_RESTAPI_PASSWORD: PASS, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
    const file = c.nodes[nodeIndex(replica)]!.configFile;
    const before = await startTime(replica);
    const restart = await run('patronictl', ['-c', file, 'restart', c.scope, replica, '--force'], { env, timeout: 90_000 });
    assert.match(restart.stdout, new RegExp(`Success: restart on member ${replica}`));
    assert.notEqual(await waitFor('postgres back', () => startTime(replica), { timeoutMs: 30_000 }), before);
    const reload = await run('patronictl', ['-c', file, 'reload', c.scope, replica, '--force'], { env, timeout: 60_000 });
    assert.match(reload.stdout, new RegExp(`Reload request received for member ${replica}`));
    await c.waitHealthy(60_000);
  });

  it('schedules one restart (202), refuses a second (409), and DELETE /restart removes it', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const first = await call(replicaName(), 'POST', '/restart', { schedule: at });
    assert.equal(first.status, 202, first.text);
    assert.equal(first.text, 'Restart scheduled');
    const second = await call(replicaName(), 'POST', '/restart', { schedule: at });
    assert.equal(second.status, 409);
    assert.equal(second.text, 'Another restart is already scheduled');
    const del = await call(replicaName(), 'DELETE', '/restart');
    assert.equal(del.status, 200);
    assert.equal(del.text, 'scheduled restart deleted');
    const again = await call(replicaName(), 'DELETE', '/restart');
    assert.equal(again.status, 404);
    assert.equal(again.text, 'no restarts are scheduled');
  });

  it('POST /reinitialize on the leader is refused with 503', async () => {
    const res = await call(leaderName(), 'POST', '/reinitialize', { force: true });
    assert.equal(res.status, 503);
    assert.equal(res.text, 'I am the leader, can not reinitialize');
  });

  it('POST /switchover and /failover check their preconditions (400, 412)', async () => {
    const cases: [string, Record<string, unknown>, number, string][] = [
      ['/switchover', { candidate: replicaName() }, 400, 'Switchover could be performed only from a specific leader'],
      ['/failover', { leader: leaderName() }, 400, 'Failover could be performed only to a specific candidate'],
      ['/switchover', { leader: replicaName(), candidate: leaderName() }, 412, 'leader name does not match'],
      ['/switchover', { leader: leaderName(), candidate: 'nobody' }, 412, 'candidate does not exists'],
      ['/switchover', { leader: leaderName(), scheduled_at: '2020-01-01T00:00:00Z' }, 422, 'Cannot schedule switchover in the past'],
    ];
    for (const [path, body, code, text] of cases) {
      const res = await call(leaderName(), 'POST', path, body);
      assert.deepEqual([res.status, res.text], [code, text], `${path} ${JSON.stringify(body)}`);
    }
    assert.equal(await c.store.get(`/service/${c.scope}/failover`), undefined);
  });

  it('schedules a switchover (202, the failover key) and DELETE /switchover cancels it', async () => {
    const at = new Date(Math.floor(Date.now() / 1000 + 3600) * 1000).toISOString();
    const res = await call(leaderName(), 'POST', '/switchover', { leader: leaderName(), candidate: replicaName(), scheduled_at: at });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.text, 'Switchover scheduled');
    const key = JSON.parse((await c.store.get(`/service/${c.scope}/failover`))!.value) as Record<string, unknown>;
    assert.deepEqual(key, { leader: leaderName(), member: replicaName(), scheduled_at: at.replace('.000Z', '+00:00') });
    const del = await call(leaderName(), 'DELETE', '/switchover');
    assert.equal(del.status, 200, del.text);
    assert.equal(del.text, 'scheduled switchover deleted');
    assert.equal((await c.view()).failover, undefined);
    const again = await call(leaderName(), 'DELETE', '/switchover');
    assert.equal(again.status, 404);
    assert.equal((await c.view()).leader?.name, leaderName());
  });

  it('POST /switchover moves the leader key to the candidate and answers 200', async () => {
    const [from, to] = [leaderName(), replicaName()];
    const res = await call(from, 'POST', '/switchover', { leader: from, candidate: to });
    assert.deepEqual([res.status, res.text], [200, `Successfully switched over to "${to}"`]);
    view = await c.waitHealthy(60_000);
    assert.equal(view.leader?.name, to);
  });

  // Last: by now the agents have bootstrapped, cloned, restarted, reinitialized and switched over, with the REST
  // password on every write request.
  it('keeps the passwords out of logs, REST documents, etcd, ps output and postgres config files; pgpass is 0600', async () => {
    const secrets = secretForms([PASSWORD, PASS, `${USER}:${PASS}`]);
    const found = await findSecrets(c, secrets, ['/patroni', '/cluster', '/config', '/history', '/metrics', '/']);
    assert.deepEqual(found.leaks, [], `secrets found: ${found.leaks.join('; ')}`);
    assert.ok(found.checked.length >= 20, `checked ${found.checked.join(', ')}`);
    assert.deepEqual(found.empty, [], 'every source audited has content');
    for (const f of found.pgpassFiles) assert.equal(f.mode, 0o600, `${f.path} mode ${f.mode.toString(8)}`);
    assert.equal(found.pgpassFiles.length, c.nodes.length);
    // The log files belong to the agents' user, so that an agent restarted by hand as that user can append.
    const owner = postgresUser();
    if (owner) for (const n of c.nodes) assert.equal(statSync(n.logFile).uid, owner.uid, `owner of ${n.logFile}`);
  });
});
