/**
 * The lease keeper on an injected scheduler: its keepalive loop and its fence timer run on the scheduler's time, so
 * a test (or the simulator) decides when they fire, and stop() clears both.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { LeaseKeeper } from '../../../src/agent/lease-keeper';
import { silentLogger } from '../../../src/log/logger';
import { ManualClock } from '../../support/manual-clock';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setUp() {
  // Not 0: a monotonic clock is never at 0, and the keeper reads a last good send at 0 as "none".
  const clock = new ManualClock(1000);
  const store = new MemoryStore({ now: () => clock.t });
  const fenced: number[] = [];
  const keeper = new LeaseKeeper(store, { ttlSeconds: 10, scheduler: clock, logger: silentLogger(), onFence: () => fenced.push(clock.t), onLost: () => undefined });
  return { clock, store, keeper, fenced };
}

describe('LeaseKeeper on an injected scheduler', () => {
  it('renews every ttl/4 of scheduler time, so the fence deadline keeps moving and never fires', async () => {
    const { clock, keeper, fenced } = setUp();
    await keeper.ensureLease();
    keeper.start();
    for (let i = 0; i < 40; i++) {
      clock.advance(1000);
      await settle();
    }
    assert.deepEqual(fenced, []);
    assert.ok(keeper.validUntilMs() > clock.t, `valid until ${keeper.validUntilMs()} at ${clock.t}`);
    keeper.stop();
  });

  it('fires the fence at the end of the validity (ttl − margin after the last good send) when renewals stop', async () => {
    const { clock, store, keeper, fenced } = setUp();
    await keeper.ensureLease();
    keeper.start();
    store.setAvailable(false);
    clock.advance(20_000);
    await settle();
    // Granted at 1 s, ttl 10 s, margin 2.5 s: the fence timer fires just after 8.5 s.
    assert.equal(fenced.length, 1);
    assert.ok(fenced[0]! >= 8500 && fenced[0]! <= 8501, `fenced at ${fenced[0]}`);
    keeper.stop();
  });

  it('stop() clears the keepalive loop and the fence timer', async () => {
    const { clock, keeper } = setUp();
    await keeper.ensureLease();
    keeper.start();
    assert.ok(clock.pending >= 2);
    keeper.stop();
    assert.equal(clock.pending, 0);
  });
});
