import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { isPrimaryRole } from '../../../src/model/member';

describe('one truth for "this role is a primary"', () => {
  test('master (Patroni 3.x) and primary (4.x) are primaries; standby_leader, replica and unknown are not', () => {
    assert.equal(isPrimaryRole('master'), true);
    assert.equal(isPrimaryRole('primary'), true);
    for (const role of ['standby_leader', 'replica', 'demoted', 'uninitialized', '', undefined]) {
      assert.equal(isPrimaryRole(role), false, String(role));
    }
  });
});

describe('each concept is defined once in src/', () => {
  // dist/test/unit/model → the repository's src/
  const src = resolve(__dirname, '../../../../src');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) files.push(p);
    }
  };
  walk(src);
  const where = (re: RegExp): string[] => files.filter((f) => re.test(readFileSync(f, 'utf8'))).map((f) => relative(src, f)).sort();

  test('isPrimaryRole lives in model/member.ts only (status-page/ is browser code that imports nothing)', () => {
    assert.deepEqual(where(/(function|const|let)\s+isPrimaryRole\b/), ['model/member.ts']);
    const spelled = where(/role\s*===\s*'master'\s*\|\|\s*\w*\.?role\s*===\s*'primary'/);
    assert.deepEqual(spelled.filter((f) => !f.startsWith('status-page/')), ['model/member.ts']);
  });
});
