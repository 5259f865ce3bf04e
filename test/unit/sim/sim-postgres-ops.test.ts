/**
 * The simulated PostgresOps: the real agent's view of a simulated postgres. Long operations take simulated time and
 * answer as events of the calling agent (a killed agent never hears back); copies move the model's WAL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimContext } from '../../support/sim/context';
import { SimPostgres } from '../../support/sim/postgres-model';
import { Rng } from '../../support/sim/rng';
import { newProc, Scheduler } from '../../support/sim/scheduler';
import { SimPostgresOps } from '../../support/sim/sim-postgres-ops';

function world() {
  const sched = new Scheduler();
  const ctx: SimContext = { sched, rng: new Rng(7), trace: () => undefined, touched: () => undefined };
  const pgs = new Map<string, SimPostgres>();
  const node = (name: string) => {
    const pg = new SimPostgres(name, ctx);
    pgs.set(name, pg);
    const caller = newProc(`${name}/agent`);
    const ops = new SimPostgresOps({
      ctx, caller, pg, trace: () => undefined, reachablePostgres: (n) => pgs.get(n),
      probe: () => (pg.running ? { reachable: true, inRecovery: pg.role === 'replica', timeline: pg.timeline } : { reachable: false }),
    });
    return { pg, caller, ops };
  };
  const settle = async (ms: number) => {
    await sched.runUntil(sched.now + ms, () => false);
    await new Promise(setImmediate);
  };
  return { sched, node, settle };
}

test('initdb and start take simulated time; then postgres runs as a primary', async () => {
  const w = world();
  const a = w.node('a');
  let started = false;
  void a.ops.initdb().then(() => a.ops.configure({ role: 'primary' })).then(() => a.ops.start()).then(() => (started = true));
  await w.settle(200);
  assert.equal(started, false);
  assert.equal(await a.ops.dataDirState(), 'empty');
  await w.settle(5000);
  assert.equal(started, true);
  assert.equal(await a.ops.isRunning(), true);
  assert.equal(await a.ops.hasStandbySignal(), false);
  assert.equal(a.pg.role, 'primary');
});

test('a killed agent never hears the answer of its pg_ctl stop, though postgres stops', async () => {
  const w = world();
  const a = w.node('a');
  a.pg.initdb();
  await a.ops.configure({ role: 'primary' });
  void a.ops.start();
  await w.settle(5000);
  let answered = false;
  void a.ops.stop('fast', 60_000).then(() => (answered = true));
  w.sched.kill(a.caller);
  await w.settle(70_000);
  assert.equal(a.pg.running, false);
  assert.equal(answered, false);
});

test('a basebackup copies the source\'s WAL and timeline; a rewind keeps only the shared WAL', async () => {
  const w = world();
  const a = w.node('a');
  const b = w.node('b');
  a.pg.initdb();
  a.pg.log = [1, 2, 3];
  void a.ops.start();
  await w.settle(5000);
  await Promise.all([b.ops.basebackup({ name: 'a', host: 'a', port: 5432 }), w.settle(5000)]);
  assert.deepEqual(b.pg.log, [1, 2, 3]);
  assert.equal(await b.ops.dataDirState(), 'initialized');
  b.pg.log.push(9);
  a.pg.log.push(4);
  const [rewound] = await Promise.all([b.ops.rewind({ name: 'a', host: 'a', port: 5432 }), w.settle(5000)]);
  assert.equal(rewound, true);
  assert.deepEqual(b.pg.log, [1, 2, 3]);
});

test('timeline history files: the current one, an ancestor, and one written before a promotion', async () => {
  const w = world();
  const a = w.node('a');
  a.pg.initdb();
  a.pg.timeline = 3;
  a.pg.history = [[1, 1000], [2, 5000]];
  assert.deepEqual(await a.ops.timelineHistory(3), [[1, 1000, 'no recovery target specified'], [2, 5000, 'no recovery target specified']]);
  assert.deepEqual(await a.ops.timelineHistory(2), [[1, 1000, 'no recovery target specified']]);
  assert.equal(await a.ops.writeTimelineHistory(4, '1\t0/3E8\tno recovery target specified\n'), true);
  assert.equal(await a.ops.writeTimelineHistory(4, 'x'), false);
  assert.deepEqual(await a.ops.timelineHistory(4), [[1, 1000, 'no recovery target specified']]);
  await assert.rejects(a.ops.timelineHistory(9));
});
