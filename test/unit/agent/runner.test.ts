/**
 * The AgentRunner on a manual clock: the real loop, LeaseKeeper and Executor over a MemoryStore and a FakePostgres.
 * Time moves only when the test advances it, so lease validity, keepalive and fencing moments are exact.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AgentRunner } from '../../../src/agent/runner';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import type { ClusterStore } from '../../../src/dcs/store';
import { silentLogger } from '../../../src/log/logger';
import { KEYS } from '../../support/agent-builders';
import { FAKE_SYSTEM_ID, FakePostgres } from '../../support/fake-postgres';
import { ManualClock } from '../../support/manual-clock';
import { waitFor } from '../../support/wait';
import { parseEdited, section } from '../config/helpers';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** ttl 30 s, loop_wait 10 s, retry_timeout 10 s (Patroni's defaults): keepalives every 7.5 s, fencing margin 5 s. */
const DCS = { ttl: 30, loop_wait: 10, retry_timeout: 10 };

/** Planted etcd faults, as this node sees them. */
interface Cut {
  /** Keepalives fail (the lease stream is cut). */
  keepalive: boolean;
  /** Every other call hangs until released (a partition where requests wait out their deadline). */
  hang: boolean;
}

const HANGABLE = new Set(['readPrefix', 'get', 'put', 'createIfAbsent', 'putIfModRevision', 'putIfValue', 'deleteIfValue', 'deleteIfModRevision', 'grantLease']);

/** ty-db1 with a running primary (or `pg`), over an initialized cluster with no leader yet; `cut` plants etcd faults. */
async function aNode(makePg: (clock: () => number) => FakePostgres = FakePostgres.primary) {
  const clock = new ManualClock();
  const memory = new MemoryStore({ now: () => clock.now() });
  const cut: Cut = { keepalive: false, hang: false };
  const held: Array<() => void> = [];
  const store = new Proxy(memory, {
    get: (target, name: string) => {
      const f = Reflect.get(target, name) as unknown;
      if (typeof f !== 'function') return f;
      const call = (a: unknown[]) => (f as (...x: unknown[]) => unknown).apply(target, a);
      if (name === 'keepAlive') {
        return async (...a: unknown[]) => {
          if (cut.keepalive) throw new Error('keepalive: deadline exceeded (planted)');
          return call(a);
        };
      }
      if (!HANGABLE.has(name)) return (...a: unknown[]) => call(a);
      return async (...a: unknown[]) => {
        if (cut.hang) await new Promise<void>((resolve) => held.push(resolve));
        return call(a);
      };
    },
  }) as ClusterStore;
  /** Lifts every planted fault; held calls go through. */
  const heal = () => {
    cut.keepalive = false;
    cut.hang = false;
    for (const resolve of held.splice(0)) resolve();
  };
  await memory.put(KEYS.initialize, FAKE_SYSTEM_ID);
  await memory.put(KEYS.config, JSON.stringify(DCS));
  const dataDir = mkdtempSync(join(tmpdir(), 'pgha-runner-'));
  dirs.push(dataDir);
  const config = parseEdited((d) => {
    d.name = 'ty-db1';
    section(d, 'postgresql').data_dir = dataDir;
    (d.bootstrap as Record<string, unknown> | undefined) ?? (d.bootstrap = {});
    (d.bootstrap as Record<string, unknown>).dcs = DCS;
  });
  const pg = makePg(() => clock.now());
  /** What other members' REST APIs answer, by URL (none by default: unreachable). */
  const peers = new Map<string, Record<string, unknown>>();
  const runner = new AgentRunner({
    config, store, ops: pg, logger: silentLogger(), pghaVersion: 'test', scheduler: clock,
    exit: () => undefined, peerFetch: async (url) => peers.get(url),
  });
  /** Lets every promise the last timers started settle (the store answers at once). */
  const settle = async () => {
    for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
  };
  /** Moves the clock `ms` forward in small steps, settling after each. */
  const run = async (ms: number, step = 100) => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(Math.min(step, ms - t));
      await settle();
    }
  };
  return { clock, memory, cut, heal, pg, runner, settle, run, peers };
}

