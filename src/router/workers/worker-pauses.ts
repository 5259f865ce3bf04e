/**
 * The drain's and the operator's PAUSE under `workers: N` (Drainable, drainable.ts): every pause and resume goes to
 * every worker, in order, over its channel; a worker started later gets the pauses in force replayed. The figures
 * the workers report each second are too old to acknowledge a drain on, so `busy(member)` says 0 only once every
 * live worker answered "idle" after the member's pause (the channel delivers the pause first): the router acks a
 * drain only when all its workers paused and finished their transactions on that member.
 */
import type { Drainable } from '../drainable';
import type { PausedState, ToWorker } from './messages';

/** A live worker as the pauses see it. */
export interface PausableWorker {
  index: number;
  send(m: ToWorker): void;
  /** Resolves true when the worker answered "idle" for member, false when it could not (it died, timeout). */
  askIdle(member: string | undefined): Promise<boolean>;
}

const ALL = '\0all';

export class WorkerPauses implements Drainable {
  private pausedAll = false;
  private readonly paused = new Set<string>();
  /** Per paused key (member, or ALL): the workers that answered idle since that pause. */
  private readonly idleSince = new Map<string, Set<number>>();
  /** Bumped on every pause and resume: a worker started under an older state is brought up to date when ready. */
  version = 0;

  constructor(
    private readonly workers: () => readonly PausableWorker[],
    /** Transactions in flight on member as the workers last reported (sv_active). */
    private readonly reportedBusy: (member: string | undefined) => number,
  ) {}

  pause(member?: string): void {
    this.version++;
    if (member === undefined) this.pausedAll = true;
    else this.paused.add(member);
    this.idleSince.set(member ?? ALL, new Set());
    for (const w of this.workers()) w.send({ t: 'pause', ...(member !== undefined ? { member } : {}) });
  }

  resume(member?: string): void {
    this.version++;
    if (member === undefined) {
      this.pausedAll = false;
      this.paused.clear();
      this.idleSince.clear();
    } else {
      this.paused.delete(member);
      this.idleSince.delete(member);
    }
    for (const w of this.workers()) w.send({ t: 'resume', ...(member !== undefined ? { member } : {}) });
  }

  busy(member?: string): number {
    const live = this.workers();
    const confirmed = this.idleSince.get(member ?? ALL);
    if (confirmed && live.every((w) => confirmed.has(w.index))) return 0;
    // Not confirmed by every worker: whatever the last report says, something may still run (or start) there.
    return live.length === 0 ? 0 : Math.max(1, this.reportedBusy(member));
  }

  async idle(member?: string): Promise<void> {
    const key = member ?? ALL;
    await Promise.all(
      this.workers().map(async (w) => {
        if (await w.askIdle(member)) this.idleSince.get(key)?.add(w.index);
      }),
    );
  }

  /** The pauses in force, for a worker's init. */
  state(): PausedState {
    return { all: this.pausedAll, members: [...this.paused] };
  }

  /**
   * A worker that became ready after pauses or resumes it missed (it got its init before them): the state in force
   * again, whole. Its pools are new and nearly empty, so the moment between the resume and the pauses is harmless.
   */
  replay(w: PausableWorker): void {
    w.send({ t: 'resume' });
    if (this.pausedAll) w.send({ t: 'pause' });
    for (const m of this.paused) w.send({ t: 'pause', member: m });
  }
}
