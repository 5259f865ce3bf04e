/**
 * The lease keeper through an etcd that stalls (a frozen process, a slow disk): keepalives sent during the stall get
 * no answer until it ends or their deadline (retry_timeout) passes. A stall shorter than the validity left must not
 * fence the leader: the keepalive sent after a timed-out one must go at once, not a whole interval later.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { LeaseKeeper } from '../../../src/agent/lease-keeper';
import type { LeaseId } from '../../../src/dcs/store';
import { silentLogger } from '../../../src/log/logger';
import { ManualClock } from '../../support/manual-clock';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Keepalives sent while stalled wait for the stall's end (then answer) or fail at their deadline, on the clock. */
class StallingStore extends MemoryStore {
  stalled = false;
  private waiting: (() => void)[] = [];
  constructor(private readonly clock: ManualClock, private readonly deadlineMs: number) {
    super({ now: () => clock.t });
  }
  override keepAlive(lease: LeaseId): Promise<number> {
    if (!this.stalled) return super.keepAlive(lease);
    return new Promise<number>((resolve, reject) => {
      const timer = this.clock.setTimer(() => reject(new Error('deadline exceeded')), this.deadlineMs);
      this.waiting.push(() => {
        this.clock.clearTimer(timer);
        super.keepAlive(lease).then(resolve, reject);
      });
    });
  }
  resume(): void {
    this.stalled = false;
    for (const w of this.waiting.splice(0)) w();
  }
}

/** Runs the clock to `until` in 10 ms steps, letting promises settle between steps. */
async function runTo(clock: ManualClock, until: number): Promise<void> {
  while (clock.t < until) {
    clock.advance(Math.min(10, until - clock.t));
    await settle();
  }
}

/** A keeper at ttl 5 (keepalive every 1.25 s, margin 1.25 s) holding a lease granted at 1000, its loop running. */
async function started() {
  const clock = new ManualClock(1000);
  const store = new StallingStore(clock, 2000);
  const fenced: number[] = [];
  const keeper = new LeaseKeeper(store, { ttlSeconds: 5, scheduler: clock, logger: silentLogger(), onFence: () => fenced.push(clock.t), onLost: () => undefined });
  await keeper.ensureLease();
  keeper.start();
  return { clock, store, keeper, fenced };
}

describe('LeaseKeeper through a stalling etcd (fast profile: ttl 5, retry_timeout 2)', () => {
  it('keeps the lease over a 3.3 s stall that outlasts one keepalive deadline', async () => {
    const { clock, store, keeper, fenced } = await started();
    // Keepalives every 1.25 s: the one at 2250 answers, so the validity ends at 2250 + 5000 − 1250 = 6000.
    await runTo(clock, 2300);
    assert.equal(keeper.validUntilMs(), 6000);
    // The stall: the keepalive sent at 3550 waits, and fails at its 2 s deadline (5550) while etcd is still frozen.
    store.stalled = true;
    await runTo(clock, 5600);
    store.resume();
    // The next keepalive goes 250 ms after that failure (5800), not 1.25 s after (6800, past the validity).
    await runTo(clock, 9000);
    assert.deepEqual(fenced, [], 'fenced although etcd answered again before the validity ended');
    assert.ok(keeper.validUntilMs() > clock.t, `valid until ${keeper.validUntilMs()} at ${clock.t}`);
    keeper.stop();
  });

  it('still fences when the stall lasts past the validity', async () => {
    const { clock, store, keeper, fenced } = await started();
    await runTo(clock, 2300);
    store.stalled = true;
    await runTo(clock, 6500);
    store.resume();
    await runTo(clock, 7000);
    assert.equal(fenced.length, 1);
    assert.ok(fenced[0]! >= 6000 && fenced[0]! <= 6010, `fenced at ${fenced[0]}`);
    keeper.stop();
  });
});