describe('AgentRunner: a leader cut off from etcd', () => {
  it('fences (stops postgres) on its own timer while its HA loop hangs in a read, before etcd can expire its lease', async () => {
    const n = await aNode();
    n.runner.start();
    try {
      await n.run(500);
      const leader = await n.memory.get(KEYS.leader);
      assert.equal(leader?.value, 'ty-db1', 'the running primary took the leader key');
      let leaseLeftAtStop: number | undefined;
      n.pg.onStep = (step) => {
        if (step.startsWith('stop')) leaseLeftAtStop ??= n.memory.leaseRemainingMs(leader!.lease);
      };
      const cutAt = n.clock.now();
      n.cut.keepalive = true;
      n.cut.hang = true;
      await n.run(40_000);
      const i = n.pg.steps.findIndex((s) => s.startsWith('stop'));
      assert.equal(n.pg.steps[i], 'stop fast (fencing)', `steps: ${n.pg.steps.join(', ')}`);
      // The last good keepalive was sent before the cut; validity is its send time + ttl − the 5 s margin.
      assert.ok(n.pg.at[i]! <= cutAt + 25_000 + 1, `fenced at ${n.pg.at[i]}, cut at ${cutAt}`);
      assert.ok(leaseLeftAtStop !== undefined && leaseLeftAtStop >= 4000, `lease left in etcd when postgres stopped: ${leaseLeftAtStop} ms`);
    } finally {
      n.heal();
      await n.runner.stop({ stopPostgres: false });
    }
  });
});

describe('AgentRunner: an etcd outage', () => {
  it('shorter than retry_timeout: the leader keeps its role (the last view stands in), no stop, no demotion', async () => {
    const n = await aNode();
    n.runner.start();
    try {
      await n.run(500);
      assert.equal((await n.memory.get(KEYS.leader))?.value, 'ty-db1');
      // Down across the next HA cycle (due at 10 s), back after 6 s: within retry_timeout (10 s).
      await n.run(9_000);
      n.memory.setAvailable(false);
      await n.run(6_000);
      n.memory.setAvailable(true);
      await n.run(12_000);
      assert.deepEqual(n.pg.steps.filter((s) => s.startsWith('stop')), [], `steps: ${n.pg.steps.join(', ')}`);
      assert.equal((await n.memory.get(KEYS.leader))?.value, 'ty-db1');
      assert.equal(n.runner.status().role, 'master');
    } finally {
      await n.runner.stop({ stopPostgres: false });
    }
  });

  it('longer than retry_timeout: the leader demotes (stops taking writes) while the lease may still be valid elsewhere', async () => {
    const n = await aNode();
    n.runner.start();
    try {
      await n.run(500);
      await n.run(9_000);
      n.memory.setAvailable(false);
      await n.run(25_000);
      assert.ok(n.pg.steps.some((s) => s.startsWith('stop')), `steps: ${n.pg.steps.join(', ')}`);
      assert.match(n.runner.status().reason ?? '', /DCS is not accessible/);
    } finally {
      n.memory.setAvailable(true);
      await n.runner.stop({ stopPostgres: false });
    }
  });
});

describe('AgentRunner: a planned switchover with a router registered for the drain', () => {
  it('the leader publishes state running while the router drains (a router reading stopping would cut the transactions it waits for), stopping once postgres stops', async () => {
    const n = await aNode();
    n.runner.start();
    try {
      await n.run(500);
      assert.equal((await n.memory.get(KEYS.leader))?.value, 'ty-db1');
      const api = 'http://127.0.0.1:9009/patroni';
      await n.memory.put(KEYS.member('ty-db2'), JSON.stringify({ conn_url: 'postgres://127.0.0.1:5433/postgres', api_url: api, state: 'running', role: 'replica' }));
      n.peers.set(api, { state: 'running', role: 'replica', xlog: { received_location: 1e12, replayed_location: 1e12 } });
      // A router that never acknowledges: the agent waits the whole drain timeout (5 s by default).
      await n.memory.put(KEYS.router('r1'), JSON.stringify({ id: 'r1', drained: null }));
      await n.memory.put(KEYS.failover, JSON.stringify({ leader: 'ty-db1', member: 'ty-db2' }));
      // The clock stands still while the tick's real file writes (the dynamic config cache) complete.
      n.runner.wakeUp();
      await waitFor('the drain key written', () => n.memory.get(KEYS.drain), { timeoutMs: 10_000, intervalMs: 10 });
      n.runner.wakeUp();
      await waitFor('a tick during the demote', () => /during demote|demote in progress/.test(n.runner.status().reason), { timeoutMs: 10_000, intervalMs: 10 });
      assert.equal(n.runner.status().state, 'running', 'draining: postgres still serves');
      assert.deepEqual(n.pg.steps.filter((s) => s.startsWith('stop')), []);
      await n.run(5_000);
      await waitFor('postgres stopped after the drain timeout', () => n.pg.steps.some((s) => s.startsWith('stop')), { timeoutMs: 10_000, intervalMs: 10 });
      assert.equal(n.pg.steps.filter((s) => s.startsWith('stop'))[0], 'stop fast', `steps: ${n.pg.steps.join(', ')}`);
    } finally {
      await n.runner.stop({ stopPostgres: false });
    }
  });
});

