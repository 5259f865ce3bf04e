/**
 * The router's drain executor and its registration over the memory store on a manual clock: registered on a lease
 * and kept alive, removed at stop; a drain request for its leader pauses that member on the Drainable, is
 * acknowledged in the router's key once the member is idle, and resumed on a new leader. Pauses keeps the
 * operator's pause and the drain's apart; the status server answers POST /pause and /resume.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { clusterKeys } from '../../../src/model/keys';
import { parseClusterView } from '../../../src/model/cluster';
import { encodeDrainRequest, parseRouterRegistration } from '../../../src/model/drain';
import { createLogger } from '../../../src/log/logger';
import { RouterRegistry, REGISTRATION_TTL_S } from '../../../src/router/registration';
import { RouterDrain } from '../../../src/router/drain';
import { Pauses, type Drainable } from '../../../src/router/drainable';
import { closeServer, startStatusServer } from '../../../src/router/status';
import { ManualClock } from '../../support/manual-clock';
import { runPauseCommand } from '../../../src/cli/router-pause';

const keys = clusterKeys('/service', 'drain');
const logger = createLogger({ level: 'silent' });

/** A pool that reports `busy` transactions on node1 until finish() is called. */
class FakePool implements Drainable {
  calls: string[] = [];
  busyCount = 0;
  private waiters: (() => void)[] = [];
  pause(member?: string) {
    this.calls.push(`pause ${member ?? '*'}`);
  }
  resume(member?: string) {
    this.calls.push(`resume ${member ?? '*'}`);
  }
  busy() {
    return this.busyCount;
  }
  idle() {
    return this.busyCount === 0 ? Promise.resolve() : new Promise<void>((r) => this.waiters.push(r));
  }
  finish() {
    this.busyCount = 0;
    for (const w of this.waiters.splice(0)) w();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

function setup() {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ now: () => clock.now() });
  const registry = new RouterRegistry({ store, keys, scheduler: clock, logger }, { id: 'r1', pid: 7, host: 'app1' });
  const pool = new FakePool();
  const pauses = new Pauses(pool);
  let leader: string | undefined = 'node1';
  let view = parseClusterView(keys, 1, []);
  const drain = new RouterDrain({ registry, view: () => view, leader: () => leader, pauses, scheduler: clock, logger, timeoutMs: 5000 });
  const readView = async () => {
    view = parseClusterView(keys, 2, (await store.readPrefix(keys.prefix)).kvs);
  };
  const reg = async () => {
    const kv = await store.get(keys.router('r1'));
    return kv && parseRouterRegistration('r1', kv.value, kv.modRevision);
  };
  return { clock, store, registry, pool, pauses, drain, readView, reg, setLeader: (l: string | undefined) => (leader = l) };
}

describe('router registration', () => {
  it('registers on its own lease, stays registered past the ttl by keepalives, and is gone at stop', async () => {
    const { clock, store, registry, reg } = setup();
    registry.start();
    await settle();
    const kv = await store.get(keys.router('r1'));
    assert.ok(kv);
    assert.notEqual(kv.lease, '0');
    assert.deepEqual(await reg(), { id: 'r1', pid: 7, host: 'app1', modRevision: kv.modRevision });
    for (let i = 0; i < 4; i++) {
      clock.advance(REGISTRATION_TTL_S * 500);
      await settle();
    }
    assert.ok(await store.get(keys.router('r1')), 'still there after two ttls');
    await registry.stop();
    assert.equal(await store.get(keys.router('r1')), undefined);
  });
});

