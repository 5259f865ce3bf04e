import type { ProgressReport } from '../lib/progress';
import type { CopyStep } from './postgres-ops';
import type { TaskOutcome, TaskState } from './observation';
import type { TaskProgress } from './status';

/**
 * One long action at a time (single-flight). The loop reads `current` and the last outcome each tick; the REST API
 * reads `progress()` at any time, so a copy's figures are as fresh as the tool's last report, not the last tick.
 */
export class TaskSlot {
  private running: TaskState | undefined;
  private outcome: TaskOutcome | undefined;
  private step: { name: CopyStep; report?: ProgressReport } | undefined;

  constructor(private readonly now: () => number, private readonly onDone: (ok: boolean) => void) {}

  get current(): TaskState | undefined {
    return this.running;
  }

  /** Returns the outcome of the task that finished since the last call, once. */
  takeOutcome(): TaskOutcome | undefined {
    const o = this.outcome;
    this.outcome = undefined;
    return o;
  }

  start(kind: TaskState['kind'], work: () => Promise<void>): boolean {
    if (this.running) return false;
    const state: TaskState = { kind, startedMs: this.now() };
    this.running = state;
    this.step = undefined;
    void work().then(
      () => this.finish(state, true),
      (err: unknown) => this.finish(state, false, err instanceof Error ? err.message : String(err), codeOf(err)),
    );
    return true;
  }

  /** The running task's copy step began (no report yet), reported progress, or ended (`step` undefined). */
  report(step: CopyStep | undefined, report?: ProgressReport): void {
    if (!this.running) return;
    this.step = step ? { name: step, ...(report ? { report } : {}) } : undefined;
  }

  /** The running task, how long it has run, and its copy step's last report; undefined when idle. */
  progress(): TaskProgress | undefined {
    const task = this.running;
    if (!task) return undefined;
    return {
      task: task.kind,
      elapsedMs: Math.max(0, this.now() - task.startedMs),
      ...(this.step ? { step: this.step.name, ...(this.step.report ? { copy: this.step.report } : {}) } : {}),
    };
  }

  private finish(state: TaskState, ok: boolean, error?: string, code?: string): void {
    this.running = undefined;
    this.step = undefined;
    this.outcome = { kind: state.kind, ok, finishedMs: this.now(), ...(error ? { error } : {}), ...(code ? { code } : {}) };
    this.onDone(ok);
  }
}

/** The stable `code` of a PghaError (decide tells a failed pre_promote from other failures of a promote). */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
