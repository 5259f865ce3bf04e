import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ServerPool, type PoolWaiter } from '../../../../src/router/pool/server-pool';
import type { PoolConfig } from '../../../../src/router/pool/types';
import { ManualClock } from '../../../support/manual-clock';

class Conn {
  closed = false;
  /** The server ended it (its 'close' not seen yet). */
  ended = false;
  constructor(readonly id: number) {}
  close(): void {
    this.closed = true;
  }
  usable(): boolean {
    return !this.ended;
  }
}

/** A pool over fake connections that open at once (or fail while `failing`), and a log of what clients got. */
function aPool(o: Partial<PoolConfig> = {}) {
  const clock = new ManualClock();
  const config: PoolConfig = { size: 2, minIdle: 0, idleTimeoutMs: 600_000, lifetimeMs: 3_600_000, queueTimeoutMs: 5000, resetQuery: '', ...o };
  const opened: Conn[] = [];
  const env = { failing: false };
  const pool = new ServerPool<Conn>(clock, () => config, async () => {
    if (env.failing) throw new Error('connection refused');
    const c = new Conn(opened.length + 1);
    opened.push(c);
    return c;
  });
  const got: string[] = [];
  const client = (name: string): PoolWaiter<Conn> & { conn?: Conn } => {
    const w: PoolWaiter<Conn> & { conn?: Conn } = {
      granted: (c) => {
        w.conn = c;
        got.push(`${name}:conn${c.id}`);
      },
      failed: (reason) => got.push(`${name}:${reason}`),
    };
    return w;
  };
  /** Clients that each acquire at once, returned once they hold their connection. */
  const holding = async (...names: string[]) => {
    const ws = names.map((n) => client(n));
    for (const w of ws) pool.acquire(w);
    await settle();
    return ws;
  };
  return { clock, config, pool, opened, got, client, env, holding };
}

