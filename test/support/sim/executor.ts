/**
 * The actions of decide() carried out as src/agent/execute.ts does, with simulated durations: the same DCS writes
 * in the same order (through the simulated network), pg_ctl operations on the simulated postgres.
 */
import type { Action } from '../../../src/agent/actions';
import { historyKeyLines, promotionAnnouncement, skippedLines, timelineFilesToWrite } from '../../../src/agent/execute';
import type { DynamicConfig } from '../../../src/config/types';
import type { MemoryStore } from '../../../src/dcs/memory/memory-store';
import type { ClusterView, HistoryLine } from '../../../src/model/cluster';
import type { ClusterKeys } from '../../../src/model/keys';
import type { Res } from './context';
import type { SimLease } from './lease-model';
import { commonPrefix, SIM_SYSID, WAL_PER_WRITE, type SimPostgres } from './postgres-model';
import type { Proc } from './scheduler';
import { guard, series, type Next, type Step } from './steps';

export interface ExecHost {
  readonly name: string;
  readonly proc: Proc;
  readonly pg: SimPostgres;
  readonly lease: SimLease;
  readonly keys: ClusterKeys;
  /** The raw bootstrap.dcs map (written to the config key). */
  readonly rawDcs: Record<string, unknown>;
  now(): number;
  later(ms: number, fn: () => void): void;
  draw(lo: number, hi: number): number;
  dcs<T>(what: string, fn: (s: MemoryStore) => Promise<T>, cb: (r: Res<T>) => void): void;
  /** A peer's postgres, when this node can reach it over the network (basebackup, rewind source). */
  reachablePostgres(name: string): SimPostgres | undefined;
  trace(msg: string): void;
  /** Replication or acknowledgement rules may have changed (GUC, upstream). */
  touched(): void;
}

export interface ExecCtx {
  view: ClusterView | undefined;
  dynamic: DynamicConfig;
}

const WALL0 = Date.parse('2026-01-01T00:00:00Z');

export class SimExecutor {
  checkpointPending = false;
  private lastStatus = '';
  private historyChecked = '';

  constructor(private readonly h: ExecHost) {}

  /** A short action; `cb(go)` (false: a lost race stops the list) or an error. */
  runShort(action: Action, ctx: ExecCtx, cb: (r: Res<boolean>) => void): void {
    const { h } = this;
    const k = h.keys;
    const yes = (r: Res<unknown>) => cb(r.ok ? { ok: true, value: true } : r);
    switch (action.type) {
      case 'acquire_leader':
        return h.lease.ensureLease((l) => {
          if (!l.ok) return cb(l);
          h.dcs('creating leader', (s) => s.createIfAbsent(k.leader, h.name, l.value), (r) => {
            if (!r.ok) return cb(r);
            h.trace(r.value ? 'acquired leader key' : 'lost the leader race');
            if (!r.value) return cb(r);
            h.lease.keepAliveOnce(() => cb(r));
          });
        });
      case 'reattach_leader':
        return h.lease.ensureLease((l) => {
          if (!l.ok) return cb(l);
          h.dcs('re-attaching leader', (s) => s.putIfValue(k.leader, h.name, h.name, l.value), (r) => {
            if (!r.ok) return cb(r);
            h.trace(r.value ? `re-attached the leader key to lease ${l.value}` : 'the leader key is no longer ours');
            cb(r);
          });
        });
      case 'claim_sync': {
        const value = JSON.stringify({ leader: h.name, sync_standby: null });
        const rev = action.keyModRevision;
        return h.dcs('claiming sync', (s) => (rev === undefined ? s.createIfAbsent(k.sync, value) : s.putIfModRevision(k.sync, value, rev)), (r) => {
          if (!r.ok) return cb(r);
          if (!r.value) {
            h.trace('postponing promotion: the sync key was updated by somebody else');
            return cb(r);
          }
          h.pg.syncGuc = action.guc;
          h.touched();
          cb(r);
        });
      }
      case 'release_leader':
        return h.dcs('deleting leader', (s) => s.deleteIfValue(k.leader, h.name), yes);
      case 'follow':
        return this.guarded(cb, () => {
          h.pg.configure('replica', this.upstreamOf(ctx.view, action.leader));
          h.trace(`following ${action.leader}`);
          h.touched();
        });
      case 'write_initialize':
        return h.dcs('creating initialize', (s) => s.createIfAbsent(k.initialize, action.systemId), (r) => {
          if (!r.ok || r.value) return yes(r);
          h.dcs('writing initialize', (s) => s.put(k.initialize, action.systemId), yes);
        });
      case 'write_config':
        return h.dcs('writing config', (s) => s.put(k.config, JSON.stringify(h.rawDcs)), yes);
      case 'publish_status': {
        if (!h.pg.running || h.pg.stopping || h.pg.role !== 'primary') return cb({ ok: true, value: true });
        const status = JSON.stringify({ optime: h.pg.lsn });
        const history = (next: () => void) => this.syncHistory(ctx, next);
        if (status === this.lastStatus) return history(() => cb({ ok: true, value: true }));
        return h.dcs('writing status', (s) => s.put(k.status, status), (r) => {
          if (r.ok) this.lastStatus = status;
          if (!r.ok) return yes(r);
          history(() => yes(r));
        });
      }
      case 'sync':
        return this.applySync(action, ctx, (err) => cb(err ? { ok: false, error: err } : { ok: true, value: true }));
      case 'clear_failover':
        return h.dcs('clearing failover', (s) => s.putIfModRevision(k.failover, '{}', action.modRevision), yes);
      default:
        return cb({ ok: false, error: new Error(`action ${action.type} is not simulated`) });
    }
  }

