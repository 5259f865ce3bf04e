import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { findPostgresBinDir, resolveBinDir, systemBinDirProbe } from '../../../src/config/bin-dir';
import { renderInitdbArgs } from '../../../src/config/options-list';
import { assertConfigError, fakeProbe, parseEdited } from './helpers';

test('bin_dir detection picks the newest version that has the server programs', () => {
  assert.equal(findPostgresBinDir(fakeProbe({ serverBinDirs: ['/usr/lib/postgresql/9.6/bin', '/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/13/bin'] })), '/usr/lib/postgresql/15/bin');
  // A client-only newer version (postgresql-client-16: no pg_ctl) is skipped.
  assert.equal(findPostgresBinDir(fakeProbe({ serverBinDirs: ['/usr/lib/postgresql/15/bin'], clientOnlyBinDirs: ['/usr/lib/postgresql/16/bin'] })), '/usr/lib/postgresql/15/bin');
});

test('bin_dir detection falls back to pg_config --bindir, and only when it holds pg_ctl', () => {
  assert.equal(findPostgresBinDir(fakeProbe({ serverBinDirs: ['/usr/pgsql-16/bin'], pgConfigBindir: '/usr/pgsql-16/bin' })), '/usr/pgsql-16/bin');
  assert.equal(findPostgresBinDir(fakeProbe({ serverBinDirs: [], clientOnlyBinDirs: ['/usr/bin'], pgConfigBindir: '/usr/bin' })), undefined);
});

test('a missing bin_dir in the config is filled in by detection', () => {
  const c = parseEdited(() => undefined, {}, { probe: fakeProbe({ serverBinDirs: ['/usr/lib/postgresql/14/bin', '/usr/lib/postgresql/16/bin'] }) });
  assert.equal(c.postgresql.binDir, '/usr/lib/postgresql/16/bin');
});

test('an empty bin_dir (Patroni: use $PATH) is detected too', () => {
  const c = parseEdited((d) => { (d.postgresql as Record<string, unknown>).bin_dir = ''; });
  assert.equal(c.postgresql.binDir, '/usr/lib/postgresql/15/bin');
});

test('requireBinDir: false (pgha ctl) skips the check', () => {
  const c = parseEdited(() => undefined, {}, { probe: fakeProbe({ serverBinDirs: [] }), requireBinDir: false });
  assert.equal(c.postgresql.binDir, '');
});

test('on this machine, detection finds /usr/lib/postgresql/15/bin', (t) => {
  if (!existsSync('/usr/lib/postgresql/15/bin/pg_ctl')) {
    t.skip('PostgreSQL 15 is not installed here');
    return;
  }
  const probe = systemBinDirProbe(process.env);
  assert.equal(findPostgresBinDir(probe), '/usr/lib/postgresql/15/bin');
  assert.equal(resolveBinDir('/usr/lib/postgresql/15/bin', probe), '/usr/lib/postgresql/15/bin');
  assertConfigError(() => resolveBinDir('/usr/bin', probe), 'postgresql.bin_dir', ['which has no pg_ctl', '/usr/lib/postgresql/15/bin']);
});

test('initdb option list: - key: value → --key=value, - flag → --flag (reference §5.2)', () => {
  assert.deepEqual(renderInitdbArgs([{ encoding: 'UTF8' }, 'data-checksums']), ['--encoding=UTF8', '--data-checksums']);
  assert.deepEqual(renderInitdbArgs([{ locale: "'en_US.UTF-8'" }, { 'wal-segsize': 32 }, '--no-instructions']), ['--locale=en_US.UTF-8', '--wal-segsize=32', '--no-instructions']);
  assert.deepEqual(renderInitdbArgs({ encoding: 'UTF8', 'data-checksums': true, 'allow-group-access': false }), ['--encoding=UTF8', '--data-checksums']);
  assert.deepEqual(renderInitdbArgs(null), []);
  assertConfigError(() => renderInitdbArgs([{ encoding: 'UTF8', locale: 'C' }]), 'bootstrap.initdb[0]', ['map with 2 keys', 'one "- key: value" per line']);
  assertConfigError(() => renderInitdbArgs('data-checksums'), 'bootstrap.initdb', ['got "data-checksums"', 'expected a list of initdb options']);
  assertConfigError(() => renderInitdbArgs([['x']]), 'bootstrap.initdb[0]', ['got a list']);
  assertConfigError(() => renderInitdbArgs(['pgdata']), 'bootstrap.initdb', ['"pgdata" cannot be set']);
});
