import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PostgresProbe } from '../../../src/model/postgres-state';
import { controlData } from '../../../src/postgres/controldata';
import { probePostgres, query } from '../../../src/postgres/probe';
import { basebackup, promote, removeDataDir, rewind, sourceDsn } from '../../../src/postgres/pgctl';
import type { ProgressSample } from '../../../src/lib/progress';
import { checkpoint, dropSlots, ensurePhysicalSlots, pauseReplay, resumeReplay } from '../../../src/postgres/sql';
import { followPrimary, initPrimary, startReplicaOf, type TestPostgres } from '../../support/postgres';
import { waitFor } from '../../support/wait';

async function probeUntil(pg: TestPostgres, what: string, ok: (p: PostgresProbe) => boolean): Promise<PostgresProbe> {
  return waitFor(`${pg.name}: ${what}`, async () => {
    const p = await probePostgres(pg.conn());
    return ok(p) ? p : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 });
}

async function currentLsn(pg: TestPostgres): Promise<number> {
  const p = await probePostgres(pg.conn());
  assert.ok(p.flushLsn !== undefined, `${pg.name} is a primary`);
  return p.flushLsn;
}

describe('streaming replication, promote and rewind (real PG15)', () => {
  let primary: TestPostgres;
  let replica: TestPostgres;

  before(async () => {
    primary = await initPrimary({ name: 'node1' });
    await query(primary.conn(), 'CREATE TABLE t (id int PRIMARY KEY, v text)');
    replica = await startReplicaOf(primary, { name: 'node2' });
  });
  after(async () => {
    await replica?.destroy();
    await primary?.destroy();
  });

  it('the replica streams through its slot, with receive and replay LSNs', async () => {
    assert.ok(existsSync(join(replica.dataDir, 'standby.signal')));
    await query(primary.conn(), "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g");
    const target = await currentLsn(primary);
    const p = await probeUntil(replica, 'streaming and caught up', (p) => p.replicationState === 'streaming' && (p.replayLsn ?? 0) >= target);
    assert.equal(p.inRecovery, true);
    assert.equal(p.timeline, 1);
    assert.ok((p.receiveLsn ?? 0) >= target);
    assert.ok((p.latestEndLsn ?? 0) > 0);
    assert.equal(p.flushLsn, undefined);
    assert.equal(p.replayPaused, false);
    const rows = await query<{ n: string }>(replica.conn(), 'SELECT count(*) AS n FROM t');
    assert.equal(rows[0]?.n, '1000');
  });

  it('the primary shows the replica in pg_stat_replication under its member name, and its slot', async () => {
    const p = await probeUntil(primary, 'replication row', (p) => (p.replication ?? []).some((r) => r.state === 'streaming'));
    assert.equal(p.replication?.length, 1);
    const row = p.replication![0]!;
    assert.equal(row.application_name, 'node2');
    assert.equal(row.usename, 'rep');
    assert.equal(row.client_addr, '127.0.0.1');
    assert.equal(row.sync_state, 'async');
    assert.ok((row.flushLsn ?? 0) > 0);
    assert.deepEqual(p.slots, ['node2']);
    assert.deepEqual(await dropSlots(primary.conn(), ['node2']), { dropped: [], busy: ['node2'] }, 'an active slot is not dropped');
  });

  it('slots: ensure creates only missing ones, drop removes inactive ones', async () => {
    assert.deepEqual(await ensurePhysicalSlots(primary.conn(), ['node2', 'node3', 'node4']), ['node3', 'node4']);
    assert.deepEqual(await ensurePhysicalSlots(primary.conn(), ['node3']), []);
    assert.deepEqual(await dropSlots(primary.conn(), ['node3', 'node4', 'absent']), { dropped: ['node3', 'node4'], busy: [] });
    assert.deepEqual((await probePostgres(primary.conn())).slots, ['node2']);
  });

  it('pausing replay shows in the probe, and resuming clears it', async () => {
    await pauseReplay(replica.conn());
    await probeUntil(replica, 'replay paused', (p) => p.replayPaused === true);
    await query(primary.conn(), "INSERT INTO t VALUES (5000, 'while paused')");
    const target = await currentLsn(primary);
    const paused = await probeUntil(replica, 'received while paused', (p) => (p.receiveLsn ?? 0) >= target);
    assert.ok((paused.replayLsn ?? 0) < target, 'replay stays behind while paused');
    await resumeReplay(replica.conn());
    await probeUntil(replica, 'replay resumed and caught up', (p) => p.replayPaused === false && (p.replayLsn ?? 0) >= target);
  });

  it('promoting the replica makes it a primary on timeline 2', async () => {
    await promote(replica.tools, replica.dataDir, 60);
    const p = await probePostgres(replica.conn());
    assert.equal(p.inRecovery, false);
    assert.equal(p.timeline, 2);
    assert.ok((p.flushLsn ?? 0) > 0);
    assert.ok(!existsSync(join(replica.dataDir, 'standby.signal')));
    await query(replica.conn(), "INSERT INTO t VALUES (6000, 'on the new primary')");
  });

  it('pg_rewind turns the diverged old primary into a replica of the new one', async (t) => {
    // The old primary takes a write the new one never saw: its history has diverged.
    await query(primary.conn(), "INSERT INTO t VALUES (7000, 'lost write')");
    await primary.stop('fast');
    // The new primary must have checkpointed after promote, so pg_rewind sees timeline 2 in its control file.
    await checkpoint(replica.conn());
    await ensurePhysicalSlots(replica.conn(), ['node1']);

    const progress: ProgressSample[] = [];
    await rewind(primary.tools, {
      dataDir: primary.dataDir,
      sourceDsn: sourceDsn({ host: '127.0.0.1', port: replica.port, user: replica.superuser.username }),
      pgpassFile: primary.pgpassFile,
      timeoutSec: 120,
      onProgress: (p) => progress.push(p),
    });
    // pg_rewind --progress always prints its final `N/N kB (100%) copied` line.
    assert.ok(progress.length > 0, 'pg_rewind reported progress');
    assert.equal(progress.at(-1)!.percent, 100);
    assert.ok(progress.at(-1)!.totalKb > 0);
    t.diagnostic(`pg_rewind progress: ${JSON.stringify(progress)}`);
    // pg_rewind copies the source's config files: pgha rewrites its own before starting.
    await followPrimary(primary, replica, 'node1');
    await primary.start();

    const p = await probeUntil(primary, 'streaming from the new primary', (p) => p.replicationState === 'streaming' && p.timeline === 2);
    assert.equal(p.inRecovery, true);
    const rows = await query<{ id: number }>(primary.conn(), 'SELECT id FROM t WHERE id >= 5000 ORDER BY id');
    assert.deepEqual(rows.map((r) => r.id), [5000, 6000], 'the lost write is gone and the new primary’s write is there');
    const cd = await controlData(primary.tools, primary.dataDir);
    assert.equal(cd.clusterState, 'in archive recovery');
  });

  it('a second replica clones without a slot and reports basebackup progress', async () => {
    const progress: number[] = [];
    const extra = await startReplicaOf(replica, { name: 'node3', slot: false });
    try {
      await probeUntil(extra, 'streaming without slot', (p) => p.replicationState === 'streaming' && p.timeline === 2);
      await extra.stop('fast');
      await removeDataDir(extra.dataDir);
      await basebackup(extra.tools, {
        dataDir: extra.dataDir,
        source: { host: '127.0.0.1', port: replica.port, user: 'rep' },
        pgpassFile: extra.pgpassFile,
        timeoutSec: 120,
        onProgress: (p) => progress.push(p.percent),
      });
      assert.ok(progress.length > 0, 'progress was reported');
      assert.equal(progress.at(-1), 100);
    } finally {
      await extra.destroy();
    }
  });
});
