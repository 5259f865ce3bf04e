/**
 * Progress of a long copy (pg_basebackup, pg_rewind): the rate over a sliding window, the time left, when a sample
 * deserves a log line, and how figures read to a human. Pure: times are passed in (monotonic ms).
 */

/** What a tool says about itself: `1234/5678 kB (21%)`. */
export interface ProgressSample {
  doneKb: number;
  totalKb: number;
  percent: number;
}

/** A sample with what the meter adds: time since the copy started, the recent rate, the time left at that rate. */
export interface ProgressReport extends ProgressSample {
  elapsedMs: number;
  rateKbPerSec: number;
  /** Seconds left at the current rate; absent while the rate is 0 or the total is reached. */
  etaSec?: number;
}

/**
 * The rate is measured over about this long. pg_basebackup and pg_rewind report once a second, so ~10 samples smooth
 * a burst (a checkpoint, one large file) yet follow a throttled (--max-rate) or contended link within seconds.
 */
const RATE_WINDOW_MS = 10_000;
/** A log line at each tenth of the copy... */
const LOG_STEP_PERCENT = 10;
/** ...and at least this often while it moves: a tenth of a multi-hour clone is too long without a sign of life. */
const LOG_EVERY_MS = 30_000;

interface Point {
  atMs: number;
  doneKb: number;
}

export class ProgressMeter {
  /** Points inside the window, plus the newest one before it (the baseline). Starts at (start, 0 kB). */
  private points: Point[];
  private loggedPercent: number | undefined;
  private loggedMs = 0;
  private loggedDoneKb = -1;

  constructor(private readonly startedMs: number) {
    this.points = [{ atMs: startedMs, doneKb: 0 }];
  }

  update(sample: ProgressSample, nowMs: number): ProgressReport {
    this.points.push({ atMs: nowMs, doneKb: sample.doneKb });
    while (this.points.length > 2 && this.points[1]!.atMs <= nowMs - RATE_WINDOW_MS) this.points.shift();
    const first = this.points[0]!;
    const seconds = (nowMs - first.atMs) / 1000;
    const rateKbPerSec = seconds > 0 ? Math.max(0, (sample.doneKb - first.doneKb) / seconds) : 0;
    const leftKb = sample.totalKb - sample.doneKb;
    return {
      ...sample,
      elapsedMs: Math.max(0, Math.round(nowMs - this.startedMs)),
      rateKbPerSec: Math.round(rateKbPerSec),
      ...(rateKbPerSec > 0 && leftKb > 0 ? { etaSec: Math.ceil(leftKb / rateKbPerSec) } : {}),
    };
  }

  /** The first report, each 10% step, the end (100%), and every LOG_EVERY_MS while the copy moves. Remembers a yes. */
  shouldLog(report: ProgressReport, nowMs: number): boolean {
    const last = this.loggedPercent;
    const log =
      last === undefined ||
      (report.percent >= 100 && last < 100) ||
      Math.floor(report.percent / LOG_STEP_PERCENT) > Math.floor(last / LOG_STEP_PERCENT) ||
      (nowMs - this.loggedMs >= LOG_EVERY_MS && report.doneKb !== this.loggedDoneKb);
    if (log) {
      this.loggedPercent = report.percent;
      this.loggedMs = nowMs;
      this.loggedDoneKb = report.doneKb;
    }
    return log;
  }
}

/** `512 kB`, `12.3 MB`, `1.25 GB`, `3.10 TB` (powers of 1024, as the tools' kB are). */
export function formatKb(kb: number): string {
  const units = ['MB', 'GB', 'TB'];
  if (kb < 1024) return `${Math.round(kb)} kB`;
  let value = kb / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 1 : 2)} ${units[unit]}`;
}

/** `850 kB/s`, `56.2 MB/s`, `1.10 GB/s`. */
export function formatRate(kbPerSec: number): string {
  return `${formatKb(kbPerSec)}/s`;
}

/** `45 s`, `3 min 07 s`, `2 h 05 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
