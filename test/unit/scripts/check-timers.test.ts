/**
 * The lint rule behind "one injected clock": a file of the agent's shell that reads or waits on the real clock
 * itself is refused; one that takes its time from a Scheduler, or formats a given time, passes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository (this file runs from dist/test/unit/scripts/). */
const ROOT = resolve(__dirname, '../../../..');
const SCRIPT = join(ROOT, 'scripts/check-timers.mjs');

function check(source: string): { code: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pgha-timers-'));
  try {
    const file = join(dir, 'shell.ts');
    writeFileSync(file, source);
    const r = spawnSync(process.execPath, [SCRIPT, file], { encoding: 'utf8' });
    return { code: r.status, output: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('check-timers: no bare clock in the scheduled files', () => {
  for (const bare of ['setTimeout(f, 10);', 'setInterval(f, 10);', 'const t = Date.now();', 'const t = performance.now();', 'const d = new Date();']) {
    it(`refuses ${bare}`, () => {
      const r = check(`export function f() {}\n${bare}\n`);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /shell\.ts:2: bare/);
    });
  }

  it('passes the Scheduler, a given time formatted, and comments that name the real clock', () => {
    const r = check([
      '// no setTimeout here: the scheduler has timers',
      'const t = scheduler.setTimer(f, scheduler.now() + 10);',
      'const iso = new Date(scheduler.wallNow()).toISOString();',
    ].join('\n'));
    assert.equal(r.code, 0, r.output);
  });

  it('passes the shipped files', () => {
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
