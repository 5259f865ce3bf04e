/**
 * Issue 13's failover target on real agents, etcd and PostgreSQL 15: 16 clients, each on one client connection, run
 * short transactions (BEGIN, INSERT of a unique row, COMMIT) through a transaction-mode write listener; the leader
 * node dies as in a host crash (kill -9 of its agent, its postmaster and every postmaster child: kill-node.ts).
 * Synchronous mode is on, so the new leader is the synchronous standby and holds every acknowledged commit.
 * The target: 0 failed client connections, and only transactions in flight at the kill fail (begun before the node
 * was dead, not answered before the SIGKILL): each with the router's 08006; one begun after waits for the new leader.
 * Every acknowledged row is on the new leader; the longest write gap is printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningRouter } from '../../../src/router/index';
import { sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { killNode } from '../../support/kill-node';
import { LEDGER_TABLE, inFlightAt, longestGap, lostRows, routerTestLog, startLedgerClients, startLedgerRouter } from '../../support/ledger';
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

  it('16 clients, kill -9 of the leader node: no connection lost, only transactions in flight at the kill fail (08006), none lost', async (t) => {
    const ledger = await startLedgerClients(router!.ports.write!, CLIENTS);
    const { txns, acked, failures, connectionErrors } = ledger;
    try {
      await waitFor('transactions flowing', () => acked.length >= CLIENTS * 5, { timeoutMs: 60_000, intervalMs: 50 });
      const v = await c.view();
      const li = c.leaderIndex(v);
      const old = c.nodes[li]!;
      const syncStandby = v.sync!.syncStandby[0]!;
      const ackedBeforeKill = acked.length;
      const killedAtWall = Date.now();
      const kill = await killNode(c.agents[li]!.child.pid!, old.dataDir);
      const next = await waitFor('a new leader key', async () => {
        const w = await c.view();
        return w.leader && w.leader.name !== old.name ? w.leader.name : undefined;
      }, { timeoutMs: 60_000, intervalMs: 50 });
      await waitFor('the router routes to the new leader', () => router!.table().leader?.member === next, { timeoutMs: 60_000, intervalMs: 50 });
      const routedAt = performance.now();
      // The clients run on for a few seconds on the new leader.
      await waitFor('transactions flowing on the new leader for 3 s', () =>
        performance.now() - routedAt >= 3000 && txns.filter((x) => x.ok && x.t0 > routedAt).length >= CLIENTS * 5, { timeoutMs: 60_000, intervalMs: 50 });
      await ledger.stop();

      // In flight at the kill: begun before the node was dead, not answered before the SIGKILL (its processes take a
      // while to die on a loaded host, and serve until they do).
      const inFlight = inFlightAt(txns, kill.signalledAt, kill.deadAt);
      const inFlightKeys = new Set(inFlight.map((x) => `${x.client}/${x.seq}`));
      const gap = longestGap(acked, killedAtWall);
      const ni = c.nodes.findIndex((n) => n.name === next);
      const lost = lostRows(acked, await sql<{ client: number; seq: number }>(c.nodes[ni]!.pgPort, 'select client, seq from ledger'));
      t.diagnostic(`failover with ${CLIENTS} pooled clients: leader ${old.name} killed (${kill.pids.length} processes, dead ${(kill.deadAt - kill.signalledAt).toFixed(1)} ms after SIGKILL), new leader ${next} (sync standby was ${syncStandby}), routed ${(routedAt - kill.deadAt).toFixed(0)} ms after the kill; ${acked.length} transactions acknowledged (${ackedBeforeKill} before the kill), ${failures.length} failed, ${inFlight.length} in flight at the kill (${inFlightAt(txns, kill.signalledAt).length} at the SIGKILL, ${inFlightAt(txns, kill.deadAt).length} when all were dead), ${connectionErrors.length} connection errors, ${lost.length} lost; longest write gap ${gap} ms`);
      const outside = failures.filter((f) => !inFlightKeys.has(`${f.client}/${f.seq}`));
      for (const f of failures) {
        const x = txns.find((y) => y.client === f.client && y.seq === f.seq)!;
        t.diagnostic(`failed: client ${f.client}, begun ${(x.t0 - kill.signalledAt).toFixed(1)} ms after the SIGKILL, answered ${(x.t1! - kill.signalledAt).toFixed(1)} ms after it: ${f.code} ${f.message}`);
      }
      if (lost.length + connectionErrors.length + outside.length > 0) {
        for (const line of logLines.filter((l) => /lost|retired|routing changed|hold|error|found|failed/.test(l))) t.diagnostic(line.trim());
      }
      assert.equal(next, syncStandby, 'synchronous mode promotes the synchronous standby');
      assert.deepEqual(connectionErrors, [], 'no client connection failed');
      // A transaction whose bytes reached the dead server may have run: it fails, never resent. One that had sent
      // nothing (waiting for a server connection, or begun after the kill) waits for the new leader instead.
      assert.deepEqual(outside, [], 'every failed transaction was in flight at the kill');
      assert.ok(failures.length <= inFlight.length, `failed (${failures.length}) at most in flight at the kill (${inFlight.length})`);
      for (const f of failures) assert.equal(f.code, '08006', `a failed transaction gets the router's 08006: ${f.message}`);
      assert.deepEqual(lost, [], 'every acknowledged transaction is on the new leader');
    } finally {
      await ledger.stop();
    }
  });
});
