/**
 * The real agent's PostgresOps (src/agent/postgres-ops.ts) over a simulated postgres (postgres-model.ts): what
 * LocalPostgresOps does with files, pg_ctl and SQL, done to the model. Quick reads (state, probe, signals) answer at
 * once; the long operations (initdb, basebackup, pg_rewind, start, stop, promote, checkpoint) take simulated time and
 * answer as events of the calling process, so a killed agent never hears back and a frozen one hears back when
 * thawed. Durations and semantics are those of the hand-written simulator's executor they replace.
 */
import type { ControlData, PostgresOps, Upstream } from '../../../src/agent/postgres-ops';
import type { DataDirState } from '../../../src/agent/observation';
import type { DynamicConfig } from '../../../src/config/types';
import type { PostgresProbe } from '../../../src/model/postgres-state';
import { parseLsn } from '../../../src/model/lsn';
import type { Res, SimContext } from './context';
import { commonPrefix, SIM_SYSID, WAL_PER_WRITE, type SimPostgres } from './postgres-model';
import type { Proc } from './scheduler';

export interface SimOpsHost {
  readonly ctx: SimContext;
  /** The agent process that calls: answers are its events. */
  readonly caller: Proc;
  readonly pg: SimPostgres;
  /** What the status query shows now (replication rows need the other nodes). */
  probe(): PostgresProbe;
  /** A peer's postgres, when this node can reach it over the network (basebackup, rewind source, primary check). */
  reachablePostgres(name: string): SimPostgres | undefined;
  trace(msg: string): void;
}

const REASON = 'no recovery target specified';

export class SimPostgresOps implements PostgresOps {
  dynamic: DynamicConfig | undefined;

  constructor(private readonly h: SimOpsHost) {}

  private get pg(): SimPostgres {
    return this.h.pg;
  }

