import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyRestoreSignal, removePromoteTrigger, renderRestoreRecovery, restoreTrustLines } from '../../../src/postgres/restore-files';

describe('files of a restored data directory (custom bootstrap)', () => {
  it('writes recovery_conf as given, sorted and quoted, targets included', () => {
    assert.equal(
      renderRestoreRecovery({ restore_command: 'pgbackrest --stanza=main archive-get %f "%p"', recovery_target_time: '2026-12-07 09:00:00+00', recovery_target_action: 'promote' }),
      "# recovery.conf\nrecovery_target_action = 'promote'\nrecovery_target_time = '2026-12-07 09:00:00+00'\nrestore_command = 'pgbackrest --stanza=main archive-get %f \"%p\"'\n",
    );
    assert.throws(() => renderRestoreRecovery({ 'bad name': 'x' }), /not a parameter name/);
  });

  it('trusts only the superuser, over the socket and loopback', () => {
    const lines = restoreTrustLines('admin').filter((l) => !l.startsWith('#'));
    assert.deepEqual(lines.map((l) => l.split(/\s+/)), [
      ['local', 'all', 'admin', 'trust'], ['host', 'all', 'admin', '127.0.0.1/32', 'trust'], ['host', 'all', 'admin', '::1/128', 'trust'],
    ]);
  });

  it('signal files: recovery, standby, none (unless kept); the promote trigger goes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgha-restore-'));
    try {
      const has = (f: string) => existsSync(join(dir, f));
      writeFileSync(join(dir, 'standby.signal'), '');
      await applyRestoreSignal(dir, 'recovery', false);
      assert.deepEqual([has('recovery.signal'), has('standby.signal')], [true, false]);
      await applyRestoreSignal(dir, 'none', true);
      assert.equal(has('recovery.signal'), true, 'kept with keep_existing_recovery_conf');
      await applyRestoreSignal(dir, 'none', false);
      assert.equal(has('recovery.signal'), false);
      await applyRestoreSignal(dir, 'standby', false);
      assert.equal(has('standby.signal'), true);
      writeFileSync(join(dir, 'promote'), '');
      await removePromoteTrigger(dir);
      assert.equal(has('promote'), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
