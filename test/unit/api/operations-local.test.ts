import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseSeconds, postgresVersionToInt, restartMismatch, validateRestartRequest,
} from '../../../src/api/operations/restart';
import { configProblem, patchConfig, sameJson } from '../../../src/api/operations/config';
import { parseBool, reinitializeRefusal, reloadHandler } from '../../../src/api/operations/reinit';
import type { OperationDeps } from '../../../src/api/operations/deps';
import { RequestQueue } from '../../../src/agent/requests';
import { silentLogger } from '../../../src/log/logger';
import { aPrimaryStatus, aReplicaStatus, aView } from '../../support/builders';

const NOW_WALL = Date.parse('2026-11-28T12:00:00Z');
const ctx = { pause: false, nowEpochMs: NOW_WALL };

describe('validateRestartRequest (do_POST_restart)', () => {
  test('no body: an unconditional restart', () => {
    assert.deepEqual(validateRestartRequest({}, ctx), { restartPending: false });
  });
  test('filters', () => {
    assert.deepEqual(
      validateRestartRequest({ role: 'primary', postgres_version: '16.5', timeout: '2min', restart_pending: false }, ctx),
      { role: 'primary', postgresVersion: '16.5', timeoutSeconds: 120, restartPending: true },
    );
  });
  test('bad values are 400 with Patroni wording', () => {
    assert.deepEqual(validateRestartRequest({ role: 'leader' }, ctx), { code: 400, message: 'PostgreSQL role should be either primary or replica' });
    assert.deepEqual(validateRestartRequest({ postgres_version: '16' }, ctx), { code: 400, message: 'Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 16' });
    assert.deepEqual(validateRestartRequest({ postgres_version: 'a.b' }, ctx), { code: 400, message: 'Invalid PostgreSQL version: a.b' });
    assert.deepEqual(validateRestartRequest({ timeout: 0 }, ctx), { code: 400, message: 'Timeout should be a positive number of seconds' });
    assert.deepEqual(validateRestartRequest({ timeout: 'soon' }, ctx), { code: 400, message: 'Timeout should be a positive number of seconds' });
    assert.deepEqual(validateRestartRequest({ when: 'now' }, ctx), { code: 400, message: 'Unknown filter for the scheduled restart: when' });
  });
  test('schedule: 500 when paused, 400 without tz, 422 in the past', () => {
    assert.deepEqual(validateRestartRequest({ schedule: '2026-11-28T13:00:00Z' }, { ...ctx, pause: true }), { code: 500, message: "Can't schedule restart in the paused state" });
    assert.deepEqual(validateRestartRequest({ schedule: '2026-11-28T13:00:00' }, ctx), { code: 400, message: 'Timezone information is mandatory for the scheduled restart' });
    assert.deepEqual(validateRestartRequest({ schedule: '2026-11-28T11:00:00Z' }, ctx), { code: 422, message: 'Cannot schedule restart in the past' });
    assert.deepEqual(validateRestartRequest({ schedule: '2026-11-28T13:00:00Z' }, ctx), {
      restartPending: false, schedule: { epochMs: Date.parse('2026-11-28T13:00:00Z'), iso: '2026-11-28T13:00:00+00:00' },
    });
  });
});

test('postgresVersionToInt as Patroni', () => {
  assert.equal(postgresVersionToInt('9.5.3'), 90503);
  assert.equal(postgresVersionToInt('10.1'), 100001);
  assert.equal(postgresVersionToInt('16.4'), 160004);
  assert.deepEqual(postgresVersionToInt('9.6'), { code: 400, message: 'Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 9.6' });
});

test('parseSeconds', () => {
  assert.equal(parseSeconds(30), 30);
  assert.equal(parseSeconds('30'), 30);
  assert.equal(parseSeconds('1500 ms'), 2);
  assert.equal(parseSeconds('1h'), 3600);
  assert.equal(parseSeconds(true), undefined);
});

describe('restartMismatch (restart_matches)', () => {
  const primary = aPrimaryStatus(); // role master, server 160004
  const replica = aReplicaStatus({ probe: { pendingRestart: true } });
  test('role: primary and master are the same', () => {
    assert.equal(restartMismatch({ role: 'primary', restartPending: false }, primary), undefined);
    assert.equal(restartMismatch({ role: 'master', restartPending: false }, primary), undefined);
    assert.equal(restartMismatch({ role: 'replica', restartPending: false }, primary), 'host role mismatch');
    assert.equal(restartMismatch({ role: 'replica', restartPending: false }, replica), undefined);
  });
  test('postgres_version: restart only when running an older version', () => {
    assert.equal(restartMismatch({ postgresVersion: '16.5', restartPending: false }, primary), undefined);
    assert.equal(restartMismatch({ postgresVersion: '16.4', restartPending: false }, primary), 'postgres version mismatch');
  });
  test('restart_pending', () => {
    assert.equal(restartMismatch({ restartPending: true }, primary), 'pending restart flag is not set');
    assert.equal(restartMismatch({ restartPending: true }, replica), undefined);
  });
});

