/**
 * `pgha ctl` verbs against a real 3-node cluster (etcd, agents, postgres as processes): show-config, edit-config,
 * pause/resume, topology, history, version, reload, restart, switchover, remove, the refusals (exit code 1 with
 * the reason), and Debian's patronictl 3.0.2 `list` on the same cluster. The agents require REST
 * authentication (PATRONI_RESTAPI_USERNAME/PASSWORD); ctl runs without those variables and takes the credentials
 * from a patronictl.yaml, as patronictl does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';
import { runCommand, type RunResult } from '../../support/run-file';

const PGHA = join(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');

/** Runs a command with stdin a pipe (not a terminal) holding `input`, without the agents' REST credentials. */
function run(file: string, args: string[], input = ''): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  delete env.PATRONI_RESTAPI_USERNAME;
  delete env.PATRONI_RESTAPI_PASSWORD;
  return runCommand(file, args, { input, env });
}

describe('pgha ctl verbs on a 3-node cluster', { timeout: 900_000 }, () => {
  let c: TestCluster;
  let cfg = '';
  const ctl = (args: string[], input = '') => run(process.execPath, [PGHA, 'ctl', '-c', cfg, ...args], input);
  const configKey = async () => (await c.view()).config!.value;

  let nodeCfg = '';
  before(async () => {
    process.env.PATRONI_RESTAPI_USERNAME = 'ctl-admin';
    process.env.PATRONI_RESTAPI_PASSWORD = 's3cret';
    c = await startTestCluster({ dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 } });
    nodeCfg = c.nodes[0]!.configFile;
    cfg = join(c.dir, 'patronictl.yaml');
    writeFileSync(cfg, `scope: pgcluster\netcd3:\n  hosts: ${c.etcd.endpoint}\nrestapi:\n  authentication:\n    username: ctl-admin\n    password: s3cret\n`);
    await c.waitHealthy(180_000);
  });
  after(async () => {
    if (c) await c.close();
  });

  it('version prints ours, then each member', async () => {
    const r = await ctl(['version', 'pgcluster']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^pgha ctl version \d+\.\d+\.\d+\n\n/);
    for (const n of c.nodes) assert.match(r.out, new RegExp(`^${n.name}: Patroni \\S+ PostgreSQL \\d+\\.\\d+`, 'm'));
  });

  it('show-config prints the config key as YAML', async () => {
    const r = await ctl(['show-config']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^loop_wait: 1$/m);
    assert.match(r.out, /^ttl: 10$/m);
  });

  it('edit-config --set/--pg --force writes etcd; without --force and a terminal it refuses', async () => {
    const refused = await ctl(['edit-config', '-s', 'maximum_lag_on_failover=2097152']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /Error: cannot ask "Apply these changes\?": stdin is not a terminal; use --force/);
    assert.match(refused.out, /^-maximum_lag_on_failover: 1048576$/m, 'the diff is shown first');
    assert.equal((await configKey()).maximum_lag_on_failover, 1048576);

    const r = await ctl(['edit-config', '--set', 'maximum_lag_on_failover=2097152', '--pg', 'work_mem=8MB', '-p', 'max_wal_senders=12', '--force']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\+maximum_lag_on_failover: 2097152$/m);
    assert.match(r.out, /Configuration changed\n$/);
    const config = await configKey();
    assert.equal(config.maximum_lag_on_failover, 2097152);
    const params = (config.postgresql as { parameters: Record<string, unknown> }).parameters;
    assert.equal(params.work_mem, '8MB');
    assert.equal(params.max_wal_senders, 12);

    const again = await ctl(['edit-config', '-s', 'maximum_lag_on_failover=2097152', '--force']);
    assert.match(again.out, /^Not changed$/m);
    const del = await ctl(['edit-config', '-p', 'work_mem=null', '--force', '-q']);
    assert.equal(del.code, 0, del.err);
    assert.equal(((await configKey()).postgresql as { parameters: Record<string, unknown> }).parameters.work_mem, undefined);

    const bad = await ctl(['edit-config', '-s', 'ttl=2', '--force']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not valid, nothing was changed: .*ttl/);
    assert.equal((await configKey()).ttl, 10);

    const applied = await ctl(['edit-config', '--apply', '-', '--force'], 'postgresql:\n  parameters:\n    max_wal_senders: null\n');
    assert.equal(applied.code, 0, applied.err);
    assert.equal(((await configKey()).postgresql as { parameters: Record<string, unknown> }).parameters.max_wal_senders, undefined);
  });

  it('REST calls without the credentials are refused by the agents (401), with exit code 1', async () => {
    const r = await run(process.execPath, [PGHA, 'ctl', '-c', nodeCfg, 'pause']);
    assert.equal(r.code, 1, `${r.out}${r.err}`);
    assert.match(r.out, /Failed: pause cluster management status code=401, \(no auth header received\)/);
    const withCtlSection = join(c.dir, 'ctl-section.yaml');
    writeFileSync(withCtlSection, `scope: pgcluster\netcd3:\n  hosts: ${c.etcd.endpoint}\nctl:\n  authentication:\n    username: ctl-admin\n    password: wrong\nrestapi:\n  authentication:\n    username: ctl-admin\n    password: s3cret\n`);
    const wrong = await run(process.execPath, [PGHA, 'ctl', '-c', withCtlSection, 'reload', 'pgcluster', 'ty-db1', '--force']);
    assert.equal(wrong.code, 1, 'ctl.authentication wins over restapi.authentication');
    assert.match(wrong.out, /Failed: reload for member ty-db1, status code=401, \(not authenticated\)/);
  });

  it('pause --wait / resume --wait: the config key, the members and list agree', async () => {
    const p = await ctl(['pause', '--wait']);
    assert.equal(p.code, 0, `${p.out}${p.err}`);
    assert.match(p.out, /Success: cluster management is paused/);
    assert.equal((await configKey()).pause, true);
    const list = await ctl(['list']);
    assert.match(list.out, /^ Maintenance mode: on$/m);
    const twice = await ctl(['pause']);
    assert.equal(twice.code, 1);
    assert.match(twice.err, /Error: Cluster is already paused/);

    const r = await ctl(['resume', '--wait']);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    assert.match(r.out, /Success: cluster management is resumed/);
    assert.equal((await configKey()).pause, undefined);
    assert.doesNotMatch((await ctl(['list'])).out, /Maintenance mode/);
  });

  it('topology shows the replicas under the leader', async () => {
    const view = await c.view();
    const r = await ctl(['topology']);
    assert.equal(r.code, 0, r.err);
    const rows = r.out.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Member'));
    assert.equal(rows.length, 3);
    assert.match(rows[0]!, new RegExp(`^\\| ${view.leader!.name} +\\| .*\\| Leader `));
    for (const row of rows.slice(1)) assert.match(row, /^\| \+ ty-db\d +\| .*\| Replica /);
  });

  it('list -w refreshes until interrupted', async () => {
    const child = spawn(process.execPath, [PGHA, 'ctl', '-c', cfg, 'list', '-w', '0.3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('three refreshes', () => (out.match(/\+ Cluster: pgcluster/g)?.length ?? 0) >= 3, { timeoutMs: 20_000 });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses impossible requests with the reason and exit code 1', async () => {
    const view = await c.view();
    const leader = view.leader!.name;
    const cases: [string[], RegExp][] = [
      [['switchover', '--candidate', 'nosuch', '--force'], /Error: Member nosuch does not exist in cluster pgcluster \(members: ty-db1, ty-db2, ty-db3\)/],
      [['switchover', '--leader', 'ty-db9', '--candidate', 'nosuch', '--force'], /Error: Member ty-db9 is not the leader of cluster pgcluster/],
      [['switchover', '--candidate', leader, '--force'], /Error: Switchover target and source are the same\./],
      [['switchover', '--leader', leader, '--candidate', c.nodes.find((n) => n.name !== leader)!.name], /Error: cannot ask "When should the switchover take place .*stdin is not a terminal; give --scheduled, or --force/],
      [['switchover', '--candidate', 'ty-db2'], /Error: cannot ask "Primary": stdin is not a terminal; give --leader, or --force/],
      [['failover', '--force'], /Error: Failover could be performed only to a specific candidate/],
      [['restart', 'pgcluster', 'nosuch', '--force'], /Error: nosuch is not a member of cluster pgcluster/],
      [['reinit', 'pgcluster', leader, '--force'], /Error: No replica among provided members/],
      [['switchover', 'nocluster', '--force'], /Error: cluster nocluster not found: etcd has no keys under \/service\/nocluster\//],
      [['restart', 'pgcluster', '--pg-version', '15.x', '--force'], /Error: 15\.x is not a valid PostgreSQL version/],
    ];
    for (const [args, expected] of cases) {
      const r = await ctl(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.out}${r.err}`);
      assert.match(r.err, expected, args.join(' '));
    }
    assert.equal((await c.view()).leader!.name, leader, 'nothing moved');
  });

  it('reload and restart a replica through its REST API', async () => {
    const view = await c.view();
    const replica = c.nodes.map((n) => n.name).find((n) => n !== view.leader!.name)!;
    const reload = await ctl(['reload', 'pgcluster', replica, '--force']);
    assert.equal(reload.code, 0, `${reload.out}${reload.err}`);
    assert.match(reload.out, new RegExp(`(Reload request received for member ${replica} and will be processed within 1 seconds|No changes to apply on member ${replica})`));
    const restart = await ctl(['restart', 'pgcluster', replica, '--force']);
    assert.equal(restart.code, 0, `${restart.out}${restart.err}`);
    assert.match(restart.out, new RegExp(`Success: restart on member ${replica}`));
    await c.waitHealthy(120_000);
  });

  it('switchover --force moves the leader, and history shows it', async (t) => {
    const before = await c.waitHealthy(120_000);
    const leader = before.leader!.name;
    const candidate = c.nodes.map((n) => n.name).find((n) => n !== leader)!;
    const t0 = Date.now();
    const r = await ctl(['switchover', '--leader', leader, '--candidate', candidate, '--force']);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    assert.match(r.out, /^Current cluster topology$/m);
    assert.match(r.out, new RegExp(`Successfully switched over to "${candidate}"`));
    const v = await c.waitHealthy(120_000);
    t.diagnostic(`switchover ${leader} -> ${candidate}: healthy again after ${Date.now() - t0} ms`);
    assert.equal(v.leader!.name, candidate);

    const h = await ctl(['history']);
    assert.equal(h.code, 0, h.err);
    assert.match(h.out, /^\| TL \| +LSN \| Reason +\| Timestamp +\| New Leader +\|$/m);
    assert.match(h.out, new RegExp(`^\\| +1 \\| +\\d+ \\| .*\\| ${candidate} +\\|$`, 'm'));
    const json = JSON.parse((await ctl(['history', '-f', 'json'])).out) as Record<string, unknown>[];
    assert.equal(json.at(-1)!['New Leader'], candidate);
  });

  it('failover --candidate --force promotes the candidate', async () => {
    const before = await c.waitHealthy(120_000);
    const candidate = c.nodes.map((n) => n.name).find((n) => n !== before.leader!.name)!;
    const r = await ctl(['failover', '--candidate', candidate, '--force']);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    assert.match(r.out, new RegExp(`Successfully (switched|failed) over to "${candidate}"`));
    assert.equal((await c.waitHealthy(120_000)).leader!.name, candidate);
  });

  it('reinit --force --wait rebuilds a replica and waits for it', async () => {
    const view = await c.waitHealthy(120_000);
    const replica = c.nodes.map((n) => n.name).find((n) => n !== view.leader!.name)!;
    const r = await ctl(['reinit', 'pgcluster', replica, '--force', '--wait']);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    // Between patronictl's lines, pgha's progress lines (one per change of step or percent: stdout is not a terminal).
    assert.match(r.out, new RegExp(`Success: reinitialize for member ${replica}\nWaiting for reinitialize to complete on: ${replica}\n(${replica}: reinit, [^\n]+ elapsed\n)*Reinitialize is completed on: ${replica}\n$`));
    await c.waitHealthy(120_000);
  });

  it("Debian's patronictl 3.0.2 list works against the cluster; its history and show-config print what ours do", async () => {
    const r = await run('patronictl', ['-c', cfg, 'list']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\+ Cluster: pgcluster /);
    assert.equal((r.out.match(/\| ty-db\d /g) ?? []).length, 3);
    for (const verb of ['history', 'show-config']) {
      const theirs = await run('patronictl', ['-c', cfg, verb]);
      const ours = await ctl([verb]);
      assert.equal(theirs.code, 0, theirs.err);
      assert.equal(ours.out, theirs.out, verb);
    }
  });

  it('remove asks for the name, the phrase and the leader, then deletes the keys', async () => {
    await c.store.put('/service/scratch/config', '{"ttl":30}');
    await c.store.put('/service/scratch/leader', 'x1');
    await c.store.put('/service/scratch/members/x1', '{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:1/patroni","state":"running","role":"master"}');
    const wrong = await ctl(['remove', 'scratch'], 'scratch\nyes\n');
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /You did not exactly type "Yes I am aware"/);
    const r = await ctl(['remove', 'scratch'], 'scratch\nYes I am aware\nx1\n');
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    assert.equal((await c.store.readPrefix('/service/scratch/')).kvs.length, 0);
    assert.ok((await c.store.readPrefix('/service/pgcluster/')).kvs.length > 0, 'the real cluster is untouched');
  });
});
