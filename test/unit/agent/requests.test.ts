import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestQueue } from '../../../src/agent/requests';

test('a second reload while one is in flight is refused; whenIdle lets a SIGHUP wait for the first instead', async () => {
  const q = new RequestQueue();
  await q.whenIdle();
  const first = q.submit({ type: 'reload' });
  assert.deepEqual(await q.submit({ type: 'reload' }), { ok: false, message: 'reload already in progress' });
  let idle = false;
  const waiting = q.whenIdle().then(() => (idle = true));
  assert.equal(q.take()?.type, 'reload');
  await Promise.resolve();
  assert.equal(idle, false, 'still running');
  q.settle({ ok: true, message: 'reload scheduled' });
  await waiting;
  assert.equal(idle, true);
  assert.deepEqual(await first, { ok: true, message: 'reload scheduled' });
  const second = q.submit({ type: 'reload' });
  assert.equal(q.peek()?.type, 'reload', 'accepted once idle');
  q.settle({ ok: true, message: 'reload scheduled' });
  assert.equal((await second).ok, true);
});
