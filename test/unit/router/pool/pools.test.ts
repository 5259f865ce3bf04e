import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../../src/log/logger';
import { RouterMetrics } from '../../../../src/metrics/router-metrics';
import type { RoomContext } from '../../../../src/router/context';
import { Balancer } from '../../../../src/router/balance';
import { AddressCounts } from '../../../../src/router/limits';
import type { ListenerRuntime } from '../../../../src/router/listeners';
import { Pools } from '../../../../src/router/pool/pools';
import type { ServerConnection } from '../../../../src/router/pool/server-conn';
import type { Backend, RoutingTable } from '../../../../src/router/types';
import { ManualClock } from '../../../support/manual-clock';
import { aListener, aRouterConfig } from '../builders';

const node1: Backend = { member: 'node1', host: '10.0.0.1', port: 5432, weight: 1 };
const node2: Backend = { member: 'node2', host: '10.0.0.2', port: 5432, weight: 1 };

/** A table whose write pool (and leader) is `leader`. */
function tableWith(leader: Backend | undefined, generation: number): RoutingTable {
  return {
    generation,
    computedAtMs: 0,
    ...(leader ? { leader } : {}),
    writeReason: 'test',
    writeValidUntilMs: Number.POSITIVE_INFINITY,
    ttlMs: 30_000,
    pools: { write: { listener: 'write', role: 'primary', backends: leader ? [leader] : [], fallback: false, reason: 'test' } },
    members: [],
  };
}

interface FakeConn {
  member: string;
  params: Map<string, string>;
  closed: boolean;
  cutDone: boolean;
  close(): void;
  cut(): void;
}

/** Pools over fake server connections and a table the test sets; `take` acquires like a pooled client. */
function world() {
  const clock = new ManualClock();
  let table = tableWith(node1, 1);
  const config = aRouterConfig({ pool: { size: 2, minIdle: 0, idleTimeoutMs: 0, lifetimeMs: 0, queueTimeoutMs: 10_000, resetQuery: '' } });
  const ctx: RoomContext = {
    deps: { topology: { table: () => table, recompute: () => undefined, health: { checkNow: () => undefined } }, metrics: new RouterMetrics(), logger: silentLogger(), scheduler: clock },
    log: silentLogger(),
    config: () => config,
    stopping: () => false,
    load: new AddressCounts(),
  };
  const conns: FakeConn[] = [];
  const lookups: string[] = [];
  const pools = new Pools(ctx, { lookup: async (user, target) => void lookups.push(`${user}@${target?.host}:${target?.port}/${target?.database}`) }, async (o) => {
    const c: FakeConn = { member: o.backend.member, params: new Map([['server_version', '15.0']]), closed: false, cutDone: false, close() { this.closed = true; }, cut() { this.cutDone = true; } };
    conns.push(c);
    return c as unknown as ServerConnection;
  });
  const rt = { config: aListener('write', 'primary'), balancer: new Balancer() } as unknown as ListenerRuntime;
  const take = (got: string[], name: string) => {
    const backend = pools.pick(rt)!;
    const pool = pools.pool(rt, 'app', 'db', backend);
    const held: { conn?: ServerConnection } = {};
    pool.acquire({ granted: (c) => { held.conn = c; got.push(`${name}:${(c as unknown as FakeConn).member}`); }, failed: (r) => got.push(`${name}:${r}`) });
    return { pool, held };
  };
  const setTable = (t: RoutingTable) => {
    table = t;
    pools.onTable(t, new Map([['write', rt]]));
  };
  return { clock, pools, conns, take, setTable, lookups };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe('pools: PoolControl and fencing', () => {
  test('pause(member): new transactions wait; busy counts those in flight; idle() resolves when they end; resume serves the waiters', async () => {
    const { pools, take } = world();
    const got: string[] = [];
    const a = take(got, 'a');
    await settle();
    assert.deepEqual(got, ['a:node1']);
    pools.pause('node1');
    take(got, 'b');
    await settle();
    assert.deepEqual(got, ['a:node1'], 'b waits while node1 is paused');
    assert.equal(pools.busy('node1'), 1);
    assert.equal(pools.busy('node2'), 0);
    let idle = false;
    void pools.idle('node1').then(() => (idle = true));
    await settle();
    assert.equal(idle, false);
    a.pool.release(a.held.conn!, true);
    await settle();
    assert.equal(idle, true, 'the transaction in flight ended');
    assert.deepEqual(got, ['a:node1'], 'still paused: the released connection is not handed out');
    pools.resume('node1');
    assert.deepEqual(got, ['a:node1', 'b:node1']);
    const s = pools.stats();
    assert.equal(s.length, 1);
    assert.equal(s[0]!.sv_active, 1);
    assert.equal(s[0]!.paused, false);
  });

  test('a pool created while its member is paused starts paused', async () => {
    const { pools, take } = world();
    pools.pause();
    const got: string[] = [];
    take(got, 'a');
    await settle();
    assert.deepEqual(got, []);
    assert.equal(pools.stats()[0]!.paused, true);
    pools.resume();
    await settle();
    assert.deepEqual(got, ['a:node1']);
  });

  test('a new leader: the old leader’s pool is retired, its busy connections cut, idle ones closed; the next transaction goes to the new leader', async () => {
    const { take, conns, setTable } = world();
    const got: string[] = [];
    const a = take(got, 'a');
    const b = take(got, 'b');
    await settle();
    b.pool.release(b.held.conn!, true);
    assert.equal(conns.length, 2);
    setTable(tableWith(node2, 2));
    assert.equal(conns.filter((c) => c.cutDone).length, 1, 'the busy one is cut');
    assert.equal(conns.filter((c) => c.closed).length, 1, 'the idle one is closed');
    a.pool.release(a.held.conn!, true);
    const c = take(got, 'c');
    await settle();
    assert.deepEqual(got, ['a:node1', 'b:node1', 'c:node2'], 'the next transaction takes a connection on the new leader');
    assert.notEqual(c.pool, a.pool);
  });

  test('a server connection logs in with the secret looked up on that server (auth_query target: the pool’s backend and database), not on the leader', async () => {
    const { take, setTable, lookups } = world();
    take([], 'a');
    await settle();
    setTable(tableWith(node2, 2));
    take([], 'b');
    await settle();
    assert.deepEqual(lookups, ['app@10.0.0.1:5432/db', 'app@10.0.0.2:5432/db']);
  });

  test('no leader at all: write pools are retired (writes fail closed), as passthrough closes its sessions', async () => {
    const { take, conns, setTable } = world();
    const got: string[] = [];
    take(got, 'a');
    await settle();
    setTable(tableWith(undefined, 2));
    assert.equal(conns[0]!.cutDone, true);
  });
});
