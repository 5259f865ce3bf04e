/**
 * What a Patroni 3.0.2 user saw pgha do differently, replayed on real etcd and postgres (one two-node cluster):
 * the leader's REST state right after bootstrap, the rewind role, PATCH /config with a broken timing rule, a config
 * key with one odd value, the patroni.dynamic.json cache, /replica after the postmaster died, and the rejoin of a
 * cleanly stopped former primary (no pg_rewind, no re-clone: the physical and logical slots it held survive).
 * The cluster runs with wal_level: logical (a protected GUC: only bootstrap.dcs can set it) and, as a Patroni user
 * keeping a CDC slot would, `ignore_slots: [{name: cdc}]` (Patroni drops unknown slots; pgha never does).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASSWORD, httpStatus, sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';
import { clusterKeys } from '../../../src/model/keys';

const REWIND_USER = 'rewinder';

describe('Patroni parity of the agent core', { timeout: 600_000 }, () => {
  let c: TestCluster;
  const log = (i: number): string => (existsSync(c.nodes[i]!.logFile) ? readFileSync(c.nodes[i]!.logFile, 'utf8') : '');
  // waitFor wants a truthy value: node 0 is index 0.
  const leader = async (): Promise<number> =>
    (await waitFor('a leader key', async () => {
      const i = c.leaderIndex(await c.view());
      return i >= 0 ? { i } : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 })).i;
  const patroni = async (i: number): Promise<Record<string, unknown>> => {
    const res = await fetch(`http://127.0.0.1:${c.nodes[i]!.apiPort}/patroni`, { signal: AbortSignal.timeout(5000) });
    return (await res.json()) as Record<string, unknown>;
  };
  const configKey = async (): Promise<Record<string, unknown>> => JSON.parse((await c.store.get(clusterKeys('/service', c.scope).config))!.value) as Record<string, unknown>;
  // The member keys can still say "streaming" from before a restart: ask the leader's postgres itself.
  const replicaCaughtUp = async (li: number): Promise<void> => {
    await waitFor('the replica streaming and caught up', async () => {
      const rows = await sql<{ ok: boolean }>(c.nodes[li]!.pgPort,
        "SELECT state = 'streaming' AND replay_lsn >= pg_current_wal_lsn() AS ok FROM pg_stat_replication");
      return rows.length === 1 && rows[0]!.ok;
    }, { timeoutMs: 120_000, intervalMs: 200 }).catch(explain);
  };
  const tails = (): string => c.nodes.map((_, i) => c.logTail(i, 30)).join('\n---\n');
  const explain = (err: unknown): never => {
    throw new Error(`${String(err)}\n${tails()}`);
  };

  before(async () => {
    c = await startTestCluster({
      nodes: 2,
      socketDir: 'home',
      dcs: { ttl: 15, loop_wait: 2, retry_timeout: 5, ignore_slots: [{ name: 'cdc', type: 'logical' }] },
      dcsPostgresql: { parameters: { wal_level: 'logical' } },
      env: { PATRONI_REWIND_USERNAME: REWIND_USER, PATRONI_REWIND_PASSWORD: PASSWORD },
    });
  });
  after(async () => {
    if (c) await c.close();
  });

  it('answers GET / with 200 on the new leader once it takes writes, without racing for its own leader key', async (t) => {
    const li = await leader().catch(explain);
    await waitFor('writes on the bootstrapped leader', async () => {
      await sql(c.nodes[li]!.pgPort, 'CREATE TABLE IF NOT EXISTS t_boot (id int)');
      return true;
    }, { timeoutMs: 60_000, intervalMs: 100 }).catch(explain);
    const writable = Date.now();
    await waitFor('GET / → 200', async () => (await httpStatus(c.nodes[li]!.apiPort, '/')) === 200, { timeoutMs: 30_000, intervalMs: 50 }).catch(explain);
    t.diagnostic(`GET / answered 200 ${Date.now() - writable} ms after the first write`);
    const boot = log(li);
    assert.match(boot, /initialized a new cluster/);
    assert.doesNotMatch(boot, /lost the leader race/, 'the bootstrapping agent raced for the leader key it had just written');
    assert.doesNotMatch(boot, /acquiring the leader lock as the running primary/);
  });

  it('creates the rewind role at bootstrap with the grants pg_rewind needs', async () => {
    const li = await leader();
    const rows = await sql<{ f: string; ok: boolean }>(c.nodes[li]!.pgPort, `
      SELECT f, has_function_privilege('${REWIND_USER}', 'pg_catalog.' || f, 'execute') AS ok
      FROM unnest(ARRAY['pg_ls_dir(text, boolean, boolean)', 'pg_stat_file(text, boolean)', 'pg_read_binary_file(text)',
                        'pg_read_binary_file(text, bigint, bigint, boolean)']) AS f`);
    assert.deepEqual(rows.map((r) => [r.f, r.ok]), rows.map((r) => [r.f, true]));
    const [role] = await sql<{ rolcanlogin: boolean; rolsuper: boolean }>(c.nodes[li]!.pgPort, `SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = '${REWIND_USER}'`);
    assert.deepEqual(role, { rolcanlogin: true, rolsuper: false });
  });

  it('accepts PATCH /config with ttl 20, loop_wait 2, retry_timeout 10 and runs on lowered values, saying so', async () => {
    await c.waitHealthy(120_000).catch(explain);
    const li = await leader();
    const res = await fetch(`http://127.0.0.1:${c.nodes[li]!.apiPort}/config`, {
      method: 'PATCH', body: JSON.stringify({ ttl: 20, loop_wait: 2, retry_timeout: 10 }), signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200, await res.text());
    const stored = await configKey();
    assert.deepEqual([stored.ttl, stored.loop_wait, stored.retry_timeout], [20, 2, 10], 'the key keeps what was written');
    for (let i = 0; i < c.nodes.length; i++) {
      await waitFor(`${c.nodes[i]!.name} adjusts the timing`, async () => /using loop_wait 1 and retry_timeout 9/.test(log(i)), { timeoutMs: 30_000, intervalMs: 200 }).catch(explain);
    }
  });

  it('applies a max_connections change from a config key that also holds an odd value: pending_restart appears; the key is cached in patroni.dynamic.json', async () => {
    const li = await leader();
    const key = clusterKeys('/service', c.scope).config;
    const current = await configKey();
    const postgresql = (current.postgresql ?? {}) as Record<string, unknown>;
    const parameters = (postgresql.parameters ?? {}) as Record<string, unknown>;
    // As `patronictl edit-config` would write it straight to etcd: an odd ttl, and a parameter that needs a restart.
    await c.store.put(key, JSON.stringify({ ...current, ttl: 'twenty', postgresql: { ...postgresql, parameters: { ...parameters, max_connections: 150 } } }));
    await waitFor('pending_restart on the leader', async () => (await patroni(li)).pending_restart === true, { timeoutMs: 60_000, intervalMs: 300 }).catch(explain);
    assert.match(log(li), /config\.ttl: got \\"twenty\\", expected a whole number of seconds[^"]*; config\.ttl keeps 20/);
    assert.doesNotMatch(log(li), /ignoring invalid dynamic config/);
    // Patroni's cache: the dynamic config as the key holds it, in each member's data directory.
    for (const node of c.nodes) {
      const file = join(node.dataDir, 'patroni.dynamic.json');
      await waitFor(`${node.name}'s patroni.dynamic.json with max_connections 150 and the odd ttl`, async () => {
        if (!existsSync(file)) return false;
        const doc = JSON.parse(readFileSync(file, 'utf8')) as { ttl?: unknown; postgresql?: { parameters?: Record<string, unknown> } };
        return doc.postgresql?.parameters?.max_connections === 150 && doc.ttl === 'twenty';
      }, { timeoutMs: 30_000, intervalMs: 200 }).catch(explain);
    }
    // Back to the default before any node restarts: a hot standby refuses a max_connections below its primary's.
    const res = await fetch(`http://127.0.0.1:${c.nodes[li]!.apiPort}/config`, {
      method: 'PATCH', body: JSON.stringify({ ttl: 20, postgresql: { parameters: { max_connections: null } } }), signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200, await res.text());
    await waitFor('no pending_restart on the leader', async () => (await patroni(li)).pending_restart !== true, { timeoutMs: 60_000, intervalMs: 300 }).catch(explain);
  });

  it('answers /replica with 503 right after the replica\'s postmaster is killed', async () => {
    await c.waitHealthy(120_000).catch(explain);
    const ri = 1 - (await leader());
    const replica = c.nodes[ri]!;
    await waitFor('GET /replica → 200', async () => (await httpStatus(replica.apiPort, '/replica')) === 200, { timeoutMs: 30_000, intervalMs: 100 });
    const pid = Number(readFileSync(join(replica.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    await waitFor('the postmaster gone', async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, { timeoutMs: 10_000, intervalMs: 5 });
    assert.notEqual(await httpStatus(replica.apiPort, '/replica'), 200);
    await waitFor('the agent restarts postgres', async () => {
      const now = Number(readFileSync(join(replica.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return now !== pid && (await httpStatus(replica.apiPort, '/replica')) === 200;
    }, { timeoutMs: 120_000, intervalMs: 200 }).catch(explain);
    await replicaCaughtUp(1 - ri);
  });

  it('rejoins a cleanly stopped former primary as a replica without pg_rewind or a clone; its own physical and logical slots survive', async (t) => {
    const oi = await leader();
    const old = c.nodes[oi]!;
    const [{ walLevel }] = await sql<{ walLevel: string }>(old.pgPort, "SELECT current_setting('wal_level') AS \"walLevel\"") as [{ walLevel: string }];
    assert.equal(walLevel, 'logical', 'bootstrap.dcs.postgresql.parameters reached postgres');
    // Unmanaged slots: a physical one, and the logical one a CDC consumer would read (the user's lost slot).
    await sql(old.pgPort, "SELECT pg_create_physical_replication_slot('keep_me')");
    await sql(old.pgPort, "SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')");
    // A clean stop hands the shutdown checkpoint to a streaming replica; one still reconnecting would miss it, and
    // then a rewind is rightly needed.
    await replicaCaughtUp(oi);
    await c.stopAgent(oi);
    const ni = 1 - oi;
    await waitFor('the other node leads and takes writes', async () => {
      if (c.leaderIndex(await c.view()) !== ni) return false;
      await sql(c.nodes[ni]!.pgPort, 'CREATE TABLE IF NOT EXISTS t_after_switch (id int)');
      return true;
    }, { timeoutMs: 120_000, intervalMs: 200 }).catch(explain);
    const before = log(oi).length;
    c.startAgent(oi);
    await c.waitHealthy(180_000).catch(explain);
    const rejoin = log(oi).slice(before);
    t.diagnostic(rejoin.split('\n').filter((l) => /rejoin check/.test(l)).join('\n'));
    const slots = await sql<{ slot_name: string; slot_type: string; plugin: string | null }>(old.pgPort,
      "SELECT slot_name, slot_type, plugin FROM pg_replication_slots WHERE slot_name IN ('keep_me', 'cdc') ORDER BY slot_name");
    t.diagnostic(`slots on the former primary: ${JSON.stringify(slots)}`);
    assert.match(rejoin, /dynamic config loaded from the data directory cache/);
    assert.match(rejoin, /"rewind":false,"reason":"no rewind needed: the leader left timeline 1 where my shutdown checkpoint ends/);
    assert.doesNotMatch(rejoin, /pg_rewind (finished|failed)|rewound former primary|cloning again|creating replica from/);
    assert.deepEqual(slots.map((s) => [s.slot_name, s.slot_type, s.plugin]), [['cdc', 'logical', 'test_decoding'], ['keep_me', 'physical', null]]);
    const [{ inRecovery }] = await sql<{ inRecovery: boolean }>(old.pgPort, 'SELECT pg_is_in_recovery() AS "inRecovery"') as [{ inRecovery: boolean }];
    assert.equal(inRecovery, true);
  });
});
