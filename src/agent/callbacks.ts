/**
 * Runs the user's scripts: Patroni's callbacks (`postgresql.callbacks.on_*`), `pre_promote` and `before_stop`.
 *
 * Callbacks never make the HA loop wait (Patroni's call_nowait): `<script> <action> <role> <scope>`, the script string
 * split as Python's shlex does. As Patroni's CallbackExecutor: one callback at a time, and a new one kills the one
 * still running (SIGKILL, with its children: pgha starts each in its own process group and kills the group);
 * `on_reload` has its own slot, so a reload never kills a role change, and a new `on_reload` kills the previous
 * `on_reload` only. Unlike Patroni, a callback that runs longer than `timeoutMs` is killed too (Patroni has no bound).
 * pre_promote and before_stop are waited for (Patroni's cancellable.call), with a bound as well.
 *
 * Scripts run as the agent's OS user with the agent's environment; nothing of theirs (process, pipes, timers) keeps
 * the agent's event loop alive, so a shutdown never waits for one. Their output (the last lines) and exit status go
 * to the log; each end is counted by `onResult` (pgha_agent_callbacks_total{action,result}).
 */
import { spawn as spawnChild } from 'node:child_process';
import type { Logger } from '../log/logger';
import type { CallbackAction, CallbackRole } from './callback-map';
import { shlexSplit } from '../lib/shlex';

/** How a script run ended. */
export type ScriptResult = 'success' | 'failure' | 'killed' | 'timeout' | 'spawn_error';

export type ScriptKind = CallbackAction | 'pre_promote' | 'before_stop';

/** A started script: its exit, its output so far, and a way to kill its whole process group. */
export interface ScriptProcess {
  readonly pid: number | undefined;
  /** Settles once with the exit code (null when killed by a signal), or rejects when it could not start. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  output(): string;
  killGroup(): void;
}

export type ScriptSpawner = (argv: string[]) => ScriptProcess;

export interface ScriptRunnerOptions {
  scope: string;
  logger: Logger;
  /** Callback strings by action (already checked to split). */
  callbacks: Partial<Record<CallbackAction, string>>;
  spawn?: ScriptSpawner;
  /** Bound on one callback (default CALLBACK_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Bound on pre_promote and before_stop (default WAITED_TIMEOUT_MS). */
  waitedTimeoutMs?: number;
  onResult?: (kind: ScriptKind, result: ScriptResult) => void;
}

/**
 * A VIP move or a DNS update takes seconds; a callback still running after 10 minutes is stuck (an unreachable
 * API without a client timeout) and would otherwise only end when the next transition replaces it.
 */
export const CALLBACK_TIMEOUT_MS = 10 * 60_000;
/** pre_promote delays a failover and before_stop a stop for as long as it runs: 2 minutes at most. */
export const WAITED_TIMEOUT_MS = 2 * 60_000;
const OUTPUT_TAIL_CHARS = 2000;

interface Running {
  proc: ScriptProcess;
  action: CallbackAction;
  replaced: boolean;
  timedOut: boolean;
}

export class ScriptRunner {
  private readonly spawn: ScriptSpawner;
  /** The callback slot and the on_reload slot. */
  private readonly slots: { main?: Running; reload?: Running } = {};
  private readonly settling = new Set<Promise<void>>();

  constructor(private readonly o: ScriptRunnerOptions) {
    this.spawn = o.spawn ?? spawnScript;
  }

  has(action: CallbackAction): boolean {
    return Boolean(this.o.callbacks[action]);
  }