/** A gate a test opens: `wait()` resolves once `open()` was called. */
function aGate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => opened, open };
}

/** A replica whose `pg_ctl promote` and (when armed) status probe wait for the test, each probe answering as of its call. */
class HeldPostgres extends FakePostgres {
  readonly promoteGate = aGate();
  promoteCalled = false;
  probeGate: ReturnType<typeof aGate> | undefined;
  probeHeld = false;

  override async promote(): Promise<void> {
    this.promoteCalled = true;
    await this.promoteGate.wait();
    return super.promote();
  }

  override async probe() {
    const seen = await super.probe();
    const gate = this.probeGate;
    if (gate) {
      this.probeGate = undefined;
      this.probeHeld = true;
      await gate.wait();
    }
    return seen;
  }
}

describe('AgentRunner: the candidate of a planned switchover', () => {
  it('publishes role master (status and member key) as soon as pg_ctl promote returns, and a tick that observed the replica before does not take it back', async () => {
    const n = await aNode((clock) => new HeldPostgres({ standbySignal: true, clusterState: 'in archive recovery' }, clock));
    const pg = n.pg as HeldPostgres;
    await n.memory.put(KEYS.failover, JSON.stringify({ leader: 'ty-db2', member: 'ty-db1' }));
    const staleProbe = aGate();
    const memberRole = async () => (JSON.parse((await n.memory.get(KEYS.member('ty-db1')))?.value ?? '{}') as { role?: string }).role;
    // Every role written to the member key, in order (routers read the same snapshot over REST).
    const written: string[] = [];
    const put = n.memory.put.bind(n.memory);
    n.memory.put = async (key, value, lease) => {
      if (key === KEYS.member('ty-db1')) written.push((JSON.parse(value) as { role: string }).role);
      return put(key, value, lease);
    };
    // Off time 0: the lease keeper reads a keepalive sent at 0 as none (no validity), and would fence.
    n.clock.advance(1000);
    n.runner.start();
    try {
      await waitFor('the candidate took the leader key and runs pg_ctl promote', async () => (await n.memory.get(KEYS.leader))?.value === 'ty-db1' && pg.promoteCalled, { timeoutMs: 10_000, intervalMs: 10 });
      assert.equal(n.runner.status().role, 'replica');
      // The next tick probes the replica, and its answer is held while postgres is promoted.
      pg.probeGate = staleProbe;
      n.runner.wakeUp();
      await waitFor('the next tick probed the replica', () => pg.probeHeld, { timeoutMs: 10_000, intervalMs: 10 });
      pg.promoteGate.open();
      await waitFor('role master published while that tick is still held', async () => n.runner.status().role === 'master' && (await memberRole()) === 'master', { timeoutMs: 10_000, intervalMs: 10 });
      staleProbe.open();
      await n.settle();
      await waitFor('the ticks after the promotion ran', () => !/candidate/.test(n.runner.status().reason), { timeoutMs: 10_000, intervalMs: 10 });
      assert.equal(n.runner.status().role, 'master');
      assert.ok(written.includes('master') && !written.slice(written.indexOf('master')).includes('replica'), `member key roles written: ${written.join(', ')}`);
    } finally {
      pg.promoteGate.open();
      staleProbe.open();
      await n.runner.stop({ stopPostgres: false });
    }
  });
});
