/**
 * The `--progress` output of pg_basebackup and pg_rewind, read from their stderr as it arrives.
 *
 * PostgreSQL 15 prints, about once a second and at the end:
 *   pg_basebackup: `  1234/5678 kB (21%), 0/1 tablespace` (plus ` (path)` with --verbose)
 *   pg_rewind:     `  1234/5678 kB (21%) copied`
 * ending each report with `\r` on a terminal and `\n` on a pipe (ours). Translations keep the figures and the
 * `(N%)` but may rename the unit (`Ko` in French), so the unit is matched as any word.
 */
import type { ProgressSample } from '../lib/progress';

const PROGRESS = /(\d+)\/(\d+) [^\s(]+ \((\d+)%\)/;

/** One progress line of either tool; undefined for any other line. */
export function parseProgressLine(line: string): ProgressSample | undefined {
  const m = PROGRESS.exec(line);
  return m ? { doneKb: Number(m[1]), totalKb: Number(m[2]), percent: Number(m[3]) } : undefined;
}

/** Whether a line is a progress report (left out of the output quoted in errors and logs). */
export function isProgressLine(line: string): boolean {
  return PROGRESS.test(line);
}

/**
 * A stderr chunk handler that calls `onSample` for each complete progress line. Chunks split lines anywhere; the
 * unfinished tail waits for the next chunk, so a line cut in `12|34/5678 kB` is never read as `34/5678 kB`.
 */
export function progressReader(onSample: (sample: ProgressSample) => void): (chunk: string) => void {
  let partial = '';
  return (chunk) => {
    const pieces = (partial + chunk).split(/[\r\n]/);
    partial = pieces.pop()!;
    for (const piece of pieces) {
      const sample = parseProgressLine(piece);
      if (sample) onSample(sample);
    }
  };
}
