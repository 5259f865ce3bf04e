import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { LeaseNotFoundError } from '../../../src/dcs/store';
import { LeaseKeeper } from '../../../src/agent/lease-keeper';
import { silentLogger } from '../../../src/log/logger';

describe('LeaseKeeper and a lease etcd no longer knows', () => {
  it('drops the lease on LeaseNotFoundError so the next write gets a new one', async () => {
    let t = 0;
    const store = new MemoryStore({ now: () => t });
    let lost = 0;
    const keeper = new LeaseKeeper(store, { ttlSeconds: 10, now: () => t, logger: silentLogger(), onFence: () => undefined, onLost: () => lost++ });
    const first = await keeper.ensureLease();
    await store.revokeLease(first);
    const err = await store.put('/service/c/members/a', '{}', first).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof LeaseNotFoundError, `put on a revoked lease threw ${String(err)}`);
    keeper.noteWriteError(err);
    assert.equal(keeper.leaseId, undefined);
    assert.equal(lost, 1);
    const second = await keeper.ensureLease();
    assert.notEqual(String(second), String(first));
    await store.put('/service/c/members/a', '{}', second);
    keeper.stop();
  });

  it('ignores other errors and errors about another lease', async () => {
    const store = new MemoryStore({ now: () => 0 });
    const keeper = new LeaseKeeper(store, { ttlSeconds: 10, now: () => 0, logger: silentLogger(), onFence: () => undefined, onLost: () => undefined });
    const lease = await keeper.ensureLease();
    keeper.noteWriteError(new Error('deadline exceeded'));
    keeper.noteWriteError(new LeaseNotFoundError('put', 'ffff'));
    assert.equal(keeper.leaseId, lease);
    keeper.stop();
  });
});
