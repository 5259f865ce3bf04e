/**
 * Issue 6 item 5 acceptance: a rolling migration from a running Patroni 3.0.2 cluster (Debian's `patroni`, etcd v3)
 * to pgha, one node at a time, on the same YAML files and data directories (docs/migration.md):
 *
 *   Patroni ×3 → replace replica A → replace replica B → switchover Patroni leader → pgha A (patronictl)
 *   → replace the last Patroni node → switchover A → B (pgha ctl) → all pgha → (the way back) one replica
 *   back to Patroni, a switchover to it (pgha ctl) and away from it (patronictl), and pgha again.
 *
 * After every step: exactly one leader key and exactly one writable postgres, every replica streaming from the
 * leader (pg_stat_replication), `patronictl list` showing all three members, the system identifier unchanged,
 * no re-clone of a replaced node (a marker file in its data dir survives), and every row written so far present.
 * Skipped with a diagnostic when Patroni is not installed (scripts/setup.sh installs it).
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findBinDir } from '../../../src/postgres/bin';
import { pghaAgentCommand, postgresOsUser, type AgentCommand } from '../../../src/demo/local-cluster';
import { Client } from 'pg';
import { startTestCluster, sql, PASSWORD, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';
import { runFile } from '../../support/run-file';

const PATRONI = '/usr/bin/patroni';
const PATRONICTL = '/usr/bin/patronictl';
const PGHA_BIN = resolve(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');
const MARKER = 'migration-test.marker';

const patroniCommand: AgentCommand = (file) => ({ file: PATRONI, args: [file], env: { PATRONI_POSTGRESQL_BIN_DIR: findBinDir() } });

const run = runFile;

describe('rolling migration from a real Patroni 3.0.2 cluster to pgha, and back', { timeout: 900_000, skip: !existsSync(PATRONI) && 'patroni is not installed' }, () => {
  let c: TestCluster;
  let sysid = '';
  let rows = 0;
  /** What each node runs now. */
  const runs: ('patroni' | 'pgha')[] = ['patroni', 'patroni', 'patroni'];
  const started = Date.now();
  const nameOf = (i: number) => c.nodes[i]!.name;
  const indexOf = (name: string) => c.nodes.findIndex((n) => n.name === name);

  /** Sampled all along: moments when two postgres accepted writes at once (there must be none). */
  const twoPrimaries: string[] = [];
  let samples = 0;
  let sampling = true;
  let sampler: Promise<void> | undefined;

  before(async () => {
    c = await startTestCluster({ scope: 'migration', dcs: { ttl: 10, loop_wait: 1, retry_timeout: 4 }, command: patroniCommand });
    // One open connection per node, so that the three answers of a sample are milliseconds apart: a switchover
    // demotes the old primary well before the new one is promoted, and only an overlap counts.
    const clients: (Client | undefined)[] = c.nodes.map(() => undefined);
    const writable = async (i: number): Promise<boolean> => {
      try {
        if (!clients[i]) {
          const client = new Client({ host: '127.0.0.1', port: c.nodes[i]!.pgPort, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 2000 });
          client.on('error', () => undefined);
          await client.connect();
          clients[i] = client;
        }
        return !(await clients[i]!.query<{ rec: boolean }>('select pg_is_in_recovery() as rec')).rows[0]!.rec;
      } catch {
        void clients[i]?.end().catch(() => undefined);
        clients[i] = undefined;
        return false;
      }
    };
    sampler = (async () => {
      while (sampling) {
        const from = Date.now();
        const w = await Promise.all(c.nodes.map((_, i) => writable(i)));
        samples++;
        if (w.filter(Boolean).length > 1) {
          twoPrimaries.push(`${new Date(from).toISOString()} (+${Date.now() - from} ms): ${c.nodes.filter((_, i) => w[i]).map((n) => n.name).join(', ')}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      await Promise.all(clients.map((cl) => cl?.end().catch(() => undefined)));
    })();
  });
  after(async () => {
    sampling = false;
    await sampler;
    if (c) await c.close();
  });

  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

  /** The leader key's member, once the cluster has one. */
  async function leaderName(): Promise<string> {
    return waitFor('a leader key', async () => (await c.view()).leader?.name, { timeoutMs: 120_000, intervalMs: 200 });
  }

  /** The invariants every step must end in; returns the leader's index. */
  async function checkCluster(t: TestContext, step: string): Promise<number> {
    let seen = 'nothing yet';
    let listed: { Member: string; Role: string; State: string; TL?: number }[] = [];
    const { li: leader } = await waitFor(`${step}: one leader, two replicas streaming from it, the rows replicated, patronictl list`, async () => {
      const view = await c.view();
      const name = view.leader?.name;
      seen = `leader key ${name ?? '-'}, members ${[...view.members.keys()].sort().join(',')}`;
      if (!name || view.members.size !== 3) return undefined;
      const li = indexOf(name);
      // Exactly one writable postgres, and it is the leader key's.
      const writable: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await sql<{ rec: boolean }>(c.nodes[i]!.pgPort, 'select pg_is_in_recovery() as rec').catch(() => undefined);
        if (!r) return (seen += `; ${nameOf(i)} not answering`), undefined;
        if (!r[0]!.rec) writable.push(i);
      }
      seen += `; writable ${writable.map(nameOf).join(',')}`;
      if (writable.length !== 1 || writable[0] !== li) return undefined;
      const streaming = await sql<{ application_name: string }>(c.nodes[li]!.pgPort,
        "select application_name from pg_stat_replication where state = 'streaming' order by 1");
      seen += `; streaming from the leader: ${streaming.map((r) => r.application_name).join(',')}`;
      const expected = [0, 1, 2].filter((i) => i !== li).map(nameOf).sort();
      if (streaming.map((r) => r.application_name).join(',') !== expected.join(',')) return undefined;
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        counts.push(Number((await sql<{ n: string }>(c.nodes[i]!.pgPort, 'select count(*) as n from migration_ledger'))[0]!.n));
      }
      seen += `; rows ${counts.join(',')} of ${rows}`;
      if (counts.some((n) => n !== rows)) return undefined;
      const list = await run(PATRONICTL, ['-c', c.nodes[0]!.configFile, 'list', '-f', 'json']);
      seen += `; patronictl list: exit ${list.code} ${list.out.trim()}`;
      if (list.code !== 0) return undefined;
      listed = JSON.parse(list.out) as typeof listed;
      const ok = listed.map((m) => m.Member).sort().join(',') === c.nodes.map((n) => n.name).sort().join(',') &&
        listed.filter((m) => m.Role === 'Leader').map((m) => m.Member).join(',') === name &&
        listed.every((m) => m.State === 'running');
      return ok ? { li } : undefined;
    }, { timeoutMs: 180_000, intervalMs: 500 }).catch((err: unknown) => {
      throw new Error(`${String(err)}\nlast seen: ${seen}\n${[0, 1, 2].map((i) => `--- ${nameOf(i)} (${runs[i]}) ---\n${c.logTail(i, 25)}`).join('\n')}`);
    });
    const view = await c.view();
    assert.equal(view.initialize, sysid, `${step}: the initialize key changed`);
    for (let i = 0; i < 3; i++) {
      const r = await sql<{ id: string }>(c.nodes[i]!.pgPort, 'select system_identifier::text as id from pg_control_system()');
      assert.equal(r[0]!.id, sysid, `${step}: ${nameOf(i)} has another system identifier`);
    }
    t.diagnostic(`${step} (${elapsed()}): leader ${nameOf(leader)} (${runs[leader]}); ${[0, 1, 2].map((i) => `${nameOf(i)}=${runs[i]}`).join(' ')}; ` +
      `patronictl list: ${listed.map((m) => `${m.Member} ${m.Role} ${m.State} TL${m.TL ?? '?'}`).join(', ')}`);
    return leader;
  }

  async function writeRow(step: string): Promise<void> {
    const leader = indexOf(await leaderName());
    await waitFor(`a row written on the leader before: ${step}`, async () => {
      await sql(c.nodes[leader]!.pgPort, `insert into migration_ledger (step) values ('${step.replace(/'/g, "''")}')`);
      return true;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    rows++;
  }

  /** Drops a marker into node i's data dir: it is gone after a re-clone (basebackup) or a rewind. */
  function mark(i: number): void {
    const path = join(c.nodes[i]!.dataDir, MARKER);
    writeFileSync(path, `${Date.now()}\n`, { mode: 0o600 });
    const owner = postgresOsUser();
    if (owner) chownSync(path, owner.uid, owner.gid);
  }

  /** Stops node i's daemon (SIGTERM: it stops postgres first) and starts the other one on the same YAML and data. */
  async function replace(t: TestContext, i: number, to: 'patroni' | 'pgha'): Promise<void> {
    const from = runs[i];
    mark(i);
    const stoppedAt = Date.now();
    await c.stopAgent(i, 90_000);
    assert.ok(!existsSync(join(c.nodes[i]!.dataDir, 'postmaster.pid')), `${from} on ${nameOf(i)} left postgres running`);
    const logFrom = statSync(c.nodes[i]!.logFile).size;
    c.startAgent(i, to === 'pgha' ? pghaAgentCommand : patroniCommand);
    runs[i] = to;
    await waitFor(`${nameOf(i)} streaming again under ${to}`, async () => {
      const leader = (await c.view()).leader?.name;
      if (!leader || leader === nameOf(i)) return undefined;
      const r = await sql<{ n: string }>(c.nodes[indexOf(leader)]!.pgPort,
        `select count(*) as n from pg_stat_replication where state = 'streaming' and application_name = '${nameOf(i)}'`);
      return Number(r[0]!.n) === 1;
    }, { timeoutMs: 180_000, intervalMs: 300 }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${readFileSync(c.nodes[i]!.logFile, 'utf8').slice(logFrom).split('\n').slice(-40).join('\n')}`);
    });
    const recloned = !existsSync(join(c.nodes[i]!.dataDir, MARKER));
    t.diagnostic(`${nameOf(i)}: ${from} → ${to}, streaming ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after the stop; re-cloned: ${recloned ? 'YES' : 'no'}`);
    assert.ok(!recloned, `${nameOf(i)} was re-cloned (or rewound) when ${to} took over its data dir`);
  }

  /** A switchover with patronictl (against whichever agent leads), retried while the leader refuses it. */
  async function switchover(t: TestContext, tool: 'patronictl' | 'pgha ctl', candidate: string): Promise<void> {
    const leader = await leaderName();
    const outputs: string[] = [];
    for (let attempt = 1; (await c.view()).leader?.name !== candidate; attempt++) {
      assert.ok(attempt <= 4, `the switchover ${leader} → ${candidate} was refused ${attempt - 1} times: ${outputs.join('; ')}`);
      await waitFor(`${candidate} streaming from ${leader}`, async () => {
        const r = await sql<{ n: string }>(c.nodes[indexOf(leader)]!.pgPort,
          `select count(*) as n from pg_stat_replication where state = 'streaming' and application_name = '${candidate}'`);
        return Number(r[0]!.n) === 1;
      }, { timeoutMs: 60_000, intervalMs: 300 });
      const args = ['-c', c.nodes[0]!.configFile, 'switchover', '--leader', leader, '--candidate', candidate, '--force'];
      const res = tool === 'patronictl' ? await run(PATRONICTL, args) : await run(process.execPath, [PGHA_BIN, 'ctl', ...args]);
      outputs.push(`attempt ${attempt}: exit ${res.code}: ${res.out.split('\n').filter((l) => /switch|fail|success|error/i.test(l)).join(' | ')}`);
      t.diagnostic(`${tool} switchover ${leader} → ${candidate}: ${outputs[outputs.length - 1]}`);
      // patronictl exits 0 on "Switchover failed"; pgha ctl exits 1. Either way the leader key decides.
      await waitFor(`the leader key on ${candidate}, or the switchover refused`, async () => {
        const view = await c.view();
        if (view.leader?.name === candidate) return true;
        return /failed|error/i.test(res.out) && !view.failover?.member && view.leader?.name === leader;
      }, { timeoutMs: 120_000, intervalMs: 200 });
    }
  }

  it('starts as a Patroni cluster: one leader, two streaming replicas', async (t) => {
    const leader = await leaderName();
    const li = indexOf(leader);
    await waitFor('the leader accepts writes', async () => {
      await sql(c.nodes[li]!.pgPort, 'create table if not exists migration_ledger (id serial primary key, step text not null, at timestamptz default now())');
      return true;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    sysid = await waitFor('the initialize key', async () => (await c.view()).initialize, { timeoutMs: 60_000 });
    await writeRow('patroni cluster');
    const member = (await c.view()).members.get(leader)!;
    assert.equal(member.doc.role, 'master');
    assert.equal(member.doc.version, '3.0.2');
    await checkCluster(t, 'Patroni cluster');
  });

  it('replaces each Patroni replica by a pgha agent, one at a time', async (t) => {
    const li = indexOf(await leaderName());
    for (const i of [0, 1, 2].filter((x) => x !== li)) {
      await writeRow(`before replacing ${nameOf(i)}`);
      await replace(t, i, 'pgha');
      assert.equal(await checkCluster(t, `${nameOf(i)} runs pgha`), li, 'the Patroni leader kept the leader key');
    }
  });

  it('switches over from the Patroni leader to a pgha node (patronictl)', async (t) => {
    const li = indexOf(await leaderName());
    const candidate = nameOf([0, 1, 2].find((x) => x !== li)!);
    await writeRow('before the Patroni → pgha switchover');
    await switchover(t, 'patronictl', candidate);
    assert.equal(nameOf(await checkCluster(t, `switchover to ${candidate}`)), candidate);
    const doc = (await c.view()).members.get(nameOf(li))!.doc;
    t.diagnostic(`the old Patroni leader ${nameOf(li)} follows pgha: role ${String(doc.role)}, state ${String(doc.state)}`);
  });

  it('replaces the last Patroni node, then switches over between two pgha nodes (pgha ctl)', async (t) => {
    const last = runs.indexOf('patroni');
    await writeRow(`before replacing ${nameOf(last)}`);
    await replace(t, last, 'pgha');
    const li = await checkCluster(t, 'all pgha');
    const candidate = nameOf([0, 1, 2].find((x) => x !== li)!);
    await writeRow('before the pgha → pgha switchover');
    await switchover(t, 'pgha ctl', candidate);
    assert.equal(nameOf(await checkCluster(t, `switchover to ${candidate}, all pgha`)), candidate);
    assert.deepEqual(runs, ['pgha', 'pgha', 'pgha']);
  });

  it('goes back: a pgha replica returns to Patroni, takes a switchover, and returns to pgha', async (t) => {
    const li = indexOf(await leaderName());
    const back = [0, 1, 2].find((x) => x !== li)!;
    await writeRow(`before ${nameOf(back)} goes back to Patroni`);
    await replace(t, back, 'patroni');
    await checkCluster(t, `${nameOf(back)} runs Patroni again`);
    await writeRow('before the pgha → Patroni switchover');
    await switchover(t, 'pgha ctl', nameOf(back));
    assert.equal(await checkCluster(t, `switchover to Patroni on ${nameOf(back)}`), back);
    const next = nameOf([0, 1, 2].find((x) => x !== back)!);
    await writeRow('before the Patroni → pgha switchover back');
    await switchover(t, 'patronictl', next);
    assert.equal(nameOf(await checkCluster(t, `switchover back to ${next}`)), next);
    await writeRow(`before ${nameOf(back)} returns to pgha`);
    await replace(t, back, 'pgha');
    await checkCluster(t, 'all pgha again');
  });

  it('never had two postgres accepting writes at once', (t) => {
    t.diagnostic(`${samples} samples of all three nodes' pg_is_in_recovery(), ${elapsed()} in all`);
    assert.ok(samples > 50, `only ${samples} samples`);
    assert.deepEqual(twoPrimaries, []);
  });
});