  runLong(action: Action, ctx: ExecCtx, done: Next): void {
    switch (action.type) {
      case 'bootstrap':
        return this.bootstrap(done);
      case 'create_replica':
        return this.createReplica(ctx, action.source ?? '', done);
      case 'start_primary':
        return series([guard(() => this.h.pg.configure('primary')), (n) => this.start(n)], done);
      case 'start_replica':
        return this.startReplica(ctx, action.leader, done);
      case 'promote':
        return this.promote(ctx, action.reason, done);
      case 'demote':
        return this.demote(ctx, action.mode, action.leader, done);
      case 'rewind':
        return this.rewindAndFollow(ctx, action.leader, done);
      default:
        return done(new Error(`action ${action.type} is not simulated`));
    }
  }

  /** Self-fencing: stop fast within the budget, else immediately. */
  fence(budgetMs: number, done: Next): void {
    this.stop('fast', Math.max(500, budgetMs), (err) => (err ? this.stop('immediate', 5000, done) : done()));
  }

  private stop(mode: 'fast' | 'immediate', timeoutMs: number, next: Next): void {
    this.h.pg.stop(mode, timeoutMs, this.h.proc, (r) => next(r.ok ? undefined : r.error));
  }

  private start(next: Next): void {
    this.h.pg.start(this.h.proc, (r) => next(r.ok ? undefined : r.error));
  }

  private wait(lo: number, hi: number): Step {
    return (next) => this.h.later(this.h.draw(lo, hi), () => next());
  }

  private put(what: string, fn: (s: MemoryStore) => Promise<unknown>): Step {
    return (next) => this.h.dcs(what, fn, (r) => next(r.ok ? undefined : r.error));
  }

