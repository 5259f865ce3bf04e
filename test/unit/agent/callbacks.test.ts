import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScriptRunner, spawnScript, type ScriptProcess, type ScriptResult } from '../../../src/agent/callbacks';
import { silentLogger } from '../../../src/log/logger';
import { waitFor } from '../../support/wait';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface FakeProcess extends ScriptProcess {
  argv: string[];
  killed: boolean;
  exit(code: number): void;
}

/** A spawner whose processes end only when a test says so, or when killed. */
function fakeSpawner() {
  const procs: FakeProcess[] = [];
  const spawn = (argv: string[]): ScriptProcess => {
    let settle!: (v: { code: number | null; signal: string | null }) => void;
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => (settle = r));
    const p: FakeProcess = {
      argv, pid: 100 + procs.length, exited, killed: false,
      output: () => `output of ${argv[0]}`,
      killGroup: () => {
        p.killed = true;
        settle({ code: null, signal: 'SIGKILL' });
      },
      exit: (code) => settle({ code, signal: null }),
    };
    procs.push(p);
    return p;
  };
  return { spawn, procs };
}

function runnerWith(spawn: (argv: string[]) => ScriptProcess, over: { timeoutMs?: number; waitedTimeoutMs?: number } = {}) {
  const results: string[] = [];
  const runner = new ScriptRunner({
    scope: 'batman', logger: silentLogger(), spawn, ...over,
    callbacks: { on_start: '/bin/cb', on_role_change: `"/opt/my scripts/vip.sh" --vip 10.0.0.5`, on_reload: '/bin/reload-cb' },
    onResult: (kind, result: ScriptResult) => results.push(`${kind} ${result}`),
  });
  return { runner, results };
}

// The runner keeps no handle of its own alive (a shutting-down agent never waits for a script): the test does.
const keepAlive = setInterval(() => undefined, 1000);
after(() => clearInterval(keepAlive));

describe('callbacks: the executor (Patroni CallbackExecutor)', () => {
  it('runs `<script> <action> <role> <scope>`, the script split as shlex does, and counts the result', async () => {
    const { spawn, procs } = fakeSpawner();
    const { runner, results } = runnerWith(spawn);
    runner.call('on_role_change', 'master');
    assert.deepEqual(procs[0]!.argv, ['/opt/my scripts/vip.sh', '--vip', '10.0.0.5', 'on_role_change', 'master', 'batman']);
    procs[0]!.exit(0);
    await runner.idle();
    assert.deepEqual(results, ['on_role_change success']);
  });

  it('does nothing for an action without a script', async () => {
    const { spawn, procs } = fakeSpawner();
    const { runner } = runnerWith(spawn);
    runner.call('on_stop', 'master');
    assert.equal(procs.length, 0);
  });

  it('runs one callback at a time: a new one kills the one still running', async () => {
    const { spawn, procs } = fakeSpawner();
    const { runner, results } = runnerWith(spawn);
    runner.call('on_start', 'replica');
    runner.call('on_role_change', 'master');
    assert.equal(procs[0]!.killed, true);
    assert.equal(procs[1]!.killed, false);
    procs[1]!.exit(3);
    await runner.idle();
    assert.deepEqual(results, ['on_start killed', 'on_role_change failure']);
  });

  it('on_reload has its own slot: it never kills a role change, only the previous on_reload', async () => {
    const { spawn, procs } = fakeSpawner();
    const { runner, results } = runnerWith(spawn);
    runner.call('on_role_change', 'master');
    runner.call('on_reload', 'master');
    assert.equal(procs[0]!.killed, false);
    runner.call('on_reload', 'master');
    assert.equal(procs[1]!.killed, true);
    procs[0]!.exit(0);
    procs[2]!.exit(0);
    await runner.idle();
    assert.deepEqual(results.sort(), ['on_reload killed', 'on_reload success', 'on_role_change success']);
  });

  it('kills a callback that outlives its timeout', async () => {
    const { spawn, procs } = fakeSpawner();
    const { runner, results } = runnerWith(spawn, { timeoutMs: 20 });
    runner.call('on_start', 'master');
    await runner.idle();
    assert.equal(procs[0]!.killed, true);
    assert.deepEqual(results, ['on_start timeout']);
  });

  it('a script that cannot be started is counted as spawn_error and never throws into the HA loop', async () => {
    const { runner, results } = runnerWith(() => {
      throw new Error('ENOENT');
    });
    runner.call('on_start', 'master');
    assert.equal(await runner.runWaited('pre_promote', '/bin/nope'), undefined);
    assert.deepEqual(results, ['on_start spawn_error', 'pre_promote spawn_error']);
  });

  it('pre_promote and before_stop are waited for: their exit code, or undefined when out of time', async () => {
    const { spawn, procs } = fakeSpawner();
    const { runner, results } = runnerWith(spawn, { waitedTimeoutMs: 20 });
    const code = runner.runWaited('pre_promote', '/bin/fence --now');
    assert.deepEqual(procs[0]!.argv, ['/bin/fence', '--now']);
    procs[0]!.exit(1);
    assert.equal(await code, 1);
    assert.equal(await runner.runWaited('before_stop', '/bin/slow'), undefined);
    assert.equal(procs[1]!.killed, true);
    assert.deepEqual(results, ['pre_promote failure', 'before_stop timeout']);
  });
});

describe('callbacks: the real spawner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgha-cb-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the script with the arguments and reports its exit code', async () => {
    const script = join(dir, 'cb.sh');
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${dir}/calls\nexit 4\n`);
    chmodSync(script, 0o755);
    const p = spawnScript([script, 'on_start', 'replica', 'batman']);
    assert.deepEqual(await p.exited, { code: 4, signal: null });
    assert.equal(readFileSync(join(dir, 'calls'), 'utf8'), 'on_start replica batman\n');
  });

  it('killing a script kills what it started too (its process group)', async () => {
    const script = join(dir, 'slow.sh');
    writeFileSync(script, `#!/bin/sh\nsleep 60 &\necho $! > ${dir}/child.pid\necho started\nwait\n`);
    chmodSync(script, 0o755);
    const p = spawnScript([script]);
    await waitFor('the script to start its child', () => (p.output().includes('started') ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    const child = Number(readFileSync(join(dir, 'child.pid'), 'utf8'));
    p.killGroup();
    assert.equal((await p.exited).signal, 'SIGKILL');
    await waitFor('the child (sleep 60) to be gone', () => !alive(child), { timeoutMs: 10_000, intervalMs: 20 });
  });

  it('a missing script rejects exited (spawn error)', async () => {
    const p = spawnScript([join(dir, 'absent')]);
    await assert.rejects(p.exited, /ENOENT/);
  });
});
