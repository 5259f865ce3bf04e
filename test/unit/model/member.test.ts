import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { isPrimaryRole, memberTag } from '../../../src/model/member';
import { peerFromDocument } from '../../../src/agent/peers';

describe('one truth for boolean tags: Patroni 3.0.2 reads them as bool(tags.get(tag, False))', () => {
  const set: unknown[] = [true, 1, 2, -1, 'true', 'True', 'yes', 'on', '1', 'false', 'no', '0', ['x'], { a: 1 }];
  const unset: unknown[] = [false, 0, '', null, undefined, [], {}];

  test('YAML true, non-zero numbers, non-empty strings (even "false") and non-empty collections are set', () => {
    for (const v of set) assert.equal(memberTag({ tags: { nofailover: v } }, 'nofailover'), true, JSON.stringify(v));
  });

  test('YAML false, 0, the empty string, null and empty collections are not set; nor is a missing tag', () => {
    for (const v of unset) assert.equal(memberTag({ tags: { nofailover: v } }, 'nofailover'), false, JSON.stringify(v));
    assert.equal(memberTag({}, 'nofailover'), false);
  });

  test("a peer's REST document tagged nofailover: 1 keeps the peer out of the race (ha.py _MemberStatus)", () => {
    assert.equal(peerFromDocument('n2', { role: 'replica', xlog: {}, tags: { nofailover: 1 } }).nofailover, true);
    assert.equal(peerFromDocument('n2', { role: 'replica', xlog: {}, tags: { nofailover: 0 } }).nofailover, false);
  });
});

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

  test('tag truthiness lives in model/member.ts only', () => {
    assert.deepEqual(where(/function\s+(pythonTruthy|tagTrue|memberTag)\b/), ['model/member.ts']);
  });

  test('RefusalReason is defined in router/types.ts only', () => {
    assert.deepEqual(where(/type\s+RefusalReason\s*=/), ['router/types.ts']);
  });
});