describe('RouterDrain: pause, acknowledge when idle, resume on the new leader', () => {
  it('a switchover away from its leader with a transaction in flight', async () => {
    const { store, registry, pool, pauses, drain, readView, reg, setLeader } = setup();
    registry.start();
    await settle();
    pool.busyCount = 1;
    await store.put(keys.drain, encodeDrainRequest({ id: 'switchover-41', leader: 'node1', candidate: 'node2', timeoutMs: 5000 }));
    await readView();
    drain.evaluate();
    await settle();
    assert.deepEqual(pool.calls, ['pause node1']);
    assert.deepEqual(pauses.list(), { node1: ['drain'] });
    assert.equal((await reg())?.drained, undefined, 'not acknowledged while the transaction runs');
    pool.finish();
    await settle();
    assert.equal((await reg())?.drained, 'switchover-41', 'acknowledged once idle');
    assert.deepEqual(drain.status(), { active: { id: 'switchover-41', member: 'node1', acked: true }, lastAcked: 'switchover-41' });
    setLeader(undefined); // the old leader released its key
    drain.evaluate();
    assert.deepEqual(pool.calls, ['pause node1'], 'still paused with no leader');
    setLeader('node2');
    drain.evaluate();
    assert.deepEqual(pool.calls, ['pause node1', 'resume node1']);
    assert.deepEqual(pauses.list(), {});
    drain.stop();
    await registry.stop();
  });

  it('an operator pause outlasts the drain\'s resume of the same member', () => {
    const pool = new FakePool();
    const pauses = new Pauses(pool);
    pauses.pause('node1', 'operator');
    pauses.pause('node1', 'drain');
    pauses.resume('node1', 'drain');
    assert.deepEqual(pool.calls, ['pause node1']);
    assert.deepEqual(pauses.list(), { node1: ['operator'] });
    pauses.resume('node1', 'operator');
    assert.deepEqual(pool.calls, ['pause node1', 'resume node1']);
  });

  it('an operator\'s resume of every member keeps a drain\'s pause of one (the pool\'s resume-all lifts it, so it is set again)', () => {
    const pool = new FakePool();
    const pauses = new Pauses(pool);
    pauses.pause(undefined, 'operator');
    pauses.pause('node1', 'drain');
    pauses.resume(undefined, 'operator');
    assert.deepEqual(pool.calls, ['pause *', 'pause node1', 'resume *', 'pause node1']);
    assert.deepEqual(pauses.list(), { node1: ['drain'] });
  });
});

describe('status server: POST /pause and /resume', () => {
  it('pauses every member or one, resumes (also from pgha router --pause/--resume), and refuses GET', async () => {
    const pool = new FakePool();
    const pauses = new Pauses(pool);
    const srv = await startStatusServer('127.0.0.1', 0, {
      metrics: async () => '',
      status: () => ({}),
      health: () => ({ ok: true, body: {} }),
      control: (action, member) => {
        if (action === 'pause') pauses.pause(member, 'operator');
        else pauses.resume(member, 'operator');
        return { paused: pauses.list() };
      },
    }, logger);
    try {
      const post = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${srv.port}${path}`, { method: 'POST' });
        return { status: res.status, body: (await res.json()) as unknown };
      };
      assert.deepEqual(await post('/pause'), { status: 200, body: { paused: { '*': ['operator'] } } });
      assert.deepEqual(await post('/pause?member=node2'), { status: 200, body: { paused: { '*': ['operator'], node2: ['operator'] } } });
      assert.deepEqual(await post('/resume'), { status: 200, body: { paused: { node2: ['operator'] } } });
      assert.deepEqual(pool.calls, ['pause *', 'pause node2', 'resume *', 'pause node2']);
      // The shell form: pgha router --pause/--resume --metrics ADDR:PORT [--member NAME].
      const out: string[] = [];
      assert.equal(await runPauseCommand(['--pause', '--member', 'node3', '--metrics', `127.0.0.1:${srv.port}`], (x) => out.push(x)), 0);
      assert.equal(await runPauseCommand(['--resume', '--member', 'node3', '--metrics', `127.0.0.1:${srv.port}`], (x) => out.push(x)), 0);
      assert.deepEqual(out.map((x) => JSON.parse(x) as unknown), [{ paused: { node2: ['operator'], node3: ['operator'] } }, { paused: { node2: ['operator'] } }]);
      await assert.rejects(runPauseCommand(['--pause'], () => undefined), /needs the router's metrics address/);
      const get = await fetch(`http://127.0.0.1:${srv.port}/pause`);
      await get.arrayBuffer();
      assert.equal(get.status, 405);
    } finally {
      await closeServer(srv.server);
    }
  });
});
