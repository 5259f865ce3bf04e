/**
 * Issue 13's failover target on real agents, etcd and PostgreSQL 15: 16 clients, each on one client connection, run
 * short transactions (BEGIN, INSERT of a unique row, COMMIT) through a transaction-mode write listener; the leader
 * node dies (kill -9 of its agent and its postmaster). Synchronous mode is on, so the new leader is the synchronous
 * standby and holds every acknowledged commit. The target: 0 failed client connections, failed transactions at most
 * the number in flight at the kill, each failed with the router's 08006, every acknowledged row on the new leader;
 * the longest write gap is printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningRouter } from '../../../src/router/index';
import { sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { LEDGER_TABLE, longestGap, lostRows, routerTestLog, startLedgerClients, startLedgerRouter } from '../../support/ledger';
import { waitFor } from '../../support/wait';

const CLIENTS = 16;
const POOL_SIZE = 8;
const { lines: logLines, log } = routerTestLog();

describe('sessions survive a failover (transaction mode, kill -9 of the leader node)', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let router: RunningRouter | undefined;
  before(async () => {
    c = await startTestCluster({ nodes: 3, dcs: { ttl: 5, loop_wait: 1, retry_timeout: 2, synchronous_mode: true } });
    await c.waitHealthy(180_000);
    const v = await waitFor('a synchronous standby in the sync key', async () => {
      const w = await c.view();
      return w.sync?.leader === w.leader?.name && (w.sync?.syncStandby.length ?? 0) >= 1 ? w : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    await sql(c.nodes[c.leaderIndex(v)]!.pgPort, LEDGER_TABLE);
    router = await startLedgerRouter(c, log, { poolSize: POOL_SIZE });
  });
  after(async () => {
    await router?.stop().catch(() => undefined);
    if (c) await c.close();
  });

  it('16 clients, kill -9 of the leader node: no connection lost, only transactions on the dead leader fail (08006), none lost', async (t) => {
    const ledger = await startLedgerClients(router!.ports.write!, CLIENTS);
    const { acked, failures, connectionErrors } = ledger;
    try {
      await waitFor('transactions flowing', () => acked.length >= CLIENTS * 5, { timeoutMs: 60_000, intervalMs: 50 });
      const v = await c.view();
      const li = c.leaderIndex(v);
      const old = c.nodes[li]!;
      const syncStandby = v.sync!.syncStandby[0]!;
      const pmPid = Number(readFileSync(join(old.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const inFlightAtKill = ledger.inTxn.filter((s) => s !== undefined).length;
      const ackedBeforeKill = acked.length;
      const killedAt = Date.now();
      c.agents[li]!.child.kill('SIGKILL');
      process.kill(pmPid, 'SIGKILL');
      const next = await waitFor('a new leader key', async () => {
        const w = await c.view();
        return w.leader && w.leader.name !== old.name ? w.leader.name : undefined;
      }, { timeoutMs: 60_000, intervalMs: 50 });
      await waitFor('the router routes to the new leader', () => router!.table().leader?.member === next, { timeoutMs: 60_000, intervalMs: 50 });
      const routedAt = Date.now();
      // The clients run on for a few seconds on the new leader.
      await waitFor('transactions flowing on the new leader for 3 s', () =>
        Date.now() - routedAt >= 3000 && acked.filter((a) => a.at > routedAt).length >= CLIENTS * 5, { timeoutMs: 60_000, intervalMs: 50 });
      await ledger.stop();

      const gap = longestGap(acked, killedAt);
      const ni = c.nodes.findIndex((n) => n.name === next);
      const lost = lostRows(acked, await sql<{ client: number; seq: number }>(c.nodes[ni]!.pgPort, 'select client, seq from ledger'));
      t.diagnostic(`failover with ${CLIENTS} pooled clients: leader ${old.name} killed, new leader ${next} (sync standby was ${syncStandby}), routed ${routedAt - killedAt} ms after the kill; ${acked.length} transactions acknowledged (${ackedBeforeKill} before the kill), ${failures.length} failed (${inFlightAtKill} in flight at the kill), ${connectionErrors.length} connection errors, ${lost.length} lost; longest write gap ${gap} ms`);
      for (const f of failures) t.diagnostic(`failed: client ${f.client}, begun ${f.startedAt - killedAt} ms after the kill: ${f.code} ${f.message}`);
      const perClient = new Map<number, number>();
      for (const f of failures) perClient.set(f.client, (perClient.get(f.client) ?? 0) + 1);
      if (lost.length + connectionErrors.length > 0 || [...perClient.values()].some((k) => k > 1)) {
        for (const line of logLines.filter((l) => /lost|retired|routing changed|hold|error/.test(l))) t.diagnostic(line.trim());
      }
      assert.equal(next, syncStandby, 'synchronous mode promotes the synchronous standby');
      assert.deepEqual(connectionErrors, [], 'no client connection failed');
      // A transaction fails only on a server connection to the dead leader: those in flight at the kill, and one a
      // client began in the moment before the router saw that connection reset (it cannot know sooner, and
      // resending a statement on another connection is not safe). So: at most one per client, at most one per
      // server connection the pool had, and none begun after the router routed to the new leader.
      assert.ok([...perClient.values()].every((k) => k === 1), `at most one failed transaction per client: ${JSON.stringify([...perClient])}`);
      assert.ok(failures.length <= Math.min(CLIENTS, POOL_SIZE), `failed transactions (${failures.length}) at most the old leader's server connections (${POOL_SIZE})`);
      for (const f of failures) {
        assert.equal(f.code, '08006', `a failed transaction gets the router's 08006: ${f.message}`);
        assert.ok(f.startedAt < routedAt, `client ${f.client}'s failed transaction began before the new leader was routed`);
      }
      assert.deepEqual(lost, [], 'every acknowledged transaction is on the new leader');
    } finally {
      await ledger.stop();
    }
  });
});