/** Lets the fake opens (promises) settle. */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('server pool', () => {
  test('three clients on a pool of two: two connections open, the third waits and gets the first released', async () => {
    const { pool, opened, got, client } = aPool();
    const a = client('a');
    const b = client('b');
    pool.acquire(a);
    pool.acquire(b);
    pool.acquire(client('c'));
    await settle();
    assert.deepEqual(got, ['a:conn1', 'b:conn2']);
    assert.equal(opened.length, 2, 'never more than size');
    assert.equal(pool.waiting, 1);
    pool.release(b.conn!, true);
    assert.deepEqual(got, ['a:conn1', 'b:conn2', 'c:conn2']);
    assert.equal(pool.busy, 2);
  });

  test('an idle connection its server already ended is never handed out: dropped, the client gets the next idle one or a new one', async () => {
    const { pool, opened, got, client, holding } = aPool({ size: 2 });
    const [a, b] = await holding('a', 'b');
    pool.release(a!.conn!, true);
    pool.release(b!.conn!, true);
    // The node died: both idle connections read their end of stream; the pool has not heard of it (no 'close' yet).
    opened[1]!.ended = true;
    pool.acquire(client('c'));
    assert.deepEqual(got.slice(2), ['c:conn1'], 'conn2 (the most recent) is skipped');
    opened[0]!.ended = true;
    pool.release(opened[0]!, true);
    pool.acquire(client('d'));
    await settle();
    assert.deepEqual(got.slice(3), ['d:conn3'], 'no idle one left alive: a new connection is opened for d');
    assert.equal(opened[0]!.closed || opened[1]!.closed, false, 'a dead connection is dropped, not written to (no Terminate on an ended socket)');
    assert.equal(pool.busy, 1);
    assert.equal(pool.idle, 0);
  });

  test('waiters are served first in, first out', async () => {
    const { pool, got, client } = aPool({ size: 1 });
    const a = client('a');
    pool.acquire(a);
    await settle();
    for (const n of ['b', 'c', 'd']) pool.acquire(client(n));
    pool.release(a.conn!, true);
    assert.deepEqual(got, ['a:conn1', 'b:conn1']);
  });

  test('queue_timeout: a waiter fails exactly at its deadline, and the timer is gone afterwards', async () => {
    const { clock, pool, got, client } = aPool({ size: 1, queueTimeoutMs: 5000 });
    pool.acquire(client('a'));
    await settle();
    pool.acquire(client('b'));
    clock.advance(4999);
    assert.deepEqual(got, ['a:conn1']);
    assert.equal(pool.maxWaitMs(), 4999);
    clock.advance(1);
    assert.deepEqual(got, ['a:conn1', 'b:queue_timeout']);
    assert.equal(pool.waiting, 0);
    assert.equal(clock.pending, 0, 'nothing idle, nobody waiting: no timer');
  });

  test('a waiter that went away leaves the queue without a callback', async () => {
    const { clock, pool, got, client } = aPool({ size: 1 });
    const a = client('a');
    pool.acquire(a);
    await settle();
    pool.acquire(client('b')).cancel();
    pool.release(a.conn!, true);
    clock.advance(10_000);
    assert.deepEqual(got, ['a:conn1']);
    assert.equal(pool.idle, 1);
  });

  test('idle_timeout closes an idle connection; min_idle of them stay open', async () => {
    const { clock, pool, opened, client } = aPool({ minIdle: 1, idleTimeoutMs: 10_000 });
    await settle();
    assert.equal(opened.length, 1, 'min_idle opens one at once');
    const a = client('a');
    const b = client('b');
    pool.acquire(a);
    pool.acquire(b);
    await settle();
    pool.release(a.conn!, true);
    pool.release(b.conn!, true);
    assert.equal(pool.idle, 2);
    clock.advance(9_999);
    assert.equal(pool.idle, 2);
    clock.advance(1);
    assert.equal(pool.idle, 1, 'one closed, min_idle kept');
    assert.equal(opened.filter((c) => c.closed).length, 1);
    clock.advance(60_000);
    assert.equal(pool.idle, 1, 'the last one stays: no idle timer spins on it');
  });

  test('lifetime: a connection past it is closed when released, never under a client', async () => {
    const { clock, pool, client } = aPool({ lifetimeMs: 60_000 });
    const a = client('a');
    pool.acquire(a);
    await settle();
    clock.advance(70_000);
    assert.equal(a.conn!.closed, false, 'busy: left alone');
    pool.release(a.conn!, true);
    assert.equal(a.conn!.closed, true);
    assert.equal(pool.idle, 0);
  });

  test('lifetime of an idle connection: closed at its end', async () => {
    const { clock, pool, client } = aPool({ lifetimeMs: 60_000 });
    const a = client('a');
    pool.acquire(a);
    await settle();
    clock.advance(10_000);
    pool.release(a.conn!, true);
    clock.advance(50_000);
    assert.equal(a.conn!.closed, true);
  });

  test('a failed open is answered to the waiter it was for: each waiter gets its own attempt, none hangs', async () => {
    const { pool, got, client, env } = aPool({ size: 1 });
    env.failing = true;
    pool.acquire(client('a'));
    pool.acquire(client('b'));
    await settle();
    await settle();
    assert.deepEqual(got, ['a:open_failed', 'b:open_failed']);
    env.failing = false;
    pool.acquire(client('c'));
    await settle();
    assert.deepEqual(got, ['a:open_failed', 'b:open_failed', 'c:conn1']);
  });

  test('paused: nothing is handed out, clients wait; resumed: served in order', async () => {
    const { pool, got, client } = aPool();
    const a = client('a');
    pool.acquire(a);
    await settle();
    pool.release(a.conn!, true);
    pool.paused = true;
    pool.acquire(client('b'));
    await settle();
    assert.deepEqual(got, ['a:conn1']);
    pool.paused = false;
    pool.dispatch();
    assert.deepEqual(got, ['a:conn1', 'b:conn1']);
  });

  test('retired (member left the pool): idle closed now, busy at release, waiters and new clients refused', async () => {
    const { pool, got, client, opened, holding } = aPool({ size: 2 });
    const [a, b] = await holding('a', 'b');
    pool.release(b!.conn!, true);
    pool.retire();
    assert.equal(opened[1]!.closed, true);
    assert.equal(opened[0]!.closed, false);
    pool.acquire(client('c'));
    pool.release(a!.conn!, true);
    assert.equal(opened[0]!.closed, true);
    assert.deepEqual(got.slice(2), ['c:retired']);
    assert.equal(pool.empty, true);
  });

  describe('take: the per-transaction hand-out without a queue entry', () => {
    test('an idle connection, the most recently released, at once; none idle: undefined (the client queues with acquire)', async () => {
      const { pool, holding } = aPool({ size: 2 });
      const [a, b] = await holding('a', 'b');
      assert.equal(pool.take(), undefined, 'both busy');
      pool.release(a!.conn!, true);
      pool.release(b!.conn!, true);
      assert.equal(pool.take(), b!.conn, 'the last released first, as dispatch hands out');
      assert.equal(pool.busy, 1);
      assert.equal(pool.idle, 1);
    });

    test('never past a client already waiting, nor while paused or retired', async () => {
      const { pool, got, client, holding } = aPool({ size: 1 });
      const [a] = await holding('a');
      pool.acquire(client('b'));
      pool.paused = true;
      pool.release(a!.conn!, true);
      assert.equal(pool.take(), undefined, 'paused');
      pool.paused = false;
      assert.equal(pool.take(), undefined, 'b waits: first in, first out');
      pool.dispatch();
      assert.deepEqual(got, ['a:conn1', 'b:conn1']);
      pool.release(a!.conn!, true);
      pool.retire();
      assert.equal(pool.take(), undefined, 'retired');
    });

    test('an idle connection its server ended is dropped, the next one taken; min_idle is topped up behind it', async () => {
      const { pool, opened, holding } = aPool({ size: 3, minIdle: 1 });
      const [a, b] = await holding('a', 'b');
      pool.release(a!.conn!, true);
      pool.release(b!.conn!, true);
      b!.conn!.ended = true;
      assert.equal(pool.take(), a!.conn);
      assert.equal(b!.conn!.closed, false, 'no Terminate on an ended socket');
      await settle();
      assert.equal(pool.idle, 1, 'min_idle: one opened to stand idle again');
      assert.equal(opened.length, 3);
    });
  });

  test('a connection released while the timer is set for an earlier one still closes at its own idle deadline', async () => {
    const { clock, pool, opened, holding } = aPool({ size: 3, idleTimeoutMs: 10_000 });
    const [a, b, c] = await holding('a', 'b', 'c');
    pool.release(a!.conn!, true);
    pool.release(b!.conn!, true);
    clock.advance(4_000);
    pool.release(c!.conn!, true); // the timer is set for a and b (10 s): c's 14 s comes later
    clock.advance(6_000);
    assert.deepEqual(opened.map((x) => x.closed), [true, true, false], 'a and b idle for 10 s');
    clock.advance(3_999);
    assert.equal(opened[2]!.closed, false);
    clock.advance(1);
    assert.equal(opened[2]!.closed, true, 'c at 4 s + 10 s');
    assert.equal(clock.pending, 0);
  });
});
