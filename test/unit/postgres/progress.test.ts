/** The copy tools' --progress lines, the rate and log cadence of ProgressMeter, and the human figures. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isProgressLine, parseProgressLine, progressReader } from '../../../src/postgres/progress';
import { ProgressMeter, formatDuration, formatKb, formatRate, type ProgressSample } from '../../../src/lib/progress';

describe('--progress lines', () => {
  it('reads pg_basebackup and pg_rewind lines of PostgreSQL 15, translated ones too', () => {
    const expected = { doneKb: 1234, totalKb: 5678, percent: 21 };
    assert.deepEqual(parseProgressLine('   1234/5678 kB (21%), 0/1 tablespace'), expected);
    assert.deepEqual(parseProgressLine('   1234/5678 kB (21%), 0/1 tablespace (/var/lib/postgresql/15/main/base/1/1259)'), expected);
    assert.deepEqual(parseProgressLine('5678/5678 kB (100%), 1/1 tablespace                                         '), { doneKb: 5678, totalKb: 5678, percent: 100 });
    assert.deepEqual(parseProgressLine('  1234/5678 kB (21%) copied'), expected);
    assert.deepEqual(parseProgressLine('  1234/5678 Ko (21%) copiés'), expected);
    for (const other of ['pg_rewind: servers diverged at WAL location 0/3000060 on timeline 1', 'waiting for checkpoint', 'Done!', '']) {
      assert.equal(parseProgressLine(other), undefined, other);
      assert.equal(isProgressLine(other), false, other);
    }
  });

  it('a line split at any byte between chunks is read once and whole', () => {
    const text = 'pg_basebackup: initiating base backup\n  12/5678 kB (0%), 0/1 tablespace\n1234/5678 kB (21%), 0/1 tablespace\r5678/5678 kB (100%), 1/1 tablespace\n';
    const whole: ProgressSample[] = [];
    progressReader((s) => whole.push(s))(text);
    assert.deepEqual(whole.map((s) => s.doneKb), [12, 1234, 5678]);
    for (let cut = 1; cut < text.length; cut++) {
      const got: ProgressSample[] = [];
      const read = progressReader((s) => got.push(s));
      read(text.slice(0, cut));
      read(text.slice(cut));
      assert.deepEqual(got, whole, `cut at ${cut}`);
    }
  });

  it('a line still unfinished waits for its end', () => {
    const got: ProgressSample[] = [];
    const read = progressReader((s) => got.push(s));
    read('1234/5678 kB (21%) copied');
    assert.equal(got.length, 0);
    read('\n');
    assert.equal(got.length, 1);
  });
});

describe('ProgressMeter', () => {
  const sample = (doneKb: number, totalKb = 100_000): ProgressSample => ({ doneKb, totalKb, percent: Math.floor((doneKb / totalKb) * 100) });

  it('the first report is rated from the start; elapsed counts from the start', () => {
    const m = new ProgressMeter(1000);
    const r = m.update(sample(100_000), 3000);
    assert.deepEqual(r, { doneKb: 100_000, totalKb: 100_000, percent: 100, elapsedMs: 2000, rateKbPerSec: 50_000 });
  });

  it('the rate follows the last ~10 s, and the time left is at that rate', () => {
    const m = new ProgressMeter(0);
    // 1000 kB/s for 20 s, then 4000 kB/s
    let done = 0;
    let r;
    for (let t = 1; t <= 20; t++) r = m.update(sample((done += 1000)), t * 1000);
    assert.equal(r!.rateKbPerSec, 1000);
    assert.equal(r!.etaSec, 80);
    for (let t = 21; t <= 35; t++) r = m.update(sample((done += 4000)), t * 1000);
    assert.equal(r!.rateKbPerSec, 4000);
    assert.equal(r!.etaSec, 5);
    assert.equal(r!.elapsedMs, 35_000);
    r = m.update(sample(100_000), 40_000);
    assert.equal(r.etaSec, undefined, 'nothing left');
  });

  it('a stalled copy shows rate 0 and no time left', () => {
    const m = new ProgressMeter(0);
    m.update(sample(5000), 1000);
    const r = m.update(sample(5000), 20_000);
    assert.equal(r.rateKbPerSec, 0);
    assert.equal(r.etaSec, undefined);
  });

  it('logs the first report, each 10% step, the end, and every 30 s while moving', () => {
    const m = new ProgressMeter(0);
    const logged: number[] = [];
    const feed = (percent: number, atMs: number) => {
      const r = m.update({ doneKb: percent * 10, totalKb: 1000, percent }, atMs);
      if (m.shouldLog(r, atMs)) logged.push(percent);
    };
    [1, 3, 9, 10, 11, 19, 25, 31, 99, 100, 100].forEach((p, i) => feed(p, i * 1000));
    assert.deepEqual(logged, [1, 10, 25, 31, 99, 100]);

    const slow = new ProgressMeter(0);
    const times: number[] = [];
    for (let t = 1; t <= 95; t++) {
      const r = slow.update({ doneKb: 100 + t, totalKb: 100_000, percent: 0 }, t * 1000);
      if (slow.shouldLog(r, t * 1000)) times.push(t);
    }
    assert.deepEqual(times, [1, 31, 61, 91]);
  });
});

describe('figures for humans', () => {
  it('sizes and rates in kB, MB, GB, TB; durations in s, min, h', () => {
    assert.equal(formatKb(512), '512 kB');
    assert.equal(formatKb(12.3 * 1024), '12.3 MB');
    assert.equal(formatKb(1.25 * 1024 * 1024), '1.25 GB');
    assert.equal(formatKb(3.1 * 1024 ** 3), '3.10 TB');
    assert.equal(formatRate(57_549), '56.2 MB/s');
    assert.equal(formatRate(850), '850 kB/s');
    assert.equal(formatDuration(45), '45 s');
    assert.equal(formatDuration(187), '3 min 07 s');
    assert.equal(formatDuration(7500), '2 h 05 min');
  });
});
