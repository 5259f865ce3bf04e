/**
 * Issue 4 acceptance on a real 3-node cluster: patronictl 3.0.2 switchover against pgha (the old leader streams on
 * the new timeline, `history` holds the switch); a diverged old primary is rewound and streams; synchronous mode
 * (strict: commits wait with no standby; a failover promotes only the synchronous standby).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { PASSWORD, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';
import type { ClusterView } from '../../../src/model/cluster';

function run(file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
  });
}

const postmasterPid = (dataDir: string) => Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

describe('operating a pgha cluster', { timeout: 900_000 }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster({ dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 }, socketDir: 'home' });
    await c.waitHealthy(180_000);
  });
  after(async () => {
    if (c) await c.close();
  });

  const timelineOf = (v: ClusterView, name: string) => Number(v.members.get(name)?.doc.timeline);
  const newLeaderThan = (old: string) =>
    waitFor(`a new leader other than ${old}`, async () => {
      const v = await c.view();
      return v.leader && v.leader.name !== old ? v.leader.name : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });

  it('patronictl 3.0.2 switchover: the leader moves, the old one streams on the new timeline, history holds it', async (t) => {
    const before = await c.view();
    const leader = before.leader!.name;
    const candidate = c.nodes.map((n) => n.name).find((n) => n !== leader)!;
    const historyBefore = before.history?.length ?? 0;
    // As an operator reads `list` first: a replica still replaying the bootstrap's WAL switch is refused as a
    // candidate (lagging > maximum_lag_on_failover), which is right, so wait until the candidate shows caught up.
    await waitFor(`${candidate} caught up with ${leader}`, async () => {
      const v = await c.view();
      const lead = Number(v.members.get(leader)?.doc.xlog_location);
      const cand = Number(v.members.get(candidate)?.doc.xlog_location);
      return Number.isFinite(lead) && Number.isFinite(cand) && lead - cand <= 1024 * 1024;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const t0 = Date.now();
    const res = await run('patronictl', ['-c', c.nodes[0]!.configFile, 'switchover', '--leader', leader, '--candidate', candidate, '--force']);
    assert.equal(res.code, 0, res.out);
    assert.match(res.out, new RegExp(`Successfully switched over to "${candidate}"`));
    const v = await c.waitHealthy(120_000);
    t.diagnostic(`switchover ${leader} -> ${candidate}: healthy again after ${Date.now() - t0} ms`);
    assert.equal(v.leader!.name, candidate);
    const tl = timelineOf(v, candidate);
    assert.equal(tl, timelineOf(before, leader) + 1);
    assert.equal(v.members.get(leader)!.doc.replication_state, 'streaming');
    assert.equal(timelineOf(v, leader), tl);
    assert.equal(v.history!.length, historyBefore + 1);
    assert.equal(Number(v.history!.at(-1)![0]), tl - 1);
    assert.equal(v.failover, undefined, 'the failover key is cleared');
  });

  it('a diverged old primary (writes the new leader never got) is rewound and streams', async (t) => {
    const v0 = await c.view();
    const li = c.leaderIndex(v0);
    const old = c.nodes[li]!;
    await sql(old.pgPort, 'create table if not exists diverged (id int primary key, site text)');
    await waitFor('the table reaches the replicas', async () => {
      for (const n of c.nodes) if (n !== old) await sql(n.pgPort, 'select 1 from diverged');
      return true;
    }, { timeoutMs: 30_000 });
    // The agent dies; its postgres stays primary. Freeze its walsenders, then write: WAL no replica receives.
    c.agents[li]!.child.kill('SIGKILL');
    const senders = await sql<{ pid: number }>(old.pgPort, 'select pid from pg_stat_replication');
    for (const s of senders) process.kill(s.pid, 'SIGSTOP');
    await sql(old.pgPort, "insert into diverged select g, 'old primary only' from generate_series(1, 1000) g");
    for (const s of senders) process.kill(s.pid, 'SIGKILL');
    process.kill(postmasterPid(old.dataDir), 'SIGKILL');
    const next = await newLeaderThan(old.name);
    const ni = c.nodes.findIndex((n) => n.name === next);
    await waitFor('writes on the new leader', async () => {
      await sql(c.nodes[ni]!.pgPort, "insert into diverged values (5000, 'new leader')");
      return true;
    }, { timeoutMs: 60_000 });
    await c.agents[li]!.exited;
    const t0 = Date.now();
    c.startAgent(li);
    const v = await c.waitHealthy(180_000);
    t.diagnostic(`former primary streaming ${Date.now() - t0} ms after its agent restarted`);
    assert.equal(v.leader!.name, next);
    const log = readFileSync(old.logFile, 'utf8');
    assert.match(log, /rewound former primary/);
    // pg_rewind --progress: at least its final 100% line, logged with the measured rate.
    const rewindProgress = log.split('\n').filter((l) => l.includes('"msg":"rewind progress"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rewindProgress.at(-1)?.percent, 100, log.slice(-3000));
    assert.equal(typeof rewindProgress.at(-1)?.rateKbPerSec, 'number');
    t.diagnostic(`rewind progress: ${JSON.stringify(rewindProgress.at(-1))}`);
    await waitFor('the rewound node has the new leader\'s row and none of its own', async () => {
      const rows = await sql<{ site: string; n: string }>(old.pgPort, 'select site, count(*) as n from diverged group by site');
      return rows.length === 1 && rows[0]!.site === 'new leader';
    }, { timeoutMs: 60_000 });
  });

  it('synchronous mode, strict: commits wait with no standby; a failover promotes only the synchronous standby', async (t) => {
    let v = await c.view();
    const config = v.config!.value;
    await c.store.put(`/service/${c.scope}/config`, JSON.stringify({ ...config, synchronous_mode: true, synchronous_mode_strict: true }));
    v = await waitFor('a synchronous standby in the sync key', async () => {
      const w = await c.view();
      return w.sync?.leader === w.leader?.name && w.sync?.syncStandby.length === 1 ? w : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const li = c.leaderIndex(v);
    const leader = c.nodes[li]!;
    const syncName = v.sync!.syncStandby[0]!;
    const gucRows = await sql<{ s: string }>(leader.pgPort, "select current_setting('synchronous_standby_names') as s");
    assert.equal(gucRows[0]!.s, `"${syncName}"`);
    await sql(leader.pgPort, 'create table if not exists sync_probe (id serial primary key)');

    // Both replicas stop: strict mode keeps the GUC, so a commit waits for a synchronous standby.
    const replicas = c.nodes.map((_, i) => i).filter((i) => i !== li);
    for (const i of replicas) await c.stopAgent(i);
    const writer = new Client({ host: '127.0.0.1', port: leader.pgPort, user: 'admin', password: PASSWORD, database: 'postgres' });
    await writer.connect();
    writer.on('error', () => undefined);
    let committed = false;
    const commit = writer.query('insert into sync_probe default values').then(() => (committed = true));
    await waitFor('the commit waits on SyncRep', async () => {
      const rows = await sql<{ n: string }>(leader.pgPort, "select count(*) as n from pg_stat_activity where wait_event = 'SyncRep'");
      return Number(rows[0]!.n) === 1;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    assert.equal(committed, false);
    for (const i of replicas) c.startAgent(i);
    await commit;
    await writer.end();
    v = await c.waitHealthy(180_000);
    const sync = await waitFor('a synchronous standby again', async () => {
      const w = await c.view();
      return w.sync?.syncStandby.length === 1 ? w.sync.syncStandby[0] : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });

    // kill -9 of the leader: only the synchronous standby may take over.
    const pm = postmasterPid(leader.dataDir);
    c.agents[li]!.child.kill('SIGKILL');
    process.kill(pm, 'SIGKILL');
    const next = await newLeaderThan(leader.name);
    t.diagnostic(`sync standby ${sync}; new leader ${next}`);
    assert.equal(next, sync);
    await c.agents[li]!.exited;
    c.startAgent(li);
    await c.waitHealthy(180_000);
    // Sync mode off again: the sync key goes away and commits no longer wait.
    const now = await c.view();
    await c.store.put(`/service/${c.scope}/config`, JSON.stringify({ ...now.config!.value, synchronous_mode: false, synchronous_mode_strict: false }));
    await waitFor('the sync key removed', async () => (await c.view()).sync === undefined, { timeoutMs: 60_000, intervalMs: 200 });
  });
});
