import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDynamicConfig, parseDynamicConfigLenient } from '../../../src/config/dynamic';
import { effectiveRecoveryConf } from '../../../src/config/recovery-conf';
import { assertConfigError, parseEdited, section } from './helpers';

const ARCHIVE_GET = 'pgbackrest --stanza=main archive-get %f "%p"';

describe('postgresql.recovery_conf: a replica\'s restore_command and friends (Patroni 3.0.2 build_recovery_params)', () => {
  it('the local file\'s recovery_conf is read, no longer ignored with a warning', () => {
    const c = parseEdited((d) => { section(d, 'postgresql').recovery_conf = { restore_command: ARCHIVE_GET, recovery_min_apply_delay: 0, hot_standby_feedback: true }; });
    assert.deepEqual(c.postgresql.recoveryConf, { restore_command: ARCHIVE_GET, recovery_min_apply_delay: '0', hot_standby_feedback: 'on' });
    assert.ok(!c.warnings?.some((w) => w.includes('recovery_conf')), String(c.warnings));
  });

  it('a nested value or a name that is not a parameter is refused with the field named', () => {
    assertConfigError(() => parseEdited((d) => { section(d, 'postgresql').recovery_conf = { restore_command: { a: 1 } }; }),
      'postgresql.recovery_conf.restore_command', ['expected a value']);
    assertConfigError(() => parseEdited((d) => { section(d, 'postgresql').recovery_conf = { 'restore command': 'x' }; }),
      'postgresql.recovery_conf.restore command', ['is not a parameter name']);
  });

  it('the dynamic configuration may carry it too (bootstrap.dcs, edit-config); a bad one keeps the last good value', () => {
    const c = parseDynamicConfig({ postgresql: { recovery_conf: { restore_command: ARCHIVE_GET } } });
    assert.deepEqual(c.postgresql.recoveryConf, { restore_command: ARCHIVE_GET });
    const bad = parseDynamicConfigLenient({ postgresql: { recovery_conf: 'restore_command=x' } }, c);
    assert.ok(bad.ok);
    assert.deepEqual(bad.config.postgresql.recoveryConf, { restore_command: ARCHIVE_GET });
    assert.ok(bad.warnings.some((w) => w.includes('config.postgresql.recovery_conf')), String(bad.warnings));
  });

  it('the local map replaces the dynamic one whole, as Patroni\'s effective configuration does', () => {
    assert.deepEqual(effectiveRecoveryConf({ restore_command: 'local' }, { restore_command: 'dcs', archive_cleanup_command: 'x' }), { restore_command: 'local' });
    assert.deepEqual(effectiveRecoveryConf(undefined, { restore_command: 'dcs' }), { restore_command: 'dcs' });
    assert.deepEqual(effectiveRecoveryConf(undefined, undefined), {});
  });
});
