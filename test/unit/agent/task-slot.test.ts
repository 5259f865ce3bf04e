/** TaskSlot's live progress: what GET /patroni publishes as pgha_progress while a long task runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskSlot } from '../../../src/agent/task-slot';

test('progress: the task and its elapsed time, the copy step and its last report, nothing once it ended', async () => {
  let now = 1000;
  let finish: () => void = () => undefined;
  const slot = new TaskSlot(() => now, () => undefined);
  assert.equal(slot.progress(), undefined);
  slot.report('basebackup'); // no task: ignored
  slot.start('reinit', () => new Promise<void>((resolve) => (finish = resolve)));
  now = 3500;
  assert.deepEqual(slot.progress(), { task: 'reinit', elapsedMs: 2500 });
  slot.report('basebackup');
  assert.deepEqual(slot.progress(), { task: 'reinit', elapsedMs: 2500, step: 'basebackup' });
  const copy = { percent: 40, doneKb: 400, totalKb: 1000, rateKbPerSec: 200, elapsedMs: 2000, etaSec: 3 };
  slot.report('basebackup', copy);
  now = 4000;
  assert.deepEqual(slot.progress(), { task: 'reinit', elapsedMs: 3000, step: 'basebackup', copy });
  slot.report(undefined);
  assert.deepEqual(slot.progress(), { task: 'reinit', elapsedMs: 3000 });
  finish();
  await new Promise((r) => setImmediate(r));
  assert.equal(slot.progress(), undefined);
  assert.equal(slot.takeOutcome()?.ok, true);
});
