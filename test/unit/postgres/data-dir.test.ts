import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isDataDirEmpty, prepareDataDir, removeDataDir, removeRecoverySettingsFromAutoConf, writePgpassFile, writePostgresqlConf, writeStandbySignal,
} from '../../../src/postgres/data-dir';

describe('data dir files (local temp dir, no postgres)', () => {
  const root = mkdtempSync(join(tmpdir(), 'pgha-unit-datadir-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('creates the data dir 0700 and fixes a looser mode', async () => {
    const dir = join(root, 'a', 'data');
    await prepareDataDir(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    chmodSync(dir, 0o755);
    await prepareDataDir(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(await isDataDirEmpty(dir), true);
    assert.equal(await isDataDirEmpty(join(root, 'missing')), true);
  });

  it('keeps the original postgresql.conf as postgresql.base.conf, once', async () => {
    const dir = join(root, 'conf');
    mkdirSync(dir);
    writeFileSync(join(dir, 'postgresql.conf'), '# from initdb\n');
    await writePostgresqlConf(dir, "include 'postgresql.base.conf'\nport = '1'\n");
    await writePostgresqlConf(dir, "include 'postgresql.base.conf'\nport = '2'\n");
    assert.equal(readFileSync(join(dir, 'postgresql.base.conf'), 'utf8'), '# from initdb\n');
    assert.match(readFileSync(join(dir, 'postgresql.conf'), 'utf8'), /port = '2'/);
    assert.equal(statSync(join(dir, 'postgresql.conf')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).sort(), ['postgresql.base.conf', 'postgresql.conf'], 'no temp files left');
  });

  it('writes pgpass and standby.signal as 0600 files', async () => {
    const dir = join(root, 'files');
    mkdirSync(dir);
    await writePgpassFile(join(dir, 'pgpass'), 'h:1:*:u:p\n');
    await writeStandbySignal(dir);
    assert.equal(statSync(join(dir, 'pgpass')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, 'standby.signal'), 'utf8'), '');
  });

  it('removes recovery settings from postgresql.auto.conf (pg_basebackup -R leftovers)', async () => {
    const dir = join(root, 'auto');
    mkdirSync(dir);
    writeFileSync(join(dir, 'postgresql.auto.conf'), "# Do not edit\nwork_mem = '8MB'\nprimary_conninfo = 'host=x'\nPrimary_Slot_Name = 's'\n");
    assert.deepEqual(await removeRecoverySettingsFromAutoConf(dir), ['primary_conninfo', 'primary_slot_name']);
    assert.equal(readFileSync(join(dir, 'postgresql.auto.conf'), 'utf8'), "# Do not edit\nwork_mem = '8MB'\n");
    assert.deepEqual(await removeRecoverySettingsFromAutoConf(join(root, 'none')), []);
  });

  it('empties the data dir but keeps the directory (a mount point)', async () => {
    const dir = join(root, 'wipe');
    mkdirSync(join(dir, 'base', '1'), { recursive: true });
    writeFileSync(join(dir, 'PG_VERSION'), '15\n');
    writeFileSync(join(dir, '.hidden'), 'x');
    await removeDataDir(dir);
    assert.deepEqual(readdirSync(dir), []);
    await removeDataDir(join(root, 'never-existed'));
  });
});
