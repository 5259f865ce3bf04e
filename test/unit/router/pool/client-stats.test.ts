/**
 * The admin view's SHOW CLIENTS and SHOW POOLS tables (src/router/pool/client-stats.ts, workers/pool-figures.ts):
 * what each pooled client is doing, per (listener, user, database), and the workers' tables summed into the router's.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientStats, mergeClientStats, type ClientOwner } from '../../../../src/router/pool/client-stats';
import type { PoolStats } from '../../../../src/router/pool/pool-control';
import { mergePoolStats } from '../../../../src/router/workers/pool-figures';

const client = (listener: string, user: string, database = 'app'): ClientOwner => ({ rt: { config: { name: listener } }, user, database });

function aPool(o: Partial<PoolStats> = {}): PoolStats {
  return { listener: 'txn', user: 'alice', database: 'app', member: 'node1', cl_active: 0, cl_waiting: 0, sv_active: 0, sv_idle: 0, sv_used: 0, sv_tested: 0, sv_login: 0, maxwait: 0, paused: false, ...o };
}

describe('pooled clients by state', () => {
  test('six clients of alice: 2 in a transaction, 1 queued for a server connection, 1 waiting for a backend, 2 idle; bob alone and idle', () => {
    const alice = Array.from({ length: 6 }, () => client('txn', 'alice'));
    const bob = client('txn', 'bob');
    const rows = clientStats([...alice, bob], [aPool({ cl_active: 1 }), aPool({ member: 'node2', cl_active: 1, cl_waiting: 1 })], new Set([alice[5]]));
    assert.deepEqual(rows, [
      { listener: 'txn', user: 'alice', database: 'app', clients: 6, active: 2, idle: 2, waiting: 1, held: 1 },
      { listener: 'txn', user: 'bob', database: 'app', clients: 1, active: 0, idle: 1, waiting: 0, held: 0 },
    ]);
  });

  test('a pool whose clients all left adds no row', () => {
    assert.deepEqual(clientStats([], [aPool({ sv_idle: 3 })], new Set()), []);
  });
});

describe('two workers, one router table', () => {
  test("the same pool on both workers: counts summed, the oldest wait kept, paused only while both are", () => {
    const merged = mergePoolStats([
      [aPool({ cl_active: 2, sv_active: 2, sv_idle: 1, maxwait: 0.5, paused: true, prepared: 3 }), aPool({ listener: 'session' })],
      [aPool({ cl_active: 1, cl_waiting: 4, sv_active: 1, sv_login: 1, maxwait: 1.5, paused: false, prepared: 2 })],
    ]);
    assert.deepEqual(merged, [
      aPool({ cl_active: 3, cl_waiting: 4, sv_active: 3, sv_idle: 1, sv_login: 1, maxwait: 1.5, paused: false, prepared: 5 }),
      aPool({ listener: 'session' }),
    ]);
  });

  test('client rows summed per (listener, user, database)', () => {
    const row = { listener: 'txn', user: 'alice', database: 'app', clients: 3, active: 1, idle: 1, waiting: 1, held: 0 };
    assert.deepEqual(mergeClientStats([[row], [{ ...row, clients: 2, active: 0, idle: 2, waiting: 0 }], []]), [{ ...row, clients: 5, active: 1, idle: 3, waiting: 1 }]);
  });
});
