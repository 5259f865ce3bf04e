/**
 * Issue 3 acceptance against real pgha agents: each agent runs the router embedded (its YAML's `router:` section);
 * the test uses a router on a node that does not lead. kill -9 of the leader node: connections opened during the
 * election wait and then succeed on the new leader, through the same router address, with no client change.
 * Issue 11 (read sessions follow the role): a switchover to a replica that holds an open read session ends that
 * session on the read listener; new reads go to a replica, and the write port behaves as before.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { PASSWORD, startTestCluster, type TestCluster } from '../../support/cluster';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';

interface RouterPorts { write: number; read: number; metrics: number }

function routerSection(p: RouterPorts): string {
  return `router:
  listeners:
    - {name: write, role: primary, listen: "127.0.0.1:${p.write}", hold_timeout: 30s}
    - {name: read, role: replica, listen: "127.0.0.1:${p.read}", max_lag: 16MB, hold_timeout: 10s}
  metrics: {listen: "127.0.0.1:${p.metrics}"}
  health: {interval: 1s, timeout: 800ms, fast_interval: 50ms}
`;
}

async function one<T>(port: number, text: string): Promise<T> {
  const c = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 60_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(text)).rows[0] as T;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function routerStatus(p: RouterPorts): Promise<{ leader: { member: string } | null }> {
  return (await fetch(`http://127.0.0.1:${p.metrics}/status`).then((r) => r.json())) as { leader: { member: string } | null };
}

describe('embedded router in front of real pgha agents', { timeout: 600_000 }, () => {
  let c: TestCluster;
  const ports: RouterPorts[] = [];
  before(async () => {
    for (let i = 0; i < 3; i++) ports.push({ write: await freePort(), read: await freePort(), metrics: await freePort() });
    c = await startTestCluster({ dcs: { ttl: 5, loop_wait: 1, retry_timeout: 2 }, extra: (i) => routerSection(ports[i]!) });
    await c.waitHealthy(120_000);
  });
  after(async () => {
    if (c) await c.close();
  });

  it('routes writes to the leader and reads to both replicas', async () => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const ri = (li + 1) % 3;
    const p = ports[ri]!;
    await waitFor('the router confirms the leader', async () => (await routerStatus(p)).leader?.member === view.leader!.name, { timeoutMs: 30_000, intervalMs: 100 });
    const w = await one<{ port: number; rec: boolean }>(p.write, 'select inet_server_port() as port, pg_is_in_recovery() as rec');
    assert.deepEqual(w, { port: c.nodes[li]!.pgPort, rec: false });
    const seen = new Set<number>();
    await waitFor('reads reach both replicas', async () => {
      const r = await one<{ port: number; rec: boolean }>(p.read, 'select inet_server_port() as port, pg_is_in_recovery() as rec');
      assert.equal(r.rec, true);
      seen.add(r.port);
      return seen.size === 2;
    }, { timeoutMs: 30_000, intervalMs: 10 });
    assert.ok(!seen.has(c.nodes[li]!.pgPort));
  });

  it('switchover to a replica holding an open read session: the router ends that session; new reads go to a replica', async (t) => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const xi = (li + 1) % 3; // the candidate, holding the read session
    const ri = (li + 2) % 3; // the router used: on the node that is neither
    const p = ports[ri]!;
    const x = c.nodes[xi]!;
    await waitFor('the router confirms the leader and has both replicas in its read pool', async () => {
      const st = (await fetch(`http://127.0.0.1:${p.metrics}/status`).then((r) => r.json())) as { leader: { member: string } | null; listeners: { read: { backends: { member: string }[] } } };
      return st.leader?.member === view.leader!.name && st.listeners.read.backends.length === 2;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    // Least connections spreads new reads over both replicas: open until one session sits on the candidate.
    const clients: Client[] = [];
    const connect = async (port: number): Promise<Client> => {
      const cl = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 30_000 });
      cl.on('error', () => undefined);
      clients.push(cl);
      await cl.connect();
      return cl;
    };
    try {
      let onX: Client | undefined;
      for (let i = 0; i < 10 && !onX; i++) {
        const cl = await connect(p.read);
        const r = (await cl.query('select inet_server_port() as port')).rows[0] as { port: number };
        if (r.port === x.pgPort) onX = cl;
      }
      assert.ok(onX, `no read session landed on ${x.name}`);
      let readEndedAt = 0;
      onX.on('end', () => (readEndedAt ||= Date.now()));
      const write = await connect(p.write);
      assert.equal(((await write.query('select inet_server_port() as port')).rows[0] as { port: number }).port, c.nodes[li]!.pgPort);
      let writeEndedAt = 0;
      write.on('end', () => (writeEndedAt ||= Date.now()));

      const started = Date.now();
      const res = await fetch(`http://127.0.0.1:${c.nodes[li]!.apiPort}/switchover`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ leader: view.leader!.name, candidate: x.name }),
        signal: AbortSignal.timeout(90_000),
      });
      assert.equal(res.status, 200, await res.text());
      await waitFor('the read session on the promoted member ended', () => readEndedAt > 0, { timeoutMs: 30_000, intervalMs: 50 });
      await assert.rejects(onX.query('select 1'), 'the read session is closed');
      await waitFor('the write session on the old leader ended', () => writeEndedAt > 0, { timeoutMs: 30_000, intervalMs: 50 });
      const metrics = await fetch(`http://127.0.0.1:${p.metrics}/metrics`).then((r) => r.text());
      assert.match(metrics, /pgha_router_read_sessions_ended_total\{listener="read",reason="promoted"\} 1\n/);
      assert.match(metrics, new RegExp(`pgha_router_connections_closed_total\\{listener="read",backend="${x.name}",reason="role_change"\\} 1\n`));
      // New reads go to a replica (the old leader may still be rejoining: retried), new writes to the new leader.
      const read = await waitFor('a new read on a replica', async () => {
        const r = await one<{ port: number; rec: boolean }>(p.read, 'select inet_server_port() as port, pg_is_in_recovery() as rec').catch(() => undefined);
        return r && r.rec ? r : undefined;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      assert.notEqual(read.port, x.pgPort);
      const w = await waitFor('a new write on the new leader', async () => one<{ port: number }>(p.write, 'select inet_server_port() as port').catch(() => undefined), { timeoutMs: 60_000, intervalMs: 200 });
      assert.equal(w.port, x.pgPort);
      t.diagnostic(`read session on ${x.name} ended ${readEndedAt - started} ms after the switchover request, write session ${writeEndedAt - started} ms`);
    } finally {
      for (const cl of clients) await cl.end().catch(() => undefined);
    }
    await c.waitHealthy(180_000);
  });

  it('kill -9 of the leader node: writes opened during the election wait and land on the new leader', async (t) => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const ri = (li + 1) % 3;
    const p = ports[ri]!;
    const old = c.nodes[li]!;
    // Setup through the router; on a loaded machine a slow health answer may briefly unconfirm the leader (writes
    // fail closed), so the setup retries.
    await waitFor('the table, created through the router', async () => {
      await one(p.write, 'create table if not exists routed_writes (id bigserial primary key, at timestamptz default now())');
      return true;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const pmPid = Number(readFileSync(join(old.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const killedAt = Date.now();
    c.agents[li]!.child.kill('SIGKILL');
    process.kill(pmPid, 'SIGKILL');
    // New connections keep coming during the election, one every 250 ms; each must succeed on the new leader.
    const attempts: Promise<{ startedMs: number; doneMs: number; port?: number; error?: string }>[] = [];
    let newLeaderKeyMs = 0;
    const keyWatch = waitFor('a new leader key', async () => {
      const v = await c.view();
      return v.leader && v.leader.name !== old.name ? (newLeaderKeyMs = Date.now() - killedAt) : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50 });
    while (!newLeaderKeyMs && Date.now() - killedAt < 60_000) {
      const startedMs = Date.now() - killedAt;
      attempts.push(one<{ port: number }>(p.write, 'insert into routed_writes default values returning inet_server_port() as port')
        .then((r) => ({ startedMs, doneMs: Date.now() - killedAt, port: r.port }),
          (err: unknown) => ({ startedMs, doneMs: Date.now() - killedAt, error: String(err) })));
      await new Promise((r) => setTimeout(r, 250));
    }
    await keyWatch;
    const results = await Promise.all(attempts);
    const after = await c.view();
    const ni = c.leaderIndex(after);
    assert.notEqual(ni, li);
    for (const r of results) {
      assert.equal(r.error, undefined, `a write opened at +${r.startedMs} ms failed at +${r.doneMs} ms`);
      assert.equal(r.port, c.nodes[ni]!.pgPort, `a write opened at +${r.startedMs} ms landed on port ${r.port}`);
    }
    const held = results.filter((r) => r.startedMs < newLeaderKeyMs);
    assert.ok(held.length >= 3, `${held.length} connections were opened before the new leader key`);
    const firstDone = Math.min(...results.map((r) => r.doneMs));
    t.diagnostic(`new leader key +${newLeaderKeyMs} ms; ${results.length} writes opened during the election all succeeded; first done +${firstDone} ms`);
    const w = await one<{ port: number }>(p.write, 'select inet_server_port() as port');
    assert.equal(w.port, c.nodes[ni]!.pgPort);
    await c.agents[li]!.exited;
    c.startAgent(li);
    await c.waitHealthy(180_000);
  });
});