describe('patchConfig (patch_config)', () => {
  test('merges, null deletes, nested maps merge', () => {
    const config: Record<string, unknown> = { ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 100, work_mem: '4MB' } } };
    const changed = patchConfig(config, { ttl: 20, loop_wait: null, postgresql: { parameters: { work_mem: null, shared_buffers: '1GB' } } });
    assert.equal(changed, true);
    assert.deepEqual(config, { ttl: 20, postgresql: { parameters: { max_connections: 100, shared_buffers: '1GB' } } });
  });
  test('compares scalars as Python str(): "10" equals 10, no change', () => {
    const config: Record<string, unknown> = { ttl: 30, loop_wait: 10 };
    assert.equal(patchConfig(config, { loop_wait: '10', missing: null }), false);
    assert.deepEqual(config, { ttl: 30, loop_wait: 10 });
  });
  test('a map replaces a scalar', () => {
    const config: Record<string, unknown> = { postgresql: 'x' };
    assert.equal(patchConfig(config, { postgresql: { use_slots: true } }), true);
    assert.deepEqual(config, { postgresql: { use_slots: true } });
  });
});

test('sameJson', () => {
  assert.equal(sameJson({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), true);
  assert.equal(sameJson({ a: 1 }, { a: 1, b: 2 }), false);
  assert.equal(sameJson({ a: 1 }, undefined), false);
});

test('configProblem: the resulting dynamic config is validated', () => {
  assert.equal(configProblem({ ttl: 30, loop_wait: 10, retry_timeout: 10 }), undefined);
  assert.equal(configProblem({ ttl: 20, loop_wait: 2, retry_timeout: 10 }), undefined, 'a broken timing rule is adjusted by the agents, not refused');
  assert.match(configProblem({ ttl: 'soon' }) ?? '', /ttl/);
});

test('reinitializeRefusal and parseBool', () => {
  assert.equal(reinitializeRefusal(aReplicaStatus()), undefined);
  assert.equal(reinitializeRefusal(aPrimaryStatus()), 'I am the leader, can not reinitialize');
  assert.equal(reinitializeRefusal(aReplicaStatus({ view: aView({}) })), 'Cluster has no leader, can not reinitialize');
  assert.equal(parseBool('on'), true);
  assert.equal(parseBool('false'), false);
  assert.equal(parseBool(undefined), false);
});

describe('POST /reload (reloadHandler)', () => {
  const deps = (requests: RequestQueue, reloadLocalConfig?: () => Promise<{ ok: boolean; message: string }>) => ({
    requests, logger: silentLogger(), status: () => aPrimaryStatus(),
    ...(reloadLocalConfig ? { reloadLocalConfig } : {}),
  }) as unknown as OperationDeps;
  const request = { method: 'POST', path: '/reload', query: new URLSearchParams(), body: {}, headers: {} } as const;

  test('a YAML that does not load: 400 with the loader sentence, nothing submitted', async () => {
    const q = new RequestQueue();
    const reply = await reloadHandler(deps(q, async () => ({ ok: false, message: 'reload refused, the running configuration is kept: n.yml: log.level: got "LOUD"' }))).handle(request);
    assert.deepEqual(reply, { code: 400, body: 'reload refused, the running configuration is kept: n.yml: log.level: got "LOUD"' });
    assert.equal(q.busy, false);
  });

  test('a reload in flight: waits for it, then reloads again (202), instead of 503 already in progress', async () => {
    const q = new RequestQueue();
    const first = q.submit({ type: 'reload' });
    q.take();
    const second = Promise.resolve(reloadHandler(deps(q, async () => ({ ok: true, message: 'applied tags' }))).handle(request));
    await new Promise((r) => setImmediate(r));
    assert.equal(q.peek(), undefined, 'not queued while the first runs');
    q.settle({ ok: true, message: 'reload scheduled' });
    await first;
    await new Promise((r) => setImmediate(r));
    assert.equal(q.take()?.type, 'reload', 'queued once the first is done');
    q.settle({ ok: true, message: 'reload scheduled' });
    assert.deepEqual(await second, { code: 202, body: 'reload scheduled' });
  });
});
