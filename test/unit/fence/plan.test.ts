import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideFence, initialFenceMemory, POLL_MS, type FenceAct, type FenceMemory, type Grant } from '../../../src/fence/plan';
import { planArm, type ArmFacts } from '../../../src/fence/arm-plan';

const MS = 1_000_000n;
/** ttl 8 s: margin 2 s, so SIGQUIT at D + 1 s, SIGKILL at D + 1.5 s, the lease in etcd no earlier than D + 2 s. */
const grant = (deadlineMs: number, over: Partial<Grant> = {}): Grant => ({
  seq: 1, deadlineNs: String(BigInt(deadlineMs) * MS), quitAfterMs: 1000, killAfterMs: 1500, agentPid: 4242, ...over,
});

/**
 * Drives the fence on a timeline the way main.ts does: at each check, the grant the agent last wrote and whether
 * the postmaster runs; it records every signal with the time it was sent.
 */
class Fence {
  nowMs = 0;
  mem: FenceMemory = initialFenceMemory();
  signals: Array<[number, string]> = [];
  last: FenceAct | undefined;
  /** The running postmaster's pid (false: none). */
  constructor(public grant: Grant | undefined, public postmaster: number | false = 100) {}

  check(): FenceAct {
    const d = decideFence({ nowNs: BigInt(this.nowMs) * MS, grant: this.grant, postmaster: this.postmaster === false ? undefined : this.postmaster }, this.mem);
    this.mem = d.memory;
    this.last = d.act;
    if (d.act.kind === 'signal') this.signals.push([this.nowMs, d.act.step]);
    return d.act;
  }

  /** Checks as main.ts would (sleeping nextCheckMs between them) until `untilMs` or an exit. */
  runUntil(untilMs: number, onTick?: (f: Fence) => void): FenceAct {
    for (;;) {
      onTick?.(this);
      const act = this.check();
      if (act.kind === 'exit' || this.nowMs >= untilMs) return act;
      this.nowMs += act.nextCheckMs;
    }
  }
}

describe('fence: the deadline', () => {
  it('waits while the deadline is ahead, re-reading the grant at least every POLL_MS', () => {
    const f = new Fence(grant(5000));
    const act = f.check();
    assert.equal(act.kind, 'wait');
    assert.equal(act.kind === 'wait' && act.nextCheckMs, POLL_MS);
    assert.equal(act.kind === 'wait' && act.reason, 'may be primary for 5000 ms more');
  });

  it('sleeps no further than the deadline when it is nearer than a poll', () => {
    const f = new Fence(grant(30));
    const act = f.check();
    assert.equal(act.kind === 'wait' && act.nextCheckMs, 30);
  });

  it('agent killed: no renewal after D, postgres ignores the fast stop: fast at D, immediate at D + 1 s, SIGKILL at D + 1.5 s, all before the lease can expire (D + 2 s)', () => {
    const f = new Fence(grant(5000));
    f.runUntil(7000);
    const firstOf = (step: string) => f.signals.find(([, s]) => s === step)?.[0];
    assert.equal(firstOf('fast'), 5000);
    assert.equal(firstOf('immediate'), 6000);
    assert.equal(firstOf('kill'), 6500);
    assert.equal(f.signals.filter(([, s]) => s === 'fast').length, 1, 'the fast stop is sent once');
    assert.ok(f.signals.filter(([, s]) => s !== 'kill').every(([t]) => t < 6500), 'SIGKILL is the last step (repeated while the postmaster lives)');
  });

  it('postgres stops after the fast stop: no immediate stop, and the fence exits', () => {
    const f = new Fence(grant(5000));
    const act = f.runUntil(10_000, (x) => {
      if (x.nowMs >= 5300) x.postmaster = false;
    });
    assert.deepEqual(f.signals.map(([, s]) => s), ['fast']);
    assert.equal(act.kind === 'exit' && act.reason, 'postgres stopped after the deadline passed without a renewal');
  });

  it('the agent fences too and restarts postgres as a replica after the fast stop: the fence leaves the new postmaster alone and exits', () => {
    const f = new Fence(grant(5000));
    const act = f.runUntil(10_000, (x) => {
      if (x.nowMs >= 5300) x.postmaster = 200;
    });
    assert.deepEqual(f.signals.map(([, s]) => s), ['fast']);
    assert.equal(act.kind === 'exit' && act.reason, 'the postmaster stopped after the deadline (pid 100) is gone; pid 200 was started since, not by a primary this fence held');
  });

  it('a fence woken late (its own timer slipped) goes straight to the step that is due', () => {
    const f = new Fence(grant(5000));
    f.nowMs = 6200;
    f.check();
    assert.deepEqual(f.signals, [[6200, 'immediate']]);
  });

  it('deadline passed with postgres not running: nothing to stop, the fence exits', () => {
    const f = new Fence(grant(5000), false);
    f.nowMs = 5001;
    const act = f.check();
    assert.equal(act.kind === 'exit' && act.reason, 'deadline passed without a renewal; postgres is not running: nothing to stop');
  });
});

