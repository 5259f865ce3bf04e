/**
 * Issue 11 acceptance for `workers: 2`, against real pgha agents (each embeds the router, with two worker
 * processes) and real PostgreSQL 15 with TLS on: every worker serves; a CancelRequest sent through any worker
 * cancels the query, for plain and TLS sessions on the write and the read port; when the leader's agent is killed
 * (-9) under load, every worker closes its write sessions to the old leader (whose postgres still runs and would
 * still take writes) and no write is acknowledged by it after the new leader is confirmed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'pg';
import { PASSWORD, startTestCluster, type TestCluster } from '../../support/cluster';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';
import { selfSignedCert, sendCancel } from './harness';

interface RouterPorts { write: number; read: number; metrics: number }
interface WorkerDoc { index: number; pid: number | null; ready: boolean; connections: Record<string, { active: number }> }
interface StatusDoc { leader: { member: string } | null; workers?: WorkerDoc[] }

function routerSection(p: RouterPorts): string {
  return `router:
  workers: 2
  listeners:
    - {name: write, role: primary, listen: "127.0.0.1:${p.write}", hold_timeout: 30s}
    - {name: read, role: replica, listen: "127.0.0.1:${p.read}", max_lag: 16MB, hold_timeout: 10s}
  metrics: {listen: "127.0.0.1:${p.metrics}"}
  health: {interval: 1s, timeout: 900ms, fast_interval: 50ms, fall: 5, max_age: 10s}
`;
}

async function open(port: number, ssl: boolean): Promise<Client> {
  const c = new Client({
    host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 60_000,
    ...(ssl ? { ssl: { rejectUnauthorized: false } } : {}),
  });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function status(p: RouterPorts): Promise<StatusDoc> {
  return (await fetch(`http://127.0.0.1:${p.metrics}/status`).then((r) => r.json())) as StatusDoc;
}

/**
 * Opens sessions until both workers hold at least one on `listener` (the control plane hands connections out in
 * turn), reading the per-worker counts only once they include every session opened (stats refresh each second).
 */
