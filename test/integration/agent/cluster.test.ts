/**
 * Issue 2 acceptance on real processes: three agents started from the three config/ files (only addresses, ports
 * and paths changed, through PATRONI_* variables) form a cluster; patronictl agrees with pgha ctl; etcd holds
 * Patroni's keys on leases; the REST health endpoints answer as Patroni's; kill -9 of the leader fails over and
 * the killed node comes back as a streaming replica by itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { configFiles, httpStatus, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';

const run = promisify(execFile);
const PGHA = join(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');

describe('a cluster from the config/ files', { timeout: 900_000 }, () => {
  let c: TestCluster;
  let startedAt = 0;
  const env = () => ({ ...process.env, PATRONI_ETCD3_HOSTS: c.etcd.endpoint, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' });

  before(async () => {
    startedAt = Date.now();
    c = await startTestCluster({ configFiles: configFiles() });
  });
  after(async () => {
    if (c) await c.close();
  });

  it('forms one leader and two streaming replicas on one timeline within 60 s', async (t) => {
    try {
      const view = await c.waitHealthy(Math.max(1000, 60_000 - (Date.now() - startedAt)));
      t.diagnostic(`healthy ${Date.now() - startedAt} ms after the agents started`);
      assert.equal(view.members.size, 3);
    } catch (err) {
      throw new Error(`${String(err)}\n${[0, 1, 2].map((i) => c.logTail(i, 15)).join('\n---\n')}`);
    }
  });

  it('shows the same members, roles and timelines in patronictl 3.0.2 and pgha ctl list', async () => {
    const ours = JSON.parse((await run(process.execPath, [PGHA, 'ctl', '-c', c.nodes[0]!.configFile, 'list', '--json'], { env: env() })).stdout) as Row[];
    const theirs = JSON.parse((await run('patronictl', ['-c', c.nodes[0]!.configFile, 'list', '-f', 'json'], { env: env() })).stdout) as Row[];
    const byMember = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.Member, r]));
    const a = byMember(ours);
    const b = byMember(theirs);
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    for (const name of Object.keys(a)) {
      assert.equal(a[name]!.Role, b[name]!.Role, `role of ${name}`);
      assert.equal(a[name]!.TL, b[name]!.TL, `timeline of ${name}`);
      assert.equal(a[name]!.Host, b[name]!.Host, `host of ${name}`);
      // patronictl 3.0.x prints the member key's `state`; 3.1+ and pgha print `replication_state` when present.
      const view = await c.view();
      const doc = view.members.get(name)!.doc;
      assert.equal(b[name]!.State, doc.state);
      assert.equal(a[name]!.State, doc.replication_state ?? doc.state);
    }
    const pretty = (await run(process.execPath, [PGHA, 'ctl', '-c', c.nodes[0]!.configFile, 'list'], { env: env() })).stdout;
    assert.match(pretty, /^\+ Cluster: pgcluster \(\d{10,}\) /);
    assert.match(pretty, /\| Leader +\| running/);
  });

  it('keeps Patroni keys in etcd, with the leader and member keys on a lease', async () => {
    const { stdout } = await run('etcdctl', ['--endpoints', c.etcd.endpoint, 'get', '--prefix', '/service/pgcluster/', '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const kvs = (JSON.parse(stdout) as { kvs: { key: string; value: string; lease?: number | string }[] }).kvs.map((kv) => ({
      key: Buffer.from(kv.key, 'base64').toString(),
      value: Buffer.from(kv.value, 'base64').toString(),
      lease: String(kv.lease ?? '0'),
    }));
    const get = (k: string) => kvs.find((kv) => kv.key === `/service/pgcluster/${k}`);
    assert.match(get('initialize')!.value, /^\d{10,}$/);
    const config = JSON.parse(get('config')!.value) as Record<string, unknown>;
    assert.equal(config.ttl, 30);
    assert.equal(config.loop_wait, 10);
    const leader = get('leader')!;
    assert.match(leader.value, /^ty-db[123]$/, 'the leader key holds the bare member name');
    assert.notEqual(leader.lease, '0');
    const status = JSON.parse(get('status')!.value) as { optime: number };
    assert.equal(typeof status.optime, 'number');
    for (const n of c.nodes) {
      const m = get(`members/${n.name}`)!;
      if (n.name === leader.value) assert.equal(m.lease, leader.lease, 'the leader agent puts its member key on its leader lease');
      else assert.notEqual(m.lease, '0', 'member keys are on their agent\'s lease');
      const doc = JSON.parse(m.value) as Record<string, unknown>;
      assert.equal(doc.conn_url, `postgres://127.0.0.1:${n.pgPort}/postgres`);
      assert.equal(doc.api_url, `http://127.0.0.1:${n.apiPort}/patroni`);
      assert.equal(doc.state, 'running');
      assert.equal(doc.role, n.name === leader.value ? 'master' : 'replica');
      assert.equal(typeof doc.xlog_location, 'number');
      assert.equal(doc.timeline, 1);
    }
  });

  it('answers /primary and /replica as Patroni does, and /replica?lag=0 turns 503 on a paused replica', async () => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const leader = c.nodes[li]!;
    const replica = c.nodes[(li + 1) % 3]!;
    assert.equal(await httpStatus(leader.apiPort, '/primary'), 200);
    assert.equal(await httpStatus(leader.apiPort, '/master'), 200);
    assert.equal(await httpStatus(leader.apiPort, '/leader'), 200);
    assert.equal(await httpStatus(leader.apiPort, '/replica'), 503);
    assert.equal(await httpStatus(replica.apiPort, '/primary'), 503);
    assert.equal(await httpStatus(replica.apiPort, '/replica'), 200);
    assert.equal(await httpStatus(replica.apiPort, '/replica?lag=16MB'), 200);

    await sql(replica.pgPort, 'SELECT pg_wal_replay_pause()');
    await sql(leader.pgPort, 'CREATE TABLE IF NOT EXISTS lag_probe (id bigserial primary key, pad text)');
    try {
      await waitFor('/replica?lag=0 to answer 503 on the paused replica', async () => {
        await sql(leader.pgPort, "INSERT INTO lag_probe (pad) SELECT repeat('x', 1000) FROM generate_series(1, 200)");
        return (await httpStatus(replica.apiPort, '/replica?lag=0')) === 503;
      }, { timeoutMs: 90_000, intervalMs: 500 });
      assert.equal(await httpStatus(replica.apiPort, '/replica?lag=1GB'), 200);
    } finally {
      await sql(replica.pgPort, 'SELECT pg_wal_replay_resume()');
    }
    await waitFor('the resumed replica to qualify again for lag=16MB', async () => (await httpStatus(replica.apiPort, '/replica?lag=16MB')) === 200, { timeoutMs: 60_000 });
  });

  it('fails over on kill -9 of the leader agent and postgres, and the killed node rejoins by itself', async (t) => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const old = c.nodes[li]!;
    const postmasterPid = Number(readFileSync(join(old.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const killedAt = Date.now();
    c.agents[li]!.child.kill('SIGKILL');
    process.kill(postmasterPid, 'SIGKILL');
    await c.agents[li]!.exited;
    c.agents[li] = undefined;
    const ttlPlusLoopWait = (30 + 10) * 1000;
    const next = await waitFor('another member to hold the leader key', async () => {
      const v = await c.view();
      return v.leader && v.leader.name !== old.name ? v.leader.name : undefined;
    }, { timeoutMs: ttlPlusLoopWait + 30_000, intervalMs: 100 });
    const tookMs = Date.now() - killedAt;
    t.diagnostic(`new leader ${next} ${tookMs} ms after the kill`);
    assert.ok(tookMs <= ttlPlusLoopWait, `new leader after ${tookMs} ms, expected within ttl + loop_wait = ${ttlPlusLoopWait} ms`);
    const ni = c.nodes.findIndex((n) => n.name === next);
    await waitFor('the new leader to accept writes', async () => {
      await sql(c.nodes[ni]!.pgPort, 'CREATE TABLE IF NOT EXISTS after_failover (id int)');
      return true;
    }, { timeoutMs: 60_000 });
    // kill the leftover postgres children too (a real host crash takes them all)
    await waitFor('the old postmaster children to exit', () => !existsSync(join(old.dataDir, 'postmaster.pid')) || isGone(postmasterPid), { timeoutMs: 30_000 });
    c.startAgent(li);
    try {
      const healed = await c.waitHealthy(180_000);
      assert.equal(healed.leader?.name, next);
      const rows = await sql<{ r: boolean }>(old.pgPort, 'SELECT pg_is_in_recovery() AS r');
      assert.equal(rows[0]!.r, true);
    } catch (err) {
      throw new Error(`${String(err)}\n${c.logTail(li, 30)}`);
    }
  });
});

interface Row {
  Member: string;
  Host: string;
  Role: string;
  State: string;
  TL?: number;
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}