describe('fence: renewals', () => {
  it('an agent renewing every 2 s keeps postgres running for a minute', () => {
    const f = new Fence(grant(6000));
    f.runUntil(60_000, (x) => {
      // a keepalive every 2 s moves D to sentAt + 6 s
      if (x.nowMs % 2000 < POLL_MS) x.grant = grant(x.nowMs - (x.nowMs % 2000) + 6000, { seq: x.nowMs });
    });
    assert.deepEqual(f.signals, []);
  });

  it('agent frozen (SIGSTOP) after its last renewal at 10 s: the stop starts at that renewal\'s D, not later', () => {
    const f = new Fence(grant(6000));
    f.runUntil(20_000, (x) => {
      if (x.nowMs <= 10_000 && x.nowMs % 2000 < POLL_MS) x.grant = grant(x.nowMs - (x.nowMs % 2000) + 6000, { seq: x.nowMs });
    });
    assert.equal(f.signals[0]?.[0], 16_000);
    assert.equal(f.signals[0]?.[1], 'fast');
  });

  it('a frozen agent that wakes after D and renews does not call the stop off', () => {
    const f = new Fence(grant(5000));
    f.nowMs = 5000;
    f.check();
    f.grant = grant(12_000, { seq: 2 });
    f.nowMs = 6000;
    const act = f.check();
    assert.equal(act.kind === 'signal' && act.step, 'immediate');
  });
});

describe('fence: disarm and hand-over', () => {
  it('the agent demotes, pauses or stops: a disarmed grant makes the fence exit without a signal', () => {
    const f = new Fence(grant(5000));
    f.check();
    f.grant = grant(0, { seq: 2, disarmed: true });
    const act = f.check();
    assert.equal(act.kind === 'exit' && act.reason, 'disarmed by the agent (pid 4242)');
    assert.deepEqual(f.signals, []);
  });

  it('no grant file: the fence exits (it never holds a deadline nobody gave it)', () => {
    const act = new Fence(undefined).check();
    assert.equal(act.kind, 'exit');
  });

  it('agent restarted while the fence runs: the new agent\'s renewals, written to the same grant, carry on with no gap', () => {
    const f = new Fence(grant(5000, { agentPid: 1 }));
    f.runUntil(30_000, (x) => {
      // the old agent dies at 2 s (last D 5 s); the new one renews from 4 s on, every 2 s
      if (x.nowMs >= 4000 && x.nowMs % 2000 < POLL_MS) x.grant = grant(x.nowMs - (x.nowMs % 2000) + 6000, { seq: x.nowMs, agentPid: 2 });
    });
    assert.deepEqual(f.signals, []);
  });

  it('a restarted agent that comes back after D finds postgres already being stopped', () => {
    const f = new Fence(grant(5000, { agentPid: 1 }));
    f.runUntil(5600, (x) => {
      if (x.nowMs >= 5500) x.grant = grant(11_500, { seq: 9, agentPid: 2 });
    });
    assert.deepEqual(f.signals.map(([t, s]) => [t, s]), [[5000, 'fast']]);
  });
});

describe('fence arming (the agent side)', () => {
  const base: ArmFacts = { enabled: true, paused: false, holdsKeyOnOwnLease: false, postgresMayBePrimary: false, becomesPrimary: false };
  const cases: Array<[string, Partial<ArmFacts>, string, string]> = [
    ['leader on our lease', { holdsKeyOnOwnLease: true, postgresMayBePrimary: true }, 'renew', 'leader key held on our lease'],
    ['about to promote (acquired the key in this cycle)', { becomesPrimary: true }, 'renew', 'becoming primary'],
    ['restarted agent whose key is still on its predecessor\'s lease: held, not renewed', { postgresMayBePrimary: true }, 'hold', 'postgres may be primary without our leader key: no renewal'],
    ['demoting (lost the key, postgres still primary): held', { postgresMayBePrimary: true }, 'hold', 'postgres may be primary without our leader key: no renewal'],
    ['a replica', {}, 'disarm', 'postgres is not a primary'],
    ['paused, even as leader', { paused: true, holdsKeyOnOwnLease: true, postgresMayBePrimary: true }, 'disarm', 'paused: postgres is left to the operator'],
    ['watchdog.mode: off', { enabled: false, holdsKeyOnOwnLease: true }, 'off', 'fence off (watchdog.mode: off)'],
  ];
  for (const [name, facts, mode, reason] of cases) {
    it(`${name} → ${mode}`, () => {
      assert.deepEqual(planArm({ ...base, ...facts }), { mode, reason });
    });
  }
});
