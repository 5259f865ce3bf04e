/**
 * A simulated PostgreSQL server: role, timeline, its WAL as the list of write ids it holds (an LSN is an index
 * into it), the upstream it streams from, synchronous_standby_names, and pg_ctl operations that take time.
 *
 * Writes are refused from the moment a stop is signalled (fast and immediate shutdowns both end sessions at once),
 * not when the shutdown finishes. The postgres process is independent of the agent: freezing the agent does not
 * freeze postgres, and pg_ctl's answers reach the agent as the agent's own events.
 */
import { deliver, fail, ok, type Res, type SimContext } from './context';
import { newProc, type Proc } from './scheduler';

export const SIM_SYSID = '7268616322854375442';
/** Bytes of WAL per simulated write, so LSNs look like LSNs and maximum_lag_on_failover (1 MB) means ~1000 writes. */
export const WAL_PER_WRITE = 1000;

export class SimPostgres {
  readonly proc: Proc;
  dataDir: 'empty' | 'initialized' = 'empty';
  running = false;
  /** Writes refused: a stop was signalled and the postmaster has not exited yet. */
  stopping = false;
  role: 'primary' | 'replica' = 'replica';
  standbySignal = false;
  upstream: string | undefined;
  timeline = 1;
  /** The timeline history file of `timeline`: [parent timeline, switch lsn] for every switch that led to it. */
  history: Array<[number, number]> = [];
  /** History files of other timelines in pg_wal (written by the agent before a promotion), by timeline. */
  historyFiles = new Map<number, Array<[number, number]>>();
  log: number[] = [];
  controlState = '';
  syncGuc = '';
  /** Writes committed locally and waiting for the synchronous standby's flush: [write id, index in log]. */
  pending: Array<[number, number]> = [];
  /** The postmaster's pid while one exists (postmaster.pid): a new one for every start, as the fence compares them. */
  pid: number | undefined;
  private pids = 0;
  private starting = false;
  private stopDoneAt = Infinity;
  /** pg_ctl stop runs waiting for the postmaster to exit; `incarnation`: the caller's when it asked (a dead caller gets no answer). */
  private stopWaiters: Array<{ proc: Proc; incarnation: number; cb: (r: Res<void>) => void; done: boolean }> = [];

  constructor(readonly name: string, private readonly ctx: SimContext) {
    this.proc = newProc(`${name}/postgres`);
  }

  get lsn(): number {
    return this.log.length * WAL_PER_WRITE;
  }

  /** The postmaster exists (pg_ctl status): running, or still starting up. */
  get postmasterAlive(): boolean {
    return this.running || this.starting;
  }

  /** Accepts writes now. */
  get writable(): boolean {
    return this.running && !this.stopping && this.role === 'primary';
  }

  /** kill -9 of the postmaster (or of the node): no shutdown checkpoint, nothing pending is acknowledged. */
  crash(): void {
    this.ctx.sched.kill(this.proc);
    const wasRunning = this.running || this.starting;
    this.running = false;
    this.starting = false;
    this.stopping = false;
    this.pid = undefined;
    this.pending = [];
    this.stopDoneAt = Infinity;
    if (wasRunning) this.ctx.trace(this.name, 'postgres crashed');
    this.finishStopWaiters();
    this.ctx.touched();
  }

  start(caller: Proc, cb: (r: Res<void>) => void): void {
    if (this.running) return deliver(this.ctx, caller, this.ctx.sched.now + 5, cb, ok(undefined));
    if (this.dataDir !== 'initialized') return deliver(this.ctx, caller, this.ctx.sched.now + 5, cb, fail('no data directory'));
    const inc = this.proc.incarnation;
    if (!this.starting) this.pid = 100 * ++this.pids;
    this.starting = true;
    const at = this.ctx.sched.now + this.ctx.rng.range(300, 2500);
    this.ctx.sched.at(at, () => {
      if (!this.starting) return;
      this.starting = false;
      this.running = true;
      this.stopping = false;
      this.role = this.standbySignal ? 'replica' : 'primary';
      this.controlState = this.role === 'primary' ? 'in production' : 'in archive recovery';
      this.ctx.trace(this.name, `postgres started as ${this.role} (timeline ${this.timeline}, lsn ${this.lsn})`);
      this.ctx.touched();
    }, this.proc);
    this.ctx.sched.at(at, () => cb(this.proc.incarnation === inc && this.running ? ok(undefined) : fail('postgres exited during start')), caller);
  }

  /** pg_ctl stop -m mode -t timeout: sessions end at the signal; the answer comes when the postmaster is gone or at the timeout. */
  stop(mode: 'fast' | 'immediate', timeoutMs: number, caller: Proc, cb: (r: Res<void>) => void): void {
    const now = this.ctx.sched.now;
    if (!this.running && !this.starting) return deliver(this.ctx, caller, now + 5, cb, ok(undefined));
    this.signal(mode);
    const waiter = { proc: caller, incarnation: caller.incarnation, cb, done: false };
    this.stopWaiters.push(waiter);
    this.ctx.sched.at(now + timeoutMs, () => {
      if (waiter.done) return;
      waiter.done = true;
      cb(fail(`pg_ctl stop -m ${mode} timed out after ${timeoutMs} ms`));
    }, caller);
  }

