import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shlexSplit } from '../../../src/lib/shlex';

// Expected values are Python 3's shlex.split on the same strings.
test('shlexSplit splits as Python shlex.split (posix) does', () => {
  assert.deepEqual(shlexSplit('/usr/local/bin/vip.sh'), ['/usr/local/bin/vip.sh']);
  assert.deepEqual(shlexSplit('  /bin/cb  --vip 10.0.0.5 '), ['/bin/cb', '--vip', '10.0.0.5']);
  assert.deepEqual(shlexSplit(`"/opt/my scripts/cb.sh" 'a b' c\\ d`), ['/opt/my scripts/cb.sh', 'a b', 'c d']);
  assert.deepEqual(shlexSplit(`x"y z"'w'`), ['xy zw']);
  assert.deepEqual(shlexSplit(`"a\\"b" "c\\d" 'e\\f'`), ['a"b', 'c\\d', 'e\\f']);
  assert.deepEqual(shlexSplit(`'' ""`), ['', '']);
  assert.deepEqual(shlexSplit('a #b'), ['a', '#b']);
});

test('shlexSplit refuses what Python refuses', () => {
  assert.throws(() => shlexSplit(`/bin/cb "open`), /No closing quotation/);
  assert.throws(() => shlexSplit(`/bin/cb 'open`), /No closing quotation/);
  assert.throws(() => shlexSplit('/bin/cb \\'), /No escaped character/);
});
