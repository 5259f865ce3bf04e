import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HookedPostgresOps } from '../../../src/agent/hooked-postgres';
import { ScriptRunner, type ScriptProcess } from '../../../src/agent/callbacks';
import type { PostgresOps } from '../../../src/agent/postgres-ops';
import { silentLogger } from '../../../src/log/logger';

/**
 * A postgres that records what was done to it, next to the scripts run (all in one journal), with scripts that
 * exit at once with the code `exitCodes` gives for their first word.
 */
function setUp(opts: { running: boolean; standby: boolean; exitCodes?: Record<string, number> }) {
  const journal: string[] = [];
  let running = opts.running;
  const inner = new Proxy({} as PostgresOps, {
    get: (_t, name: string) => {
      switch (name) {
        case 'isRunning': return async () => running;
        case 'hasStandbySignal': return async () => opts.standby;
        case 'dataDirState': return async () => 'initialized';
        case 'stop': return async (mode: string, _ms: number, o?: { fencing?: boolean }) => {
          journal.push(`pg stop ${mode}${o?.fencing ? ' fencing' : ''}`);
          running = false;
        };
        case 'start': return async () => {
          journal.push('pg start');
          running = true;
        };
        default: return async () => journal.push(`pg ${name}`);
      }
    },
  });
  const spawn = (argv: string[]): ScriptProcess => {
    journal.push(`run ${argv.join(' ')}`);
    return { pid: 1, exited: Promise.resolve({ code: opts.exitCodes?.[argv[0]!] ?? 0, signal: null }), output: () => '', killGroup: () => undefined };
  };
  const scripts = new ScriptRunner({
    scope: 'batman', logger: silentLogger(), spawn, callbacks: { on_stop: '/cb', on_start: '/cb', on_role_change: '/cb', on_restart: '/cb', on_reload: '/cb' },
  });
  const ops = new HookedPostgresOps(inner, scripts, { prePromote: '/pre-promote', beforeStop: '/before-stop' }, silentLogger());
  return { ops, journal, scripts };
}

describe('callbacks around postgres (HookedPostgresOps)', () => {
  it('before_stop runs, and is waited for, before postgres is stopped; on_stop follows the stop', async () => {
    const { ops, journal, scripts } = setUp({ running: true, standby: true });
    await ops.stop('fast', 1000);
    await scripts.idle();
    assert.deepEqual(journal, ['run /before-stop', 'pg stop fast', 'run /cb on_stop replica batman']);
  });

  it('before_stop runs inside a restart too, which fires on_restart only', async () => {
    const { ops, journal, scripts } = setUp({ running: true, standby: false });
    ops.intend('restart');
    await ops.stop('fast', 1000);
    await ops.start();
    await scripts.idle();
    assert.deepEqual(journal, ['run /before-stop', 'pg stop fast', 'pg start', 'run /cb on_restart master batman']);
  });

  it('no before_stop and no on_stop when postgres was not running; none before a self-fencing stop', async () => {
    const stopped = setUp({ running: false, standby: true });
    await stopped.ops.stop('immediate', 1000);
    assert.deepEqual(stopped.journal, ['pg stop immediate']);
    const fencing = setUp({ running: true, standby: false });
    await fencing.ops.stop('fast', 1000, { fencing: true });
    await fencing.scripts.idle();
    assert.deepEqual(fencing.journal, ['pg stop fast fencing', 'run /cb on_stop master batman']);
  });

  it('pre_promote exiting 0 lets the promotion go on; on_role_change master follows pg_ctl promote', async () => {
    const { ops, journal, scripts } = setUp({ running: true, standby: true });
    assert.equal(await ops.prePromote(), true);
    await ops.promote();
    await scripts.idle();
    assert.deepEqual(journal, ['run /pre-promote', 'pg promote', 'run /cb on_role_change master batman']);
  });

  it('pre_promote exiting non-zero says no', async () => {
    const { ops } = setUp({ running: true, standby: true, exitCodes: { '/pre-promote': 1 } });
    assert.equal(await ops.prePromote(), false);
  });

  it('an agent started next to a running replica reloads it as a replica (role from the data directory)', async () => {
    const { ops, journal, scripts } = setUp({ running: true, standby: true });
    await ops.reload();
    await scripts.idle();
    assert.deepEqual(journal, ['pg reload', 'run /cb on_reload replica batman']);
  });
});