  /** SIGINT (fast) or SIGQUIT (immediate) to the postmaster, as pg_ctl stop sends it and as the fence does. */
  signal(mode: 'fast' | 'immediate'): void {
    const now = this.ctx.sched.now;
    if (!this.running && !this.starting) return;
    this.ctx.sched.at(now + this.ctx.rng.range(2, 40), () => {
      if (!this.stopping && (this.running || this.starting)) {
        this.stopping = true;
        this.pending = [];
        this.ctx.trace(this.name, `postgres stop signalled (${mode})`);
        this.ctx.touched();
      }
    }, this.proc);
    const slow = mode === 'fast' && this.ctx.rng.chance(0.1);
    const took = mode === 'immediate' ? this.ctx.rng.range(50, 300) : slow ? this.ctx.rng.range(2000, 20000) : this.ctx.rng.range(200, 2500);
    const doneAt = now + took;
    if (doneAt < this.stopDoneAt) {
      this.stopDoneAt = doneAt;
      this.ctx.sched.at(doneAt, () => {
        if (this.stopDoneAt !== doneAt) return;
        this.stopDoneAt = Infinity;
        this.starting = false;
        this.running = false;
        this.stopping = false;
        this.pid = undefined;
        this.controlState = this.role === 'primary' ? 'shut down' : 'shut down in recovery';
        this.ctx.trace(this.name, 'postgres stopped');
        this.finishStopWaiters();
        this.ctx.touched();
      }, this.proc);
    }
  }

  promote(caller: Proc, cb: (r: Res<void>) => void): void {
    if (!this.running || this.role !== 'replica') return deliver(this.ctx, caller, this.ctx.sched.now + 5, cb, fail('server is not in standby mode'));
    const inc = this.proc.incarnation;
    const at = this.ctx.sched.now + this.ctx.rng.range(200, 1500);
    this.ctx.sched.at(at, () => {
      if (!this.running || this.stopping || this.role !== 'replica') return;
      this.role = 'primary';
      // As PostgreSQL (recovery_target_timeline latest, then findNewestTimeLine): a newer timeline whose history file
      // is present and forks off mine at or after my position becomes the recovery target; the new timeline is the
      // newest one with a history file, plus one.
      let newest = this.timeline;
      while (this.historyFiles.has(newest + 1)) newest++;
      let parent = this.timeline;
      let history = this.history;
      const target = this.historyFiles.get(newest);
      const fork = target?.find(([tl]) => tl === this.timeline);
      if (target && fork && fork[1] >= this.lsn) {
        parent = newest;
        history = target;
      }
      this.history = [...history, [parent, this.lsn]];
      this.timeline = newest + 1;
      this.historyFiles.clear();
      this.standbySignal = false;
      this.upstream = undefined;
      this.controlState = 'in production';
      this.ctx.trace(this.name, `postgres promoted (timeline ${this.timeline}, lsn ${this.lsn})`);
      this.ctx.touched();
    }, this.proc);
    this.ctx.sched.at(at, () => cb(this.proc.incarnation === inc && this.role === 'primary' ? ok(undefined) : fail('promote failed')), caller);
  }

  /**
   * Writes postgresql.conf/standby.signal/primary_conninfo; a running replica picks a new upstream up on reload. As
   * LocalPostgresOps.configure, a replica's configuration drops the synchronous_standby_names the agent set.
   */
  configure(role: 'primary' | 'replica', upstream?: string): void {
    if (role === 'replica') this.syncGuc = '';
    this.standbySignal = role === 'replica';
    this.upstream = role === 'replica' ? upstream : undefined;
  }

  initdb(): void {
    this.resetWal('initialized', 'shut down');
  }

  wipe(): void {
    this.resetWal('empty', '');
    this.standbySignal = false;
    this.upstream = undefined;
  }

  private resetWal(dataDir: typeof this.dataDir, controlState: typeof this.controlState): void {
    this.dataDir = dataDir;
    this.log = [];
    this.timeline = 1;
    this.history = [];
    this.historyFiles.clear();
    this.controlState = controlState;
  }

  private finishStopWaiters(): void {
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const w of waiters) {
      if (w.done || w.proc.incarnation !== w.incarnation) continue;
      w.done = true;
      deliver(this.ctx, w.proc, this.ctx.sched.now + 1, w.cb, ok(undefined));
    }
  }
}

/** a's log is a prefix of b's: a can stream from b. Write ids are unique, so comparing the last common entry suffices. */
export function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > b.length) return false;
  return a.length === 0 || a[a.length - 1] === b[a.length - 1];
}

/** Length of the common prefix of two logs (what pg_rewind keeps). */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let lo = 0;
  let hi = Math.min(a.length, b.length);
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (a[mid - 1] === b[mid - 1]) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
