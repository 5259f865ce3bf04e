/** What `pgha ctl` prints of a member's pgha_progress, on a terminal and elsewhere; list -W frames. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressPrinter, describeProgress, progressOf } from '../../../src/ctl/progress';
import { watchFrame } from '../../../src/ctl/info';
import type { CtlIo } from '../../../src/ctl/session';
import type { PghaProgress } from '../../../src/model/patroni-format';

function io(tty: boolean, columns?: number): { io: CtlIo; text: () => string } {
  let text = '';
  return {
    io: {
      out: (l) => void (text += `${l}\n`), write: (t) => void (text += t), warn: () => undefined, stdoutIsTty: tty,
      ...(columns ? { columns } : {}),
      prompter: { interactive: false, ask: async () => '', confirm: async () => false, close: () => undefined },
      now: () => new Date(0), sleep: async () => undefined, readStdin: async () => '',
    },
    text: () => text,
  };
}

const copying = (percent: number, elapsed: number): PghaProgress => ({
  task: 'reinit', step: 'basebackup', percent, done_kb: percent * 2742, total_kb: 274_212, rate_kb_s: 57_549, eta_s: 3, elapsed_s: elapsed,
});

describe('progress lines', () => {
  test('a copy with its figures, a copy before its first report, a task without a copy', () => {
    assert.equal(describeProgress('n2', copying(45, 12)), 'n2: reinit, basebackup 45% (120.5 MB of 267.8 MB, 56.2 MB/s, 3 s left), 12 s elapsed');
    assert.equal(describeProgress('n2', { task: 'reinit', step: 'basebackup', elapsed_s: 2 }), 'n2: reinit, basebackup starting, 2 s elapsed');
    assert.equal(describeProgress('n1', { task: 'restart', elapsed_s: 65 }), 'n1: restart, 1 min 05 s elapsed');
    assert.equal(describeProgress('n3', { ...copying(100, 30), step: 'rewind', eta_s: undefined }), 'n3: reinit, rewind 100% (267.8 MB of 267.8 MB, 56.2 MB/s), 30 s elapsed');
  });

  test('pgha_progress is read only when well formed (a Patroni agent has none)', () => {
    assert.deepEqual(progressOf({ state: 'creating replica', pgha_progress: copying(5, 1) }), copying(5, 1));
    assert.equal(progressOf({ state: 'running' }), undefined);
    assert.equal(progressOf({ pgha_progress: 'x' }), undefined);
    assert.equal(progressOf({ pgha_progress: { task: 'reinit' } }), undefined);
  });

  test('not a terminal: one line per change of step or percent, none for elapsed time alone', () => {
    const t = io(false);
    const p = new ProgressPrinter(t.io);
    p.show('n2', { task: 'reinit', step: 'basebackup', elapsed_s: 1 });
    p.show('n2', copying(10, 3));
    p.show('n2', copying(10, 5));
    p.show('n2', copying(55, 7));
    p.show('n2', undefined);
    p.done();
    assert.deepEqual(t.text().split('\n'), [
      'n2: reinit, basebackup starting, 1 s elapsed',
      'n2: reinit, basebackup 10% (26.8 MB of 267.8 MB, 56.2 MB/s, 3 s left), 3 s elapsed',
      'n2: reinit, basebackup 55% (147.3 MB of 267.8 MB, 56.2 MB/s, 3 s left), 7 s elapsed',
      '',
    ]);
  });

  test('a terminal: one line rewritten in place, members side by side, cut to the width, wiped at the end', () => {
    const t = io(true);
    const p = new ProgressPrinter(t.io);
    p.show('n2', { task: 'reinit', elapsed_s: 1 });
    p.show('n3', { task: 'reinit', elapsed_s: 2 });
    p.show('n2', undefined);
    p.show('n3', undefined);
    p.done();
    assert.equal(t.text(), [
      '\rn2: reinit, 1 s elapsed\x1b[K',
      '\rn2: reinit, 1 s elapsed | n3: reinit, 2 s elapsed\x1b[K',
      '\rn3: reinit, 2 s elapsed\x1b[K',
      '\r\x1b[K',
    ].join(''));
    const narrow = io(true, 20);
    const q = new ProgressPrinter(narrow.io);
    q.show('n2', copying(45, 12));
    q.done();
    assert.equal(narrow.text(), '\rn2: reinit, baseba…\x1b[K\n');
  });
});

describe('list -W frames', () => {
  test('the first clears the screen; later ones overwrite from the top, erasing line ends and what is below', () => {
    assert.equal(watchFrame('a\nbb\n', true), '\x1b[H\x1b[2Ja\nbb\n');
    assert.equal(watchFrame('a\nbb\n', false), '\x1b[Ha\x1b[K\nbb\x1b[K\n\x1b[J');
  });
});
