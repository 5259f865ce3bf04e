import type { TaskOutcome, TaskState } from './observation';

/** One long action at a time (single-flight). The loop reads `current` and the last outcome each tick. */
export class TaskSlot {
  private running: TaskState | undefined;
  private outcome: TaskOutcome | undefined;

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
    void work().then(
      () => this.finish(state, true),
      (err: unknown) => this.finish(state, false, err instanceof Error ? err.message : String(err)),
    );
    return true;
  }

  private finish(state: TaskState, ok: boolean, error?: string): void {
    this.running = undefined;
    this.outcome = { kind: state.kind, ok, finishedMs: this.now(), ...(error ? { error } : {}) };
    this.onDone(ok);
  }
}