  private guarded(cb: (r: Res<boolean>) => void, fn: () => void): void {
    try {
      fn();
      cb({ ok: true, value: true });
    } catch (err) {
      cb({ ok: false, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  private bootstrap(done: Next): void {
    const { h } = this;
    const k = h.keys;
    h.dcs('creating initialize', (s) => s.createIfAbsent(k.initialize, ''), (r) => {
      if (!r.ok) return done(r.error);
      if (!r.value) {
        h.trace('lost the initialize race');
        return done();
      }
      let lease = '';
      series([
        guard(() => h.pg.wipe()),
        this.wait(300, 1000),
        guard(() => h.pg.initdb()),
        guard(() => h.pg.configure('primary')),
        (n) => this.start(n),
        (n) => h.lease.ensureLease((l) => (l.ok ? ((lease = l.value), n()) : n(l.error))),
        this.put('writing initialize', (s) => s.put(k.initialize, SIM_SYSID)),
        this.put('writing config', (s) => s.put(k.config, JSON.stringify(h.rawDcs))),
        this.put('writing leader', (s) => s.put(k.leader, h.name, lease)),
        (n) => h.lease.keepAliveOnce(() => n()),
        this.put('writing history', (s) => s.put(k.history, '[]')),
      ], (err) => {
        if (!err) {
          h.trace('initialized a new cluster');
          return done();
        }
        h.trace(`bootstrap failed: ${err.message}`);
        this.stop('immediate', 10_000, () => h.dcs('deleting initialize', (s) => s.deleteIfValue(k.initialize, ''), () => {
          h.pg.wipe();
          done(err);
        }));
      });
    });
  }

  private basebackup(source: string): Step {
    return (next) => {
      const { h } = this;
      h.pg.wipe();
      h.later(h.draw(500, 3000), () => {
        const src = h.reachablePostgres(source);
        if (!src || !src.running || src.stopping) return next(new Error(`basebackup from ${source} failed`));
        h.pg.dataDir = 'initialized';
        h.pg.log = src.log.slice();
        h.pg.timeline = src.timeline;
        h.pg.history = src.history.slice();
        h.pg.controlState = 'in archive recovery';
        next();
      });
    };
  }

  private createReplica(ctx: ExecCtx, source: string, done: Next): void {
    const leader = ctx.view?.leader?.name;
    series([
      this.basebackup(source),
      guard(() => this.h.pg.configure('replica', leader ? this.upstreamOf(ctx.view, leader) : undefined)),
      (n) => this.start(n),
    ], (err) => {
      if (err && this.h.pg.log.length === 0) this.h.pg.wipe();
      done(err);
    });
  }

  private startReplica(ctx: ExecCtx, leader: string | undefined, done: Next): void {
    const { pg } = this.h;
    if (!leader) return series([guard(() => pg.configure('replica')), (n) => this.start(n)], done);
    let upstream = '';
    series([
      guard(() => (upstream = this.upstreamOf(ctx.view, leader))),
      (n) => {
        const formerPrimary = pg.dataDir === 'initialized' && !/recovery/.test(pg.controlState) && !pg.standbySignal;
        if (!formerPrimary) return n();
        this.rejoin(ctx, upstream, n);
      },
      guard(() => pg.configure('replica', upstream)),
      (n) => this.start(n),
    ], done);
  }

  /** pg_rewind from the leader; when that fails, move the data directory aside and clone again. */
  private rejoin(ctx: ExecCtx, upstream: string, done: Next): void {
    const { h } = this;
    if (ctx.view?.members.get(upstream)?.doc.checkpoint_after_promote === false) {
      return done(new Error(`waiting for checkpoint on ${upstream} before rewind`));
    }
    h.later(h.draw(200, 1000), () => {
      const src = h.reachablePostgres(upstream);
      if (ctx.dynamic.postgresql.usePgRewind && src && src.running && !src.stopping) {
        const keep = commonPrefix(h.pg.log, src.log);
        h.trace(`rewound former primary to lsn ${keep * 1000} (dropped ${h.pg.log.length - keep} writes)`);
        h.pg.log = h.pg.log.slice(0, keep);
        // What it keeps is the source's WAL up to `keep`: on the timeline of the source's history that holds it.
        const i = src.history.findIndex(([, fork]) => keep * WAL_PER_WRITE <= fork);
        h.pg.timeline = i >= 0 ? src.history[i]![0] : src.timeline;
        h.pg.history = i >= 0 ? src.history.slice(0, i) : src.history.slice();
        h.pg.historyFiles.clear();
        h.pg.controlState = 'in archive recovery';
        return done();
      }
      h.trace('rewind failed; moving the data directory aside and cloning again');
      this.basebackup(upstream)(done);
    });
  }

  /** A diverged running replica: stop it, rewind it from the leader (or re-clone), start it as its replica (execute.ts). */
  private rewindAndFollow(ctx: ExecCtx, leader: string, done: Next): void {
    const { h } = this;
    let upstream = '';
    series([
      guard(() => (upstream = this.upstreamOf(ctx.view, leader))),
      guard(() => {
        if (ctx.view?.members.get(leader)?.doc.checkpoint_after_promote === false) throw new Error(`waiting for checkpoint on ${leader} before rewind`);
      }),
      (n) => h.later(h.draw(5, 50), () => {
        const src = h.reachablePostgres(leader);
        n(src && src.running && !src.stopping && src.role === 'primary' ? undefined : new Error(`${leader} does not answer as a primary; not rewinding now`));
      }),
      (n) => this.stop('fast', 60_000, (err) => (err ? this.stop('immediate', 10_000, n) : n())),
      (n) => this.rejoin(ctx, upstream, n),
      guard(() => h.pg.configure('replica', upstream)),
      (n) => this.start(n),
    ], done);
  }

  /** execute.ts avoidTimelineCollision: the history files of the timeline numbers in use after mine (timelineFilesToWrite). */
  private avoidTimelineCollision(files: ReadonlyArray<readonly [number, Array<[number, number]>]>): void {
    const { pg } = this.h;
    if (!pg.running || pg.role !== 'replica') return;
    for (const [timeline, lines] of files) {
      if (pg.historyFiles.has(timeline)) continue;
      pg.historyFiles.set(timeline, lines);
      this.h.trace(`wrote the cluster's history file of timeline ${timeline} before promoting (it was used already)`);
    }
  }

  /**
   * execute.ts announcePromotion: the history key learns the timeline number this promotion takes before pg_ctl
   * promote; hands on the files to write, from the key read here.
   */
  private announcePromotion(ctx: ExecCtx, reason: string, done: (err: Error | undefined, files: Array<[number, Array<[number, number]>]>) => void): void {
    const { h } = this;
    const timeline = h.pg.timeline;
    const lsn = h.pg.lsn;
    h.dcs('reading history', (s) => s.get(h.keys.history), (r) => {
      if (!r.ok) return done(r.error, []);
      let current: unknown[] = [];
      try {
        const parsed: unknown = r.value ? JSON.parse(r.value.value) : [];
        current = Array.isArray(parsed) ? parsed.filter((l) => Array.isArray(l)) : [];
      } catch {
        current = [];
      }
      const probe = { reachable: true, inRecovery: h.pg.running && h.pg.role === 'replica', timeline, receiveLsn: lsn, replayLsn: lsn };
      const members = [...(ctx.view?.members.values() ?? [])].map((m) => Number(m.doc.timeline ?? 0) || 0);
      const files = timelineFilesToWrite(current as HistoryLine[], probe, Math.max(0, ...members), h.pg.history);
      const ends = promotionAnnouncement(current as HistoryLine[], files, timeline);
      if (ends === undefined) return done(undefined, files);
      const text = JSON.stringify([...current, [ends, lsn, reason, new Date(WALL0 + h.now()).toISOString(), h.name]]);
      this.put('announcing the promotion', (s) => s.put(h.keys.history, text))((err) => done(err, files));
    });
  }

  private promote(ctx: ExecCtx, reason: string, done: Next): void {
    const { h } = this;
    const k = h.keys;
    const oldTimeline = h.pg.timeline;
    let switchLsn = h.pg.lsn;
    let parent = oldTimeline;
    let own: Array<[number, number]> = [];
    let history: unknown[] = [];
    let files: Array<[number, Array<[number, number]>]> = [];
    this.checkpointPending = true;
    series([
      (n) => this.announcePromotion(ctx, reason, (err, f) => {
        files = f;
        n(err);
      }),
      guard(() => this.avoidTimelineCollision(files)),
      (n) => h.pg.promote(h.proc, (r) => n(r.ok ? undefined : r.error)),
      guard(() => h.pg.configure('primary')),
      guard(() => {
        own = h.pg.history.slice();
        const last = own[own.length - 1];
        if (last) [parent, switchLsn] = last;
      }),
      (n) => h.dcs('reading history', (s) => s.get(k.history), (r) => {
        if (!r.ok) return n(r.error);
        try {
          const parsed: unknown = r.value ? JSON.parse(r.value.value) : [];
          history = Array.isArray(parsed) ? parsed : [];
        } catch {
          history = [];
        }
        n();
      }),
      (n) => {
        // As execute.ts promote: the key from the new timeline's history, the promotion line, skipped numbers.
        const promotion = [parent, switchLsn, reason, new Date(WALL0 + h.now()).toISOString(), h.name];
        const file = own.slice(0, -1).map(([tl, lsn]) => [tl, lsn, 'no recovery target specified'] as const);
        const lines = historyKeyLines(file, parent, history as HistoryLine[]).concat([promotion], skippedLines(parent, h.pg.timeline, switchLsn));
        this.put('writing history', (s) => s.put(k.history, JSON.stringify(lines)))(n);
      },
      this.wait(50, 500),
    ], (err) => {
      this.checkpointPending = false;
      done(err);
    });
  }

  private demote(ctx: ExecCtx, mode: 'offline' | 'immediate-nolock' | 'graceful', leader: string | undefined, done: Next): void {
    const { h } = this;
    series([
      (n) => {
        if (mode === 'immediate-nolock') return this.stop('immediate', 10_000, n);
        if (mode === 'graceful') return this.stop('fast', 60_000, (err) => (err ? this.stop('immediate', 10_000, n) : n()));
        this.fence(h.lease.fenceMarginMs, n);
      },
      (n) => (mode === 'graceful' ? this.put('deleting leader', (s) => s.deleteIfValue(h.keys.leader, h.name))(n) : n()),
      (n) => {
        if (leader && ctx.view?.members.has(leader)) return this.startReplica(ctx, leader, n);
        series([guard(() => h.pg.configure('replica')), (m) => this.start(m)], n);
      },
    ], done);
  }

  /**
   * Sync mode order: a standby leaves the `sync` key before it leaves synchronous_standby_names, and enters the key
   * only after postgres reports it synchronous.
   */
  private applySync(a: Extract<Action, { type: 'sync' }>, ctx: ExecCtx, done: Next): void {
    const { h } = this;
    const k = h.keys;
    const setGuc: Step = guard(() => {
      h.pg.syncGuc = a.guc ?? '';
      h.touched();
    });
    if (a.off) {
      const del: Step = (n) => (a.keyModRevision !== undefined ? this.put('deleting sync', (s) => s.deleteIfModRevision(k.sync, a.keyModRevision!))(n) : n());
      return series([del, setGuc], done);
    }
    const old = ctx.view?.sync?.leader === h.name ? ctx.view.sync.syncStandby : [];
    const next = [...a.standbys].sort();
    const keyValue = JSON.stringify({ leader: h.name, sync_standby: next.length ? next.join(',') : null });
    const keyChanged = ctx.view?.sync?.leader !== h.name || old.slice().sort().join(',') !== next.join(',');
    const writeKey: Step = (n) => {
      if (!keyChanged) return n();
      h.dcs('writing sync', (s) => (a.keyModRevision === undefined ? s.createIfAbsent(k.sync, keyValue) : s.putIfModRevision(k.sync, keyValue, a.keyModRevision)), (r) => {
        if (!r.ok) return n(r.error);
        n(r.value ? undefined : new Error('the sync key changed under us; retrying next cycle'));
      });
    };
    const removed = old.some((n) => !next.includes(n));
    series(removed ? [writeKey, setGuc] : [setGuc, writeKey], done);
  }

  /** The history key follows the leader's timeline history (execute.ts syncHistory); a failure is only logged. */
  private syncHistory(ctx: ExecCtx, next: () => void): void {
    const { h } = this;
    const current = ctx.view?.history ?? [];
    const signature = `${h.pg.timeline}:${JSON.stringify(current)}`;
    if (!ctx.view || signature === this.historyChecked) return next();
    const file = h.pg.history.map(([tl, lsn]) => [tl, lsn, 'no recovery target specified'] as const);
    const text = JSON.stringify(historyKeyLines(file, h.pg.timeline, current));
    const timeline = h.pg.timeline;
    if (ctx.view.history !== undefined && text === JSON.stringify(current)) {
      this.historyChecked = `${timeline}:${text}`;
      return next();
    }
    h.dcs('writing history', (s) => s.put(h.keys.history, text), (r) => {
      if (r.ok) this.historyChecked = `${timeline}:${text}`;
      else h.trace(`updating the history key failed: ${r.error.message}`);
      next();
    });
  }

  upstreamOf(view: ClusterView | undefined, name: string): string {
    const m = view?.members.get(name);
    if (!m?.host || !m.port) throw new Error(`member ${name} has no usable conn_url`);
    return m.name;
  }
}