async function spreadOverWorkers(p: RouterPorts, port: number, listener: string, ssl: boolean, sessions: Client[]): Promise<void> {
  for (let i = 0; i < 20; i++) {
    sessions.push(await open(port, ssl));
    if (sessions.length < 2) continue;
    const per = await waitFor(`worker stats count ${sessions.length} ${listener} sessions`, async () => {
      const counts = ((await status(p)).workers ?? []).map((w) => w.connections[listener]?.active ?? 0);
      return counts.length === 2 && counts[0]! + counts[1]! >= sessions.length ? counts : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    if (per.every((n) => n > 0)) return;
  }
  throw new Error(`${sessions.length} ${listener} sessions all landed on one worker`);
}

describe('router workers in front of real pgha agents', { timeout: 900_000 }, () => {
  let c: TestCluster;
  let tls: ReturnType<typeof selfSignedCert>;
  const ports: RouterPorts[] = [];
  const clients: Client[] = [];
  before(async () => {
    tls = selfSignedCert();
    for (let i = 0; i < 3; i++) ports.push({ write: await freePort(), read: await freePort(), metrics: await freePort() });
    c = await startTestCluster({
      dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 },
      dcsPostgresql: { parameters: { ssl: 'on', ssl_cert_file: tls.cert, ssl_key_file: tls.key } },
      extra: (i) => routerSection(ports[i]!),
    });
    await c.waitHealthy(120_000);
  });
  after(async () => {
    for (const cl of clients) await cl.end().catch(() => undefined);
    if (c) await c.close();
    tls?.remove();
  });

  it('two workers serve; a cancel through any worker cancels plain and TLS sessions on both ports', async (t) => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const p = ports[(li + 1) % 3]!;
    await waitFor('the router confirms the leader, two workers ready', async () => {
      const st = await status(p);
      return st.leader?.member === view.leader!.name && st.workers?.length === 2 && st.workers.every((w) => w.ready);
    }, { timeoutMs: 60_000, intervalMs: 200 });
    for (const [listener, port] of [['write', p.write], ['read', p.read]] as const) {
      for (const ssl of [false, true]) {
        const sessions: Client[] = [];
        await spreadOverWorkers(p, port, listener, ssl, sessions);
        // Every session is cancelled through a new connection; whichever worker takes it must find the query.
        // Connections are handed out in turn: a throwaway connection before every other cancel sends cancels to
        // the worker that holds the session and to the one that does not.
        for (const [i, s] of sessions.entries()) {
          if (i % 2 === 1) await open(port, ssl).then((x) => x.end()).catch(() => undefined);
          const q = s.query('select pg_sleep(60)').then(() => 'finished', (err: { code?: string }) => err.code ?? String(err));
          let outcome: string | undefined;
          const started = Date.now();
          while (outcome === undefined && Date.now() - started < 30_000) {
            await sendCancel(port, s);
            outcome = await Promise.race([q, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
          }
          assert.equal(outcome, '57014', `${listener} ssl=${ssl}: the query was not cancelled (${outcome})`);
        }
        t.diagnostic(`${listener} ssl=${ssl}: ${sessions.length} sessions over both workers, each cancelled through the router`);
        for (const s of sessions) await s.end().catch(() => undefined);
        await waitFor(`no ${listener} session left`, async () => (await status(p)).workers?.every((w) => (w.connections[listener]?.active ?? 0) === 0) === true, { timeoutMs: 30_000, intervalMs: 200 });
      }
    }
    const metrics = await fetch(`http://127.0.0.1:${p.metrics}/metrics`).then((r) => r.text());
    t.diagnostic(metrics.split('\n').filter((l) => l.startsWith('pgha_router_cancel_requests_total')).join('; '));
    assert.match(metrics, /pgha_router_cancel_requests_total\{listener="write",outcome="broadcast"\} [1-9]/);
    assert.match(metrics, /pgha_router_connections_opened_total\{listener="read",backend="[^"]+"\} [1-9]/);
  });

  it('kill -9 of the leader agent under load: every worker closes its write sessions; the old primary acknowledges nothing after the change', async (t) => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const p = ports[(li + 1) % 3]!;
    const old = c.nodes[li]!;
    await waitFor('the table, created through the router', async () => {
      const s = await open(p.write, false);
      try {
        await s.query('create table if not exists acked (id bigserial primary key, port int)');
      } finally {
        await s.end().catch(() => undefined);
      }
      return true;
    }, { timeoutMs: 60_000, intervalMs: 300 });
    const sessions: Client[] = [];
    await spreadOverWorkers(p, p.write, 'write', false, sessions);
    for (let i = 0; i < 4; i++) sessions.push(await open(p.write, false));
    clients.push(...sessions);
    const t0 = Date.now();
    const acks: { port: number; atMs: number; kind: 'session' | 'new' }[] = [];
    const ended: { atMs: number; error: string }[] = [];
    let stop = false;
    // Persistent writers: one INSERT after another until the router closes the session.
    const persistent = sessions.map(async (s) => {
      for (;;) {
        try {
          const r = await s.query<{ port: number }>('insert into acked (port) values (inet_server_port()) returning port');
          acks.push({ port: r.rows[0]!.port, atMs: Date.now() - t0, kind: 'session' });
        } catch (err) {
          ended.push({ atMs: Date.now() - t0, error: String(err) });
          return;
        }
      }
    });
    // New-connection writers: held during the election, then on the new leader.
    const fresh = (async () => {
      while (!stop) {
        try {
          const s = await open(p.write, false);
          try {
            const r = await s.query<{ port: number }>('insert into acked (port) values (inet_server_port()) returning port');
            acks.push({ port: r.rows[0]!.port, atMs: Date.now() - t0, kind: 'new' });
          } finally {
            await s.end().catch(() => undefined);
          }
        } catch {
          // counted by the assertions on acks
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor('writes flow through both workers', () => acks.length >= 20, { timeoutMs: 30_000, intervalMs: 50 });
    const killedMs = Date.now() - t0;
    // Only the agent dies: its postgres keeps running as a primary that would take any write sent to it.
    c.agents[li]!.child.kill('SIGKILL');
    let newKeyMs = 0;
    let newLeader = '';
    await waitFor('a new leader key', async () => {
      const v = await c.view();
      if (v.leader && v.leader.name !== old.name) {
        newKeyMs = Date.now() - t0;
        newLeader = v.leader.name;
        return true;
      }
      return false;
    }, { timeoutMs: 90_000, intervalMs: 20 });
    await waitFor('every persistent session closed', () => ended.length === sessions.length, { timeoutMs: 30_000, intervalMs: 50 });
    const ni = c.nodes.findIndex((n) => n.name === newLeader);
    await waitFor('a new-connection write on the new leader', () => acks.some((a) => a.kind === 'new' && a.atMs > newKeyMs && a.port === c.nodes[ni]!.pgPort), { timeoutMs: 60_000, intervalMs: 50 });
    stop = true;
    await fresh;
    await Promise.all(persistent);
    const late = acks.filter((a) => a.port === old.pgPort && a.atMs >= newKeyMs);
    assert.deepEqual(late, [], 'writes acknowledged by the old primary after the new leader key appeared');
    const wrong = acks.filter((a) => a.atMs >= newKeyMs && a.port !== c.nodes[ni]!.pgPort);
    assert.deepEqual(wrong, [], 'writes after the change that did not land on the new leader');
    for (const e of ended) assert.ok(e.atMs > killedMs, `a session ended before the kill: ${e.error}`);
    const metrics = await fetch(`http://127.0.0.1:${p.metrics}/metrics`).then((r) => r.text());
    const closed = Number(/pgha_router_connections_closed_on_leader_change_total\{listener="write"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(closed >= sessions.length, `closed on leader change: ${closed}, sessions: ${sessions.length}`);
    t.diagnostic(`kill +${killedMs} ms, new key +${newKeyMs} ms, ${sessions.length} sessions over 2 workers closed by +${Math.max(...ended.map((e) => e.atMs))} ms, ${acks.length} acks`);
    // The old node comes back as a replica.
    await c.agents[li]!.exited;
    c.startAgent(li);
    await c.waitHealthy(180_000);
  });
});
