/**
 * The Executor carries out decide's actions and the plans' steps: scenarios over a MemoryStore and a FakePostgres,
 * asserting the effects in order (what a real postgres and etcd would have seen).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../../src/agent/execute';
import type { LeaseKeeper } from '../../../src/agent/lease-keeper';
import type { Action } from '../../../src/agent/actions';
import type { AgentConfig } from '../../../src/config/types';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import type { ClusterStore } from '../../../src/dcs/store';
import type { ClusterView } from '../../../src/model/cluster';
import { silentLogger } from '../../../src/log/logger';
import { MEMBER_SLOT_RETENTION_MS } from '../../../src/agent/plan-slots';
import { aCluster, dynamic, KEYS } from '../../support/agent-builders';
import { FakePostgres } from '../../support/fake-postgres';
import { ManualClock } from '../../support/manual-clock';
import { parseEdited, section } from '../config/helpers';

/** An executor for ty-db2 over a memory store whose writes to the sync key are logged into the same steps as postgres'. */
function setUp(pg: FakePostgres, pgSection: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const config: AgentConfig = parseEdited((d) => {
    d.name = 'ty-db2';
    Object.assign(section(d, 'postgresql'), pgSection);
  });
  const memory = new MemoryStore({ now: () => clock.now() });
  const store = new Proxy(memory, {
    get: (target, name: string) => {
      const f = Reflect.get(target, name) as unknown;
      if (typeof f !== 'function') return f;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string' && args[0] === KEYS.sync && /put|create|delete/i.test(name)) pg.steps.push(`sync key ${name}`);
        return (f as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as ClusterStore;
  const exec = new Executor({
    config: { ...config, scope: 'pgcluster' }, keys: KEYS, store, ops: pg, logger: silentLogger(), scheduler: clock,
    lease: { fenceMarginMs: 5000 } as LeaseKeeper, exit: () => undefined,
  });
  return { exec, clock, memory };
}

const leaderView = (doc: Record<string, unknown> = {}) =>
  aCluster().initialized().leader('ty-db1').member('ty-db1', 5432, { role: 'master', timeline: 2, ...doc }).member('ty-db2', 5433).build();

const startReplica = (exec: Executor, view: ClusterView, usePgRewind = true) =>
  exec.runLong({ type: 'start_replica', leader: 'ty-db1' }, { view, dynamic: dynamic({ postgresql: { ...dynamic().postgresql, usePgRewind } }) });

describe('executor: a former primary that crashed rejoins the new leader', () => {
  it('chooses pg_rewind, then starts as the leader\'s replica', async () => {
    const pg = FakePostgres.crashedPrimary();
    await startReplica(setUp(pg).exec, leaderView());
    assert.deepEqual(pg.steps, ['rewind from ty-db1', 'configure replica of ty-db1', 'start']);
  });

  it('rewind fails, remove_data_directory_on_rewind_failure: wipes and clones again', async () => {
    const pg = FakePostgres.crashedPrimary();
    pg.rewindWorks = false;
    await startReplica(setUp(pg, { remove_data_directory_on_rewind_failure: true }).exec, leaderView());
    assert.deepEqual(pg.steps, ['rewind from ty-db1', 'wipe data directory', 'wipe data directory', 'basebackup from ty-db1', 'configure replica of ty-db1', 'start']);
  });

  it('rewind fails and removal is not allowed: the diverged directory is moved aside (kept), then cloned again', async () => {
    const pg = FakePostgres.crashedPrimary();
    pg.rewindWorks = false;
    await startReplica(setUp(pg).exec, leaderView());
    assert.deepEqual(pg.steps.slice(0, 2), ['rewind from ty-db1', 'move data directory aside']);
    assert.deepEqual(pg.steps.slice(-3), ['basebackup from ty-db1', 'configure replica of ty-db1', 'start']);
  });

  it('waits (a retryable error, nothing touched) while the new leader has not checkpointed after its promotion', async () => {
    const pg = FakePostgres.crashedPrimary();
    await assert.rejects(startReplica(setUp(pg).exec, leaderView({ checkpoint_after_promote: false })), { code: 'waiting_for_checkpoint' });
    assert.deepEqual(pg.steps, []);
  });

  it('use_pg_rewind off and no removal allowed: starts as it is', async () => {
    const pg = FakePostgres.crashedPrimary();
    await startReplica(setUp(pg).exec, leaderView(), false);
    assert.deepEqual(pg.steps, ['configure replica of ty-db1', 'start']);
  });
});

describe('executor: a running replica whose WAL diverged (the rewind action)', () => {
  it('stops it (fast) and rewinds before following', async () => {
    const pg = FakePostgres.replica();
    await setUp(pg).exec.runLong({ type: 'rewind', leader: 'ty-db1' }, { view: leaderView(), dynamic: dynamic({ postgresql: { ...dynamic().postgresql, usePgRewind: true } }) });
    assert.deepEqual(pg.steps, ['stop fast', 'rewind from ty-db1', 'configure replica of ty-db1', 'start']);
  });

  it('a fast stop that fails is followed by an immediate one', async () => {
    const pg = FakePostgres.replica();
    pg.failNext('stop');
    await setUp(pg).exec.runLong({ type: 'rewind', leader: 'ty-db1' }, { view: leaderView(), dynamic: dynamic({ postgresql: { ...dynamic().postgresql, usePgRewind: true } }) });
    assert.deepEqual(pg.steps.slice(0, 3), ['stop fast', 'stop immediate', 'rewind from ty-db1']);
  });
});

describe('executor: self-fencing stop', () => {
  it('stops fast within the budget; when that fails, immediately (both marked as fencing)', async () => {
    const pg = FakePostgres.primary();
    pg.failNext('stop');
    await setUp(pg).exec.fence(2500);
    assert.deepEqual(pg.steps, ['stop fast (fencing)', 'stop immediate (fencing)']);
  });
});

describe('executor: synchronous replication changes in the safe order', () => {
  const sync = (standbys: string[], keyModRevision?: number): Action => ({ type: 'sync', guc: standbys.map((s) => `"${s}"`).join(',') || undefined, standbys, ...(keyModRevision !== undefined ? { keyModRevision } : {}) });

  it('a new synchronous standby: postgres waits for it before the key names it', async () => {
    const pg = FakePostgres.primary();
    const { exec } = setUp(pg);
    const view = aCluster().initialized().leader('ty-db2').member('ty-db2', 5433, { role: 'master' }).build();
    await exec.runShort(sync(['ty-db3']), { view, dynamic: dynamic() });
    assert.deepEqual(pg.steps, ['synchronous_standby_names "ty-db3"', 'sync key createIfAbsent']);
  });

  it('a standby dropped from sync: the key forgets it before postgres stops waiting for it', async () => {
    const pg = FakePostgres.primary();
    const { exec, memory } = setUp(pg);
    await memory.put(KEYS.sync, JSON.stringify({ leader: 'ty-db2', sync_standby: 'ty-db3' }));
    const view = aCluster().initialized().leader('ty-db2').member('ty-db2', 5433, { role: 'master' })
      .raw('sync', JSON.stringify({ leader: 'ty-db2', sync_standby: 'ty-db3' })).build();
    const rev = (await memory.get(KEYS.sync))!.modRevision;
    await exec.runShort(sync([], rev), { view, dynamic: dynamic() });
    assert.deepEqual(pg.steps, ['sync key putIfModRevision', 'synchronous_standby_names (configured)']);
  });
});

describe('executor: replication slots of members that left', () => {
  it('keeps a departed member\'s slot for the retention (scheduler\'s wall clock), then drops it', async () => {
    const pg = FakePostgres.primary();
    const { exec, clock } = setUp(pg);
    const ctx = (view: ClusterView) => ({ view, dynamic: dynamic({ postgresql: { ...dynamic().postgresql, useSlots: true } }) });
    const both = aCluster().initialized().leader('ty-db2').member('ty-db2', 5433, { role: 'master' }).member('ty-db3', 5434).build();
    const alone = aCluster().initialized().leader('ty-db2').member('ty-db2', 5433, { role: 'master' }).build();
    await exec.runShort({ type: 'publish_status' }, ctx(both));
    clock.advance(MEMBER_SLOT_RETENTION_MS - 1);
    await exec.runShort({ type: 'publish_status' }, ctx(alone));
    clock.advance(1);
    await exec.runShort({ type: 'publish_status' }, ctx(alone));
    await exec.runShort({ type: 'publish_status' }, ctx(alone));
    assert.deepEqual(pg.steps, ['slots ty_db3', 'slots ty_db3', 'slots -', 'drop slots ty_db3', 'slots -']);
  });
});