  /** Starts the callback for `action` if one is configured; returns at once. */
  call(action: CallbackAction, role: CallbackRole): void {
    const script = this.o.callbacks[action];
    if (!script) return;
    const slot = action === 'on_reload' ? 'reload' : 'main';
    const previous = this.slots[slot];
    if (previous) {
      previous.replaced = true;
      previous.proc.killGroup();
      this.o.logger.warn({ action: previous.action, pid: previous.proc.pid, next: action }, 'killed the callback still running');
    }
    const argv = [...shlexSplit(script), action, role, this.o.scope];
    let proc: ScriptProcess;
    try {
      proc = this.spawn(argv);
    } catch (err) {
      this.report(action, 'spawn_error', { argv, err });
      return;
    }
    const running: Running = { proc, action, replaced: false, timedOut: false };
    this.slots[slot] = running;
    this.o.logger.info({ action, role, pid: proc.pid, argv }, 'callback started');
    const startedMs = performance.now();
    const timer = setTimeout(() => {
      running.timedOut = true;
      proc.killGroup();
    }, this.o.timeoutMs ?? CALLBACK_TIMEOUT_MS);
    timer.unref();
    const settled = proc.exited.then(
      ({ code, signal }) => {
        const result: ScriptResult = running.replaced ? 'killed' : running.timedOut ? 'timeout' : code === 0 ? 'success' : 'failure';
        this.report(action, result, { role, pid: proc.pid, exitCode: code, signal, durationMs: Math.round(performance.now() - startedMs), output: tailOf(proc.output()) });
      },
      (err: unknown) => this.report(action, 'spawn_error', { argv, err }),
    ).finally(() => {
      clearTimeout(timer);
      if (this.slots[slot] === running) delete this.slots[slot];
      this.settling.delete(settled);
    });
    this.settling.add(settled);
  }

  /**
   * Runs pre_promote or before_stop and waits for it: the exit code, or undefined when it could not start, was killed
   * or ran out of time (a pre_promote that did not say yes is a no).
   */
  async runWaited(kind: 'pre_promote' | 'before_stop', script: string): Promise<number | undefined> {
    const argv = shlexSplit(script);
    const startedMs = performance.now();
    let proc: ScriptProcess;
    try {
      proc = this.spawn(argv);
    } catch (err) {
      this.report(kind, 'spawn_error', { argv, err });
      return undefined;
    }
    this.o.logger.info({ action: kind, pid: proc.pid, argv }, 'script started');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.killGroup();
    }, this.o.waitedTimeoutMs ?? WAITED_TIMEOUT_MS);
    timer.unref();
    try {
      const { code, signal } = await proc.exited;
      const result: ScriptResult = timedOut ? 'timeout' : code === 0 ? 'success' : code === null ? 'killed' : 'failure';
      this.report(kind, result, { pid: proc.pid, exitCode: code, signal, durationMs: Math.round(performance.now() - startedMs), output: tailOf(proc.output()) });
      return timedOut ? undefined : code ?? undefined;
    } catch (err) {
      this.report(kind, 'spawn_error', { argv, err });
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when every callback started so far has ended (tests; the agent never waits for callbacks). */
  async idle(): Promise<void> {
    while (this.settling.size) await Promise.all([...this.settling]);
  }

  private report(kind: ScriptKind, result: ScriptResult, fields: Record<string, unknown>): void {
    const entry = { action: kind, result, ...fields };
    if (result === 'success') this.o.logger.info(entry, 'script finished');
    else this.o.logger.warn(entry, 'script did not succeed');
    this.o.onResult?.(kind, result);
  }
}

function tailOf(output: string): string {
  return output.length > OUTPUT_TAIL_CHARS ? output.slice(-OUTPUT_TAIL_CHARS) : output;
}

/**
 * The real spawner: the script in its own process group (detached), so killing it kills what it started; stdin
 * closed, stdout and stderr kept (the last OUTPUT_TAIL_CHARS) for the log. The environment is the agent's own.
 */
export const spawnScript: ScriptSpawner = (argv) => {
  const [file, ...args] = argv;
  if (!file) throw new Error('empty command');
  const child = spawnChild(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > OUTPUT_TAIL_CHARS * 2) out = out.slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  // A script still running never holds the agent up when it shuts down (Patroni's executor is a daemon thread).
  child.unref();
  for (const pipe of [child.stdout, child.stderr]) (pipe as unknown as { unref?: () => void }).unref?.();
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
    // A background child of the script may keep its stdout open: the exit settles it soon after, whatever the pipes do.
    child.once('exit', (code, signal) => setTimeout(() => resolve({ code, signal }), 200).unref());
  });
  return {
    pid: child.pid,
    exited,
    output: () => out,
    killGroup: () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
};