  /** Resolves after a random duration in [lo, hi] ms of simulated time, as an event of the caller. */
  private after<T>(lo: number, hi: number, fn: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      this.h.ctx.sched.after(this.h.ctx.rng.range(lo, hi), () => {
        try {
          resolve(fn());
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }, this.h.caller);
    });
  }

  /** A pg_ctl run of the model, its answer delivered to the caller. */
  private pgctl(run: (caller: Proc, cb: (r: Res<void>) => void) => void): Promise<void> {
    return new Promise((resolve, reject) => run(this.h.caller, (r) => (r.ok ? resolve() : reject(r.error))));
  }

  useDynamic(dynamic: DynamicConfig): void {
    this.dynamic = dynamic;
  }

  async dataDirState(): Promise<DataDirState> {
    return this.pg.dataDir;
  }

  async controlData(): Promise<ControlData | undefined> {
    // No checkpoint LSNs: the rejoin check then always rewinds a former primary, as the model always did.
    return this.pg.dataDir === 'initialized' ? { systemId: SIM_SYSID, clusterState: this.pg.controlState, timeline: this.pg.timeline } : undefined;
  }

  /** pg_ctl status: the postmaster exists (also while it starts up or shuts down). */
  async isRunning(): Promise<boolean> {
    return this.pg.postmasterAlive;
  }

  async probe(): Promise<PostgresProbe> {
    return this.h.probe();
  }

  async hasStandbySignal(): Promise<boolean> {
    return this.pg.standbySignal;
  }

  followingHostPort(): string | undefined {
    return this.pg.upstream ? `${this.pg.upstream}:5432` : undefined;
  }

  initdb(): Promise<void> {
    return this.after(300, 1000, () => this.pg.initdb());
  }

  async configure(target: { role: 'primary' } | { role: 'replica'; upstream?: Upstream }): Promise<void> {
    this.pg.configure(target.role, target.role === 'replica' ? target.upstream?.name : undefined);
    if (target.role === 'replica' && target.upstream) this.h.trace(`configured to follow ${target.upstream.name}`);
    this.h.ctx.touched();
  }

  start(): Promise<void> {
    return this.pgctl((caller, cb) => this.pg.start(caller, cb));
  }

  stop(mode: 'smart' | 'fast' | 'immediate', timeoutMs: number): Promise<void> {
    return this.pgctl((caller, cb) => this.pg.stop(mode === 'immediate' ? 'immediate' : 'fast', timeoutMs, caller, cb));
  }

  /** The model's replica takes a new upstream at configure; nothing more to do. */
  async reload(): Promise<void> {}

  async setSyncStandbyNames(value: string | undefined): Promise<void> {
    this.pg.syncGuc = value ?? '';
    this.h.ctx.touched();
  }

  promote(): Promise<void> {
    return this.pgctl((caller, cb) => this.pg.promote(caller, cb));
  }

  checkpoint(): Promise<void> {
    return this.after(50, 500, () => undefined);
  }

  /** The history file of `timeline`: the current one's, one written before a promotion, or an ancestor's. */
  async timelineHistory(timeline: number): Promise<Array<[number, number, string]>> {
    const pg = this.pg;
    const lines = timeline === pg.timeline ? pg.history : pg.historyFiles.get(timeline) ?? ancestor(pg.history, timeline);
    if (!lines) throw new Error(`could not open file "pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history"`);
    return lines.map(([tl, lsn]) => [tl, lsn, REASON]);
  }

  async newestTimelineHistory(): Promise<Array<[number, number, string]> | undefined> {
    return this.pg.timeline > 1 ? this.timelineHistory(this.pg.timeline) : undefined;
  }

  async writeTimelineHistory(timeline: number, content: string): Promise<boolean> {
    const pg = this.pg;
    if (timeline === pg.timeline || pg.historyFiles.has(timeline)) return false;
    const lines = content.split('\n').filter((l) => l.trim()).map((l) => {
      const [tl, lsn] = l.split('\t');
      return [Number(tl), parseLsn(lsn!)] as [number, number];
    });
    pg.historyFiles.set(timeline, lines);
    this.h.trace(`wrote the cluster's history file of timeline ${timeline} before promoting (it was used already)`);
    return true;
  }

  upstreamIsPrimary(upstream: Upstream): Promise<boolean> {
    return this.after(5, 50, () => {
      const src = this.h.reachablePostgres(upstream.name);
      return !!src && src.running && !src.stopping && src.role === 'primary';
    });
  }

  basebackup(from: Upstream): Promise<void> {
    this.pg.wipe();
    return this.after(500, 3000, () => {
      const src = this.h.reachablePostgres(from.name);
      if (!src || !src.running || src.stopping) throw new Error(`basebackup from ${from.name} failed`);
      const pg = this.pg;
      pg.dataDir = 'initialized';
      pg.log = src.log.slice();
      pg.timeline = src.timeline;
      pg.history = src.history.slice();
      pg.controlState = 'in archive recovery';
    });
  }

  /** pg_rewind: keeps the WAL both share and takes the source's timeline that holds it. */
  rewind(from: Upstream): Promise<boolean> {
    return this.after(200, 1000, () => {
      const src = this.h.reachablePostgres(from.name);
      if (!src || !src.running || src.stopping) return false;
      const pg = this.pg;
      const keep = commonPrefix(pg.log, src.log);
      this.h.trace(`rewound former primary to lsn ${keep * WAL_PER_WRITE} (dropped ${pg.log.length - keep} writes)`);
      pg.log = pg.log.slice(0, keep);
      const i = src.history.findIndex(([, fork]) => keep * WAL_PER_WRITE <= fork);
      pg.timeline = i >= 0 ? src.history[i]![0] : src.timeline;
      pg.history = i >= 0 ? src.history.slice(0, i) : src.history.slice();
      pg.historyFiles.clear();
      pg.controlState = 'in archive recovery';
      return true;
    });
  }

  async wipeDataDir(): Promise<void> {
    this.pg.wipe();
  }

  async moveDataDirAside(): Promise<string> {
    this.pg.wipe();
    return `${this.pg.name}.diverged`;
  }

  async createRoles(): Promise<void> {}

  async ensureSlots(): Promise<void> {}

  async dropSlots(): Promise<void> {}
}

/** The history of an older timeline `k` of this history: the lines before the switch away from k. */
function ancestor(history: ReadonlyArray<readonly [number, number]>, k: number): Array<[number, number]> | undefined {
  const i = history.findIndex(([tl]) => tl === k);
  return i >= 0 ? history.slice(0, i).map(([tl, lsn]) => [tl, lsn]) : undefined;
}
