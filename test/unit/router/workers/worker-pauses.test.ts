/**
 * PAUSE and the switchover drain under `workers: N` (src/router/workers/worker-pauses.ts): every worker gets every
 * pause and resume in order, and the router calls a member drained only once every live worker answered "idle"
 * after its pause, never on the once-a-second figures, which may be older than a transaction that just began.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPauses, type PausableWorker } from '../../../../src/router/workers/worker-pauses';
import type { ToWorker } from '../../../../src/router/workers/messages';

/** Fake workers: what each was sent, and its "idle" answers, released by the test. */
function workers(n: number): { list: PausableWorker[]; sent: ToWorker[][]; answer(index: number, ok?: boolean): void } {
  const sent: ToWorker[][] = [];
  const pending = new Map<number, ((ok: boolean) => void)[]>();
  const list = Array.from({ length: n }, (_, index) => {
    sent.push([]);
    return {
      index,
      send: (m: ToWorker) => sent[index]!.push(m),
      askIdle: () => new Promise<boolean>((resolve) => pending.set(index, [...(pending.get(index) ?? []), resolve])),
    };
  });
  return { list, sent, answer: (i, ok = true) => pending.get(i)?.shift()?.(ok) };
}

describe('pausing pooled listeners on every worker', () => {
  test('a pause and a resume reach every worker in order; a worker that missed them gets the state replayed', () => {
    const w = workers(2);
    const p = new WorkerPauses(() => w.list, () => 0);
    p.pause('node1');
    p.pause();
    p.resume('node1');
    assert.deepEqual(w.sent[0], [{ t: 'pause', member: 'node1' }, { t: 'pause' }, { t: 'resume', member: 'node1' }]);
    assert.deepEqual(w.sent[1], w.sent[0]);
    assert.deepEqual(p.state(), { all: true, members: [] });
    const late = workers(1);
    p.replay(late.list[0]!);
    assert.deepEqual(late.sent[0], [{ t: 'resume' }, { t: 'pause' }]);
  });

  test('the figures say 0 transactions, but the member is drained only once both workers answered idle after the pause', async () => {
    const w = workers(2);
    const p = new WorkerPauses(() => w.list, () => 0);
    assert.equal(p.busy('node1'), 1, 'before the pause, stale figures of 0 must not acknowledge a drain');
    p.pause('node1');
    const idle = p.idle('node1');
    assert.equal(p.busy('node1'), 1);
    w.answer(0);
    await new Promise((r) => setImmediate(r));
    assert.equal(p.busy('node1'), 1, 'one worker still runs transactions on node1');
    w.answer(1);
    await idle;
    assert.equal(p.busy('node1'), 0);
  });

  test('a worker that never answers (it died, the wait timed out) keeps the member busy: the drain acknowledges at its timeout', async () => {
    const w = workers(2);
    const p = new WorkerPauses(() => w.list, () => 3);
    p.pause('node1');
    const idle = p.idle('node1');
    w.answer(0);
    w.answer(1, false);
    await idle;
    assert.equal(p.busy('node1'), 3);
  });

  test('a resume forgets the answers: the next pause waits for new ones', async () => {
    const w = workers(1);
    const p = new WorkerPauses(() => w.list, () => 0);
    p.pause('node1');
    const idle = p.idle('node1');
    w.answer(0);
    await idle;
    assert.equal(p.busy('node1'), 0);
    p.resume('node1');
    p.pause('node1');
    assert.equal(p.busy('node1'), 1);
  });

  test('no live worker: nothing runs anywhere', () => {
    const p = new WorkerPauses(() => [], () => 5);
    assert.equal(p.busy('node1'), 0);
  });
});
