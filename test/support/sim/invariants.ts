/**
 * The invariants, checked after every simulated event:
 * - single writer: at most one postgres accepts writes at any instant. The client writes straight to every postgres
 *   that accepts writes (a direct writer, not through a router), so a primary left running by a dead or frozen agent
 *   is seen at once. Only without the fence process (watchdog.mode off) a primary whose agent is SIGSTOPped has no
 *   way to be stopped: such overlaps are then measured, and are violations only in strictFreeze;
 * - one fence: never two fence processes holding one node's data directory (a restarted agent adopts the running one);
 * - synchronous mode: a postgres that starts accepting writes holds every acknowledged write;
 * - liveness: after the faults stop, within the bound, one leader (the leader key's holder accepts writes) and
 *   every other member a running replica streaming from it.
 */
import type { SimNode } from './node';
import { commonPrefix, isPrefix, WAL_PER_WRITE } from './postgres-model';
import { streamingFrom } from './replication';

const DIVERGED = 'diverged: ';

export interface Violation {
  kind: 'two-writers' | 'lost-acked-write' | 'liveness' | 'diverged-replica' | 'double-fence';
  atMs: number;
  message: string;
}

export interface CheckedWorld {
  readonly sched: { now: number };
  readonly nodes: ReadonlyMap<string, SimNode>;
  readonly acked: ReadonlySet<number>;
  readonly syncMode: 'off' | 'on' | 'strict';
  readonly quietAtMs: number;
  readonly store: { get(key: string): Promise<{ value: string } | undefined> };
  readonly keys: { leader: string };
  writers(): SimNode[];
  trace(who: string, msg: string): void;
}

export class Checker {
  readonly violations: Violation[] = [];
  promotions = 0;
  lostAsync = new Set<number>();
  unfencedOverlapMs = 0;
  private prevWriters = new Set<SimNode>();
  private overlapSince: number | undefined;
  private healthySince: number | undefined;
  private lastUnhealthy = '';

  constructor(private readonly w: CheckedWorld, private readonly o: { strictFreeze: boolean }) {}

  afterEvent(): void {
    const now = this.w.sched.now;
    const writers = this.w.writers();
    for (const n of writers) if (!this.prevWriters.has(n)) this.newWriter(n);
    if (this.overlapSince !== undefined && writers.length < 2) {
      this.unfencedOverlapMs += now - this.overlapSince;
      this.overlapSince = undefined;
    }
    if (writers.length >= 2) {
      const fenceable = writers.filter((n) => now >= n.unfencedUntil);
      if (fenceable.length >= 2 || this.o.strictFreeze) {
        this.violate('two-writers', `${writers.map((n) => n.name).join(' and ')} accept writes at the same time` +
          (fenceable.length < 2 ? ' (one has a SIGSTOPped agent)' : ''));
      } else {
        this.overlapSince ??= now;
      }
    }
    this.prevWriters = new Set(writers);
    for (const n of this.w.nodes.values()) if (n.fence.doubled) this.violate('double-fence', n.fence.doubled);
  }

  private newWriter(n: SimNode): void {
    this.promotions++;
    const have = new Set(n.pg.log);
    const missing = [...this.w.acked].filter((id) => !have.has(id));
    if (missing.length === 0) return;
    if (this.w.syncMode === 'off') {
      for (const id of missing) this.lostAsync.add(id);
      return;
    }
    this.violate('lost-acked-write', `${n.name} accepts writes without ${missing.length} acknowledged write(s) (e.g. #${missing.slice(0, 5).join(', #')})`);
  }

  private violate(kind: Violation['kind'], message: string): void {
    if (this.violations.some((v) => v.kind === kind)) return;
    const atMs = this.w.sched.now;
    this.violations.push({ kind, atMs, message });
    this.w.trace('CHECK', `VIOLATION ${kind}: ${message}`);
  }

  /** One liveness sample (after the quiet point). */
  async sampleHealth(): Promise<void> {
    const why = await this.unhealthy();
    if (why) {
      this.healthySince = undefined;
      if (why !== this.lastUnhealthy) this.w.trace('CHECK', `not healed: ${why}`);
      this.lastUnhealthy = why;
    } else {
      this.healthySince ??= this.w.sched.now;
    }
  }

  healMs(): number | undefined {
    return this.healthySince === undefined ? undefined : Math.max(0, this.healthySince - this.w.quietAtMs);
  }

  async atEnd(): Promise<void> {
    await this.sampleHealth();
    if (this.healthySince === undefined) {
      const diverged = this.lastUnhealthy.startsWith(DIVERGED);
      this.violate(diverged ? 'diverged-replica' : 'liveness', `not healed at the end of the run: ${this.lastUnhealthy.replace(DIVERGED, '')}`);
    }
    const leader = this.w.writers()[0];
    if (leader && this.w.syncMode !== 'off') {
      const have = new Set(leader.pg.log);
      const missing = [...this.w.acked].filter((id) => !have.has(id));
      if (missing.length) this.violate('lost-acked-write', `the final leader ${leader.name} lacks ${missing.length} acknowledged write(s)`);
    }
  }

  private async unhealthy(): Promise<string | undefined> {
    const writers = this.w.writers();
    if (writers.length !== 1) return `${writers.length} nodes accept writes`;
    const leader = writers[0]!;
    const key = await this.w.store.get(this.w.keys.leader).catch(() => undefined);
    if (key?.value !== leader.name) return `leader key names ${key?.value ?? 'nobody'}, ${leader.name} accepts writes`;
    for (const n of this.w.nodes.values()) {
      if (n === leader) continue;
      if (!n.agent) return `${n.name}: agent down`;
      if (!n.pg.running || n.pg.role !== 'replica') return `${n.name}: postgres ${n.pg.running ? n.pg.role : 'not running'} (${n.agent.lastReason})`;
      if (n.pg.upstream === leader.name && !isPrefix(n.pg.log, leader.pg.log) && !n.replBlocked()) {
        return `${DIVERGED}${n.name} follows ${leader.name} but its WAL has diverged (lsn ${n.pg.lsn}, common history ${commonPrefix(n.pg.log, leader.pg.log) * WAL_PER_WRITE}, leader at ${leader.pg.lsn}) and nothing rewinds it (${n.agent.lastReason})`;
      }
      if (streamingFrom(n, this.w.nodes) !== leader) {
        return `${n.name}: not streaming from ${leader.name} (upstream ${n.pg.upstream ?? 'none'}, lsn ${n.pg.lsn} vs ${leader.pg.lsn}; ${n.agent.lastReason})`;
      }
    }
    return undefined;
  }
}
