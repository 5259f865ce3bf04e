/**
 * The leader's side of the switchover drain: whether a graceful demote asks the routers first (plan-drain.ts), how
 * long it waits for them, and the effects (drain-wait.ts) over the memory store on a manual clock: the drain key is
 * written before the wait and removed after, and with no router registered nothing is written and nothing waits.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planDrainStart, planDrainWait } from '../../../src/agent/plan-drain';
import { drainRouters } from '../../../src/agent/drain-wait';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { clusterKeys } from '../../../src/model/keys';
import { parseClusterView } from '../../../src/model/cluster';
import { encodeRouterRegistration, parseDrainRequest } from '../../../src/model/drain';
import { createLogger } from '../../../src/log/logger';
import { ManualClock } from '../../support/manual-clock';

const keys = clusterKeys('/service', 'drain');
const kv = (key: string, value: string, modRevision = 1) => ({ key, value, modRevision, createRevision: modRevision, lease: '0' });
const switchover = kv(keys.failover, JSON.stringify({ leader: 'node1', member: 'node2' }), 41);
const router = (id: string, drained?: string) => kv(keys.router(id), encodeRouterRegistration({ id, pid: 7, host: 'app1', ...(drained ? { drained } : {}) }));

describe('planDrainStart: does a switchover wait for routers?', () => {
  it('routers registered: the leader asks them to drain it, the request names the switchover and the candidate', () => {
    const view = parseClusterView(keys, 50, [switchover, router('r1'), router('r2')]);
    const s = planDrainStart(view, 'node1', 5000);
    assert.equal(s.drain, true);
    assert.deepEqual(s.drain && s.request, { id: 'switchover-41', leader: 'node1', candidate: 'node2', timeoutMs: 5000 });
    assert.equal(s.reason, 'asking 2 router(s) to drain node1 before demoting (r1, r2)');
  });

  it('no router registered: no wait, today\'s switchover timing', () => {
    const s = planDrainStart(parseClusterView(keys, 50, [switchover]), 'node1', 5000);
    assert.deepEqual(s, { drain: false, reason: 'no router registered: demoting at once' });
  });

  it('timeout 0 turns the drain off even with routers', () => {
    const s = planDrainStart(parseClusterView(keys, 50, [switchover, router('r1')]), 'node1', 0);
    assert.equal(s.drain, false);
  });
});

describe('planDrainWait: every registered router must acknowledge this request, or the timeout passes', () => {
  const regs = (...rs: [string, string?][]) => rs.map(([id, drained]) => ({ id, modRevision: 1, ...(drained ? { drained } : {}) }));

  it('one router still draining: wait, naming it', () => {
    const w = planDrainWait('switchover-41', regs(['r1', 'switchover-41'], ['r2']), 1000, 5000);
    assert.deepEqual(w, { done: false, reason: 'waiting for r2 to drain', pending: ['r2'] });
  });

  it('an acknowledgement of an older switchover does not count', () => {
    const w = planDrainWait('switchover-41', regs(['r1', 'switchover-12']), 1000, 5000);
    assert.equal(w.done, false);
  });

  it('every router acknowledged: demote now', () => {
    const w = planDrainWait('switchover-41', regs(['r1', 'switchover-41'], ['r2', 'switchover-41']), 1000, 5000);
    assert.equal(w.done, true);
    assert.equal(w.reason, 'every router drained (r1, r2): demoting');
  });

  it('a router that went away (stopped, lease expired) is no longer waited for', () => {
    assert.equal(planDrainWait('switchover-41', regs(['r1', 'switchover-41']), 1000, 5000).done, true);
  });

  it('the timeout passes with a silent router: demote anyway, saying which', () => {
    const w = planDrainWait('switchover-41', regs(['r1', 'switchover-41'], ['r2']), 5000, 5000);
    assert.equal(w.done, true);
    assert.match(w.reason, /^drain timeout passed without r2: demoting anyway/);
  });
});

describe('drainRouters: the drain key around a graceful demote', () => {
  const setup = () => {
    const clock = new ManualClock(0);
    const store = new MemoryStore({ now: () => clock.now() });
    const logger = createLogger({ level: 'silent' });
    return { clock, store, deps: { store, keys, name: 'node1', logger, scheduler: clock } };
  };

  it('writes the request, waits for the router\'s acknowledgement, and hands back the key\'s removal', async () => {
    const { clock, store, deps } = setup();
    await store.put(keys.router('r1'), encodeRouterRegistration({ id: 'r1' }));
    const view = parseClusterView(keys, 50, [switchover, router('r1')]);
    let finished = false;
    const run = drainRouters(deps, view, 5000).then((undrain) => {
      finished = true;
      return undrain;
    });
    await settle();
    const req = await store.get(keys.drain);
    assert.ok(req, 'the drain key is written before any wait');
    assert.equal(parseDrainRequest(req.value, req.modRevision)?.id, 'switchover-41');
    assert.notEqual(req.lease, '0', 'the drain key lives on a lease');
    for (let i = 0; i < 10; i++) await step(clock, 100);
    assert.equal(finished, false, 'still waiting for r1 after 1 s');
    await store.put(keys.router('r1'), encodeRouterRegistration({ id: 'r1', drained: 'switchover-41' }));
    // Every millisecond here adds to the clients' write gap: the agent sees the acknowledgement within 20 ms.
    await step(clock, 20);
    assert.equal(finished, true, 'done within one poll (20 ms) of the acknowledgement');
    const undrain = await run;
    assert.ok(undrain);
    await undrain();
    assert.equal(await store.get(keys.drain), undefined, 'removed after the demote');
  });

  it('a silent router costs the timeout, no more', async () => {
    const { clock, store, deps } = setup();
    await store.put(keys.router('r1'), encodeRouterRegistration({ id: 'r1' }));
    let finished = false;
    void drainRouters(deps, parseClusterView(keys, 50, [switchover, router('r1')]), 2000).then(() => (finished = true));
    for (let i = 0; i < 19; i++) await step(clock, 100);
    assert.equal(finished, false);
    await step(clock, 100);
    await step(clock, 100);
    assert.equal(finished, true);
  });

  it('no router registered: nothing is written and nothing waits', async () => {
    const { store, deps } = setup();
    const undrain = await drainRouters(deps, parseClusterView(keys, 50, [switchover]), 5000);
    assert.equal(undrain, undefined);
    assert.equal(await store.get(keys.drain), undefined);
  });
});

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

async function step(clock: ManualClock, ms: number): Promise<void> {
  await settle();
  clock.advance(ms);
  await settle();
}
