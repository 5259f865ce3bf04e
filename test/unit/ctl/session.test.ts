/** Verbs driven against the in-memory store and a fake REST client: what they print, write and ask. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import { clusterKeys } from '../../../src/model/keys';
import type { CtlSession } from '../../../src/ctl/session';
import type { Prompter } from '../../../src/ctl/prompt';
import type { RestClient, RestResponse } from '../../../src/ctl/rest-client';
import { runList } from '../../../src/ctl/info';
import { editConfig } from '../../../src/ctl/config-edit';
import { togglePause } from '../../../src/ctl/pause';
import { runFailover } from '../../../src/ctl/switchover';
import { runReinit, runRestart } from '../../../src/ctl/restart';

interface Fake {
  s: CtlSession;
  store: MemoryStore;
  out: string[];
  calls: { url: string; method: string; endpoint: string; body: unknown }[];
  sleeps: number[];
}

function fake(opts: { answer?: (method: string, endpoint: string) => RestResponse; confirm?: boolean; interactive?: boolean } = {}): Fake {
  const store = new MemoryStore({ now: () => 0 });
  const out: string[] = [];
  const calls: Fake['calls'] = [];
  const sleeps: number[] = [];
  const prompter: Prompter = {
    interactive: opts.interactive ?? true,
    ask: async (_q, o) => o?.default ?? '',
    confirm: async () => opts.confirm ?? true,
    close: () => undefined,
  };
  const rest: RestClient = {
    request: async (url, method, endpoint, body) => {
      calls.push({ url, method, endpoint, body });
      if (!opts.answer) throw new Error('connect ECONNREFUSED');
      return opts.answer(method, endpoint);
    },
  };
  const s: CtlSession = {
    scope: 'pg', store, keys: clusterKeys('/service', 'pg'), rest,
    io: {
      out: (l) => out.push(`${l}\n`), write: (t) => out.push(t), warn: () => undefined, stdoutIsTty: false, prompter,
      now: () => new Date(2026, 0, 1), sleep: async (ms) => void sleeps.push(ms), readStdin: async () => '',
    },
  };
  return { s, store, out, calls, sleeps };
}

async function seed(store: MemoryStore, config: Record<string, unknown> = { ttl: 30, loop_wait: 10, retry_timeout: 10 }): Promise<void> {
  await store.put('/service/pg/initialize', '7268616322854375442');
  await store.put('/service/pg/config', JSON.stringify(config));
  await store.put('/service/pg/leader', 'n1');
  await store.put('/service/pg/status', '{"optime":100}');
  for (const [name, role] of [['n1', 'master'], ['n2', 'replica'], ['n3', 'replica']] as const) {
    await store.put(`/service/pg/members/${name}`, JSON.stringify({
      conn_url: `postgres://10.0.0.${name[1]}:5432/postgres`, api_url: `http://10.0.0.${name[1]}:8008/patroni`,
      state: 'running', role, xlog_location: 100, timeline: 1,
    }));
  }
}

describe('ctl verbs on a memory store', () => {
  test('list -w N: clears the screen, then redraws in place every N seconds', async () => {
    const f = fake();
    await seed(f.store);
    await runList({ clusters: [f.s], format: 'pretty', extended: false, timestamps: false, refreshSeconds: 2, clear: true, rounds: 3 });
    assert.deepEqual(f.sleeps, [2000, 2000]);
    assert.equal(f.out.length, 3);
    assert.ok(f.out[0]!.startsWith('\x1b[H\x1b[2J+ Cluster: pg (7268616322854375442)'));
    for (const frame of f.out.slice(1)) {
      assert.ok(frame.startsWith('\x1b[H+ Cluster: pg (7268616322854375442)'));
      assert.ok(frame.endsWith('\x1b[K\n\x1b[J'));
      assert.ok(!frame.includes('\x1b[2J'), 'no full clear after the first frame: no flicker');
    }
  });

  test('list -W keeps refreshing through an etcd error, which it shows; list without -W fails', async () => {
    const f = fake();
    await seed(f.store);
    const { readPrefix } = f.store;
    let calls = 0;
    f.store.readPrefix = async (...args) => (++calls === 2 ? Promise.reject(new Error('etcd unavailable')) : readPrefix.apply(f.store, args));
    await runList({ clusters: [f.s], format: 'pretty', extended: false, timestamps: false, refreshSeconds: 2, clear: false, rounds: 3 });
    assert.deepEqual(f.out.map((t) => t.split(' ----')[0]!.split('\n')[0]), ['+ Cluster: pg (7268616322854375442)', 'Error: cluster pg: etcd unavailable', '+ Cluster: pg (7268616322854375442)']);
    calls = 1;
    await assert.rejects(runList({ clusters: [f.s], format: 'pretty', extended: false, timestamps: false, refreshSeconds: 0, clear: false }), /etcd unavailable/);
  });

  test('edit-config: compare-and-swap on the key revision; a concurrent change aborts', async () => {
    const f = fake();
    await seed(f.store);
    const before = await f.store.get('/service/pg/config');
    // another writer changes the key between our read and our write
    const { putIfModRevision } = f.store;
    f.store.putIfModRevision = async (k, v, rev) => {
      await f.store.put('/service/pg/config', '{"ttl":30,"loop_wait":5,"retry_timeout":10}');
      return putIfModRevision.call(f.store, k, v, rev);
    };
    await assert.rejects(editConfig(f.s, { quiet: true, set: ['ttl=40'], pg: [], force: true }), /Config modification aborted due to concurrent changes/);
    assert.notEqual((await f.store.get('/service/pg/config'))!.value, before!.value);
    assert.equal(JSON.parse((await f.store.get('/service/pg/config'))!.value).ttl, 30);
  });

  test('edit-config: answered no, nothing is written', async () => {
    const f = fake({ confirm: false });
    await seed(f.store);
    assert.equal(await editConfig(f.s, { quiet: false, set: ['ttl=40'], pg: [], force: false }), 0);
    assert.equal(JSON.parse((await f.store.get('/service/pg/config'))!.value).ttl, 30);
    assert.ok(f.out.includes('+ttl: 40\n'));
  });

  test('pause: PATCH /config {"pause": true} to the leader first; resume sends null', async () => {
    const f = fake({ answer: () => ({ status: 200, body: '{}' }) });
    await seed(f.store);
    assert.equal(await togglePause(f.s, true, false), 0);
    assert.deepEqual(f.calls, [{ url: 'http://10.0.0.1:8008/patroni', method: 'PATCH', endpoint: 'config', body: { pause: true } }]);
    assert.deepEqual(f.out, ['Success: cluster management is paused\n']);
    await assert.rejects(togglePause(f.s, false, false), /Cluster is not paused/);
  });

  test('switchover: the API unreachable, the failover key is written (patronictl falls back to the DCS)', async () => {
    const f = fake();
    await seed(f.store);
    assert.equal(await runFailover(f.s, 'switchover', { leader: 'n1', candidate: 'n2', force: true }), 0);
    assert.deepEqual(f.calls.map((c) => [c.url, c.endpoint, c.body]), [['http://10.0.0.1:8008/patroni', 'switchover', { leader: 'n1', candidate: 'n2', scheduled_at: null }]]);
    assert.ok(f.out.some((l) => / Could not switchover using Patroni api, falling back to DCS\n$/.test(l)));
    assert.equal((await f.store.get('/service/pg/failover'))!.value, '{"leader":"n1","member":"n2"}');
  });

  test('switchover: an API refusal is printed as patronictl does, exit code 1', async () => {
    const f = fake({ answer: () => ({ status: 412, body: 'candidate does not exists' }) });
    await seed(f.store);
    assert.equal(await runFailover(f.s, 'switchover', { candidate: 'n3', force: true }), 1);
    assert.ok(f.out.includes('Switchover failed, details: 412, candidate does not exists\n'));
  });

  test('switchover without a leader suggests failover; a lagging candidate is refused', async () => {
    const f = fake();
    await seed(f.store, { ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 10 });
    await f.store.put('/service/pg/members/n3', JSON.stringify({ conn_url: 'postgres://10.0.0.3:5432/postgres', api_url: 'http://10.0.0.3:8008/patroni', state: 'running', role: 'replica', xlog_location: 50 }));
    await assert.rejects(runFailover(f.s, 'switchover', { candidate: 'n3', force: true }), /Member n3 lags the leader by 50 bytes .* more than maximum_lag_on_failover \(10 bytes\)/);
    await f.store.delete('/service/pg/leader');
    await assert.rejects(runFailover(f.s, 'switchover', { candidate: 'n2', force: true }), /This cluster has no leader: a switchover needs one; use pgha ctl failover --candidate NAME/);
    assert.equal(f.calls.length, 0);
  });

  test('restart: POST /restart to each chosen member with the conditions', async () => {
    const f = fake({ answer: () => ({ status: 200, body: 'restarted successfully' }) });
    await seed(f.store);
    assert.equal(await runRestart(f.s, { members: [], role: 'replica', any: false, pending: true, pgVersion: '16.1', force: true }), 0);
    assert.deepEqual(f.calls.map((c) => [c.url, c.method, c.endpoint, c.body]), [
      ['http://10.0.0.2:8008/patroni', 'POST', 'restart', { restart_pending: true, postgres_version: '16.1' }],
      ['http://10.0.0.3:8008/patroni', 'POST', 'restart', { restart_pending: true, postgres_version: '16.1' }],
    ]);
    assert.deepEqual(f.out.slice(-2), ['Success: restart on member n2\n', 'Success: restart on member n3\n']);
  });

  test('restart: while POST /restart is pending, the member\'s progress is shown', async () => {
    let finish: (r: RestResponse) => void = () => undefined;
    const polls: string[] = [];
    const f = fake();
    f.s.rest = {
      request: async (_url, method, endpoint) => {
        if (method === 'POST') return new Promise<RestResponse>((resolve) => (finish = resolve));
        polls.push(endpoint);
        if (polls.length === 3) finish({ status: 200, body: 'restarted successfully' });
        return { status: 200, body: JSON.stringify({ state: 'restarting', pgha_progress: { task: 'restart', elapsed_s: polls.length * 2 } }) };
      },
    };
    await seed(f.store);
    assert.equal(await runRestart(f.s, { members: ['n2'], role: 'any', any: false, pending: false, force: true }), 0);
    assert.deepEqual(f.out.slice(-2), ['n2: restart, 2 s elapsed\n', 'Success: restart on member n2\n']);
  });

  test('reinit --wait: progress lines while the member copies, then the end', async () => {
    const docs = [
      { state: 'running', postmaster_start_time: 'before' },
      { state: 'creating replica', pgha_progress: { task: 'reinit', step: 'basebackup', elapsed_s: 1 } },
      { state: 'creating replica', pgha_progress: { task: 'reinit', step: 'basebackup', percent: 40, done_kb: 40_960, total_kb: 102_400, rate_kb_s: 20_480, eta_s: 3, elapsed_s: 3 } },
      { state: 'creating replica', pgha_progress: { task: 'reinit', step: 'basebackup', percent: 40, done_kb: 41_000, total_kb: 102_400, rate_kb_s: 20_480, eta_s: 3, elapsed_s: 5 } },
      { state: 'starting', pgha_progress: { task: 'reinit', elapsed_s: 7 } },
      { state: 'running', postmaster_start_time: 'after' },
    ];
    let get = 0;
    const f = fake({ answer: (method) => (method === 'POST' ? { status: 200, body: 'reinitialize started' } : { status: 200, body: JSON.stringify(docs[get++]) }) });
    await seed(f.store);
    assert.equal(await runReinit(f.s, { members: ['n2'], force: true, wait: true }), 0);
    assert.deepEqual(f.out.slice(-6), [
      'Success: reinitialize for member n2\n',
      'Waiting for reinitialize to complete on: n2\n',
      'n2: reinit, basebackup starting, 1 s elapsed\n',
      'n2: reinit, basebackup 40% (40.0 MB of 100.0 MB, 20.0 MB/s, 3 s left), 3 s elapsed\n',
      'n2: reinit, 7 s elapsed\n',
      'Reinitialize is completed on: n2\n',
    ]);
    assert.deepEqual(f.sleeps, [2000, 2000, 2000, 2000, 2000]);
  });
});
