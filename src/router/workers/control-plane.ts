/**
 * `workers: N` (N > 1): this process is the router's control plane. It follows etcd and the agents (Topology, in
 * index.ts) and forks N worker processes (node:cluster, worker-main.ts) that serve the listeners on shared sockets:
 * this process accepts and hands each connection to the next worker in turn (SCHED_RR). Every table
 * goes to every worker at once, with its times on the host's monotonic clock; each worker fences itself on the
 * table's write bound (remote-topology.ts). Figures come back: per-worker stats every second, metrics on scrape
 * (summed with this process's registry), so /metrics is one registry for the whole router.
 */
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../../log/logger';
import type { RouterMetrics } from '../../metrics/router-metrics';
import type { Scheduler } from '../../lib/clock';
import type { RouterConfig, RoutingTable } from '../types';
import { shiftTable } from './fence';
import { hostMonotonicMs, type FromWorker, type ToWorker, type WorkerStats } from './messages';
import { mergeClientStats, type ClientStats } from '../pool/client-stats';
import type { PoolStats } from '../pool/pool-control';
import { mergePoolStats } from './pool-figures';
import { WorkerPauses, type PausableWorker } from './worker-pauses';

/** The worker's entry (a path, not an import: the router does not depend on the CLI). */
const WORKER_MAIN = join(__dirname, '..', '..', 'cli', 'router-worker.js');
/** How long a worker may take to start listening before the router's start fails. */
const READY_TIMEOUT_MS = 30_000;
/** A worker that died is started again after this, doubled per quick death up to RESTART_MAX_MS. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** Scrapes wait at most this long for a worker's registry; a silent worker's figures are left out. */
const METRICS_TIMEOUT_MS = 2000;
/** A worker's "idle" answer to a drain is waited for this long at most (the drain's own timeout is shorter). */
const IDLE_TIMEOUT_MS = 120_000;
/**
 * The table is derived again this often, so the workers always hold a write bound well ahead of now: the
 * topology itself recomputes only when something changes or at the bound, and a worker reaching the bound a
 * moment before the extended table arrives would cut every write session.
 */
const REFRESH_MS = 500;

interface Slot {
  index: number;
  worker?: Worker;
  stats?: WorkerStats;
  ready: boolean;
  restarts: number;
  startedAtMs: number;
  restartDelayMs: number;
  /** WorkerPauses.version sent in the worker's init. */
  pauseVersion: number;
}

export interface WorkerPoolDeps {
  logger: Logger;
  scheduler: Scheduler;
  /** The current table (this process's clock). */
  table: () => RoutingTable;
  checkNow: (member: string) => void;
  /** Derives the table again now (its write bound moves with the last etcd contact). */
  recompute: () => void;
}

/** Per-worker figures for /status. */
export interface WorkerStatus {
  index: number;
  pid: number | null;
  ready: boolean;
  restarts: number;
  uptimeSeconds: number;
  generation: number | null;
  connections: Record<string, { active: number; pending: number; held: number }>;
}

let policySet = false;

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private stopping = false;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: FromWorker) => void>();
  private refreshTimer: unknown;
  /** Pooled listeners: PAUSE/RESUME and the drain's idle wait, on every worker (worker-pauses.ts). */
  readonly pauses = new WorkerPauses(
    () => this.live().map((s) => this.pausable(s)),
    (member) => this.poolStats().reduce((n, p) => n + (member === undefined || p.member === member ? p.sv_active : 0), 0),
  );

  constructor(
    private config: RouterConfig,
    private readonly deps: WorkerPoolDeps,
  ) {}

  /** Forks the workers and waits until every one listens (or one fails: the error names it). */
  async listen(): Promise<void> {
    if (!policySet) {
      // Round-robin: this process accepts and hands each connection (its descriptor) to the next worker, which
      // then owns it; the data never passes through here. With SCHED_NONE the kernel wakes whichever worker waits
      // first, which on a quiet host is the same one every time (measured: 200 connections in a row to one worker).
      cluster.schedulingPolicy = cluster.SCHED_RR;
      policySet = true;
    }
    cluster.setupPrimary({
      exec: WORKER_MAIN,
      args: [],
      execArgv: process.execArgv.filter((a) => !a.startsWith('--test')),
      serialization: 'advanced',
    });
    for (let i = 0; i < this.config.workers; i++) this.slots.push({ index: i, ready: false, restarts: 0, startedAtMs: 0, restartDelayMs: RESTART_MIN_MS, pauseVersion: 0 });
    const refresh = (): void => {
      this.refreshTimer = this.deps.scheduler.setTimer(() => {
        if (this.stopping) return;
        this.deps.recompute();
        refresh();
      }, REFRESH_MS);
    };
    refresh();
    const started = this.slots.map((slot) => this.start(slot));
    const results = await Promise.allSettled(started);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
  }

  private start(slot: Slot): Promise<void> {
    const worker = cluster.fork({ PGHA_ROUTER_WORKER: String(slot.index) });
    slot.worker = worker;
    slot.ready = false;
    slot.startedAtMs = this.deps.scheduler.now();
    return new Promise<void>((resolve, reject) => {
      const timer = this.deps.scheduler.setTimer(() => {
        reject(new Error(`router worker ${slot.index} did not start listening within ${READY_TIMEOUT_MS / 1000} s`));
        worker.process.kill('SIGKILL');
      }, READY_TIMEOUT_MS);
      const settle = (err?: Error): void => {
        this.deps.scheduler.clearTimer(timer);
        if (err) reject(err);
        else resolve();
      };
      worker.on('message', (m: FromWorker) => this.onMessage(slot, worker, m, settle));
      // A send racing the worker's exit fails with EPIPE on the channel: the exit handler deals with the worker, and
      // without a listener the error would end this process.
      worker.on('error', (err) => this.deps.logger.warn({ worker: slot.index, err }, 'router worker channel error'));
      worker.once('exit', (code, signal) => {
        settle(new Error(`router worker ${slot.index} exited before listening (code ${code}, signal ${signal})`));
        this.onExit(slot, worker, code, signal);
      });
    });
  }

  private onMessage(slot: Slot, worker: Worker, m: FromWorker, settle: (err?: Error) => void): void {
    switch (m.t) {
      case 'hello': {
        const init: ToWorker = {
          t: 'init',
          index: slot.index,
          config: this.config,
          logLevel: this.deps.logger.level,
          table: this.shared(this.deps.table()),
          hostNowMs: hostMonotonicMs(),
          paused: this.pauses.state(),
        };
        slot.pauseVersion = this.pauses.version;
        worker.send(init);
        break;
      }
      case 'ready':
        slot.ready = true;
        slot.stats = m.stats;
        this.deps.logger.info({ worker: slot.index, pid: m.stats.pid, ports: m.stats.ports }, 'router worker listening');
        // A table may have changed between init and now: send the current one.
        worker.send({ t: 'table', table: this.shared(this.deps.table()) } satisfies ToWorker);
        if (slot.pauseVersion !== this.pauses.version) this.pauses.replay(this.pausable(slot));
        settle();
        break;
      case 'failed':
        settle(new Error(m.error));
        break;
      case 'stats':
        slot.stats = m.stats;
        break;
      case 'check':
        this.deps.checkNow(m.member);
        break;
      case 'reconfigured':
        slot.stats = m.stats;
        this.waiting.get(m.id)?.(m);
        break;
      case 'metrics':
      case 'idle':
        this.waiting.get(m.id)?.(m);
        break;
      case 'cancel': {
        // A pooled client's key names its worker (index + 1): the cancel goes there, to be resolved as its own.
        const home = this.slots[m.keyWorker - 1];
        if (home?.ready && home.worker?.isConnected()) home.worker.send(m);
        else this.deps.logger.debug({ worker: m.keyWorker - 1, listener: m.listener }, 'forwarded cancel for a worker that is not running dropped');
        break;
      }
      default:
        break;
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    const wasReady = slot.ready;
    slot.worker = undefined;
    slot.ready = false;
    slot.stats = undefined;
    if (this.stopping || !wasReady) return;
    const ranMs = this.deps.scheduler.now() - slot.startedAtMs;
    slot.restartDelayMs = ranMs > 60_000 ? RESTART_MIN_MS : Math.min(RESTART_MAX_MS, slot.restartDelayMs * 2);
    this.deps.logger.error({ worker: slot.index, code, signal, restartInMs: slot.restartDelayMs }, 'router worker died: starting a new one');
    this.deps.scheduler.setTimer(() => {
      if (this.stopping) return;
      slot.restarts++;
      this.start(slot).catch((err: unknown) => this.deps.logger.error({ err, worker: slot.index }, 'router worker restart failed'));
    }, slot.restartDelayMs);
  }

  /** A table in host-clock times, for another process. */
  private shared(t: RoutingTable): RoutingTable {
    return shiftTable(t, hostMonotonicMs() - this.deps.scheduler.now());
  }

  /** Every table goes to every worker at once (also unchanged ones: they carry a fresher write bound). */
  onTable(table: RoutingTable, _previous?: RoutingTable): void {
    const msg: ToWorker = { t: 'table', table: this.shared(table) };
    for (const s of this.slots) if (s.ready && s.worker?.isConnected()) s.worker.send(msg);
  }

  private live(): Slot[] {
    return this.slots.filter((s) => s.ready && s.worker?.isConnected());
  }

  private pausable(s: Slot): PausableWorker {
    return {
      index: s.index,
      send: (m) => s.worker?.send(m),
      askIdle: async (member) => (await this.askOne(s, (id) => ({ t: 'idle', id, ...(member !== undefined ? { member } : {}) }), IDLE_TIMEOUT_MS)) !== undefined,
    };
  }

  /** Sends a request to one worker; its answer, or undefined when none came within the timeout. */
  private askOne(s: Slot, make: (id: number) => ToWorker, timeoutMs: number): Promise<FromWorker | undefined> {
    return new Promise<FromWorker | undefined>((resolve) => {
      const id = this.nextId++;
      const timer = this.deps.scheduler.setTimer(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(id, (m) => {
        this.deps.scheduler.clearTimer(timer);
        this.waiting.delete(id);
        resolve(m);
      });
      s.worker!.send(make(id));
    });
  }

  /** Sends a request to every live worker and collects the answers that come within the timeout. */
  private async ask(make: (id: number) => ToWorker, timeoutMs: number): Promise<FromWorker[]> {
    const answers = await Promise.all(this.live().map((s) => this.askOne(s, make, timeoutMs)));
    return answers.filter((a): a is FromWorker => a !== undefined);
  }

  /** The whole router's exposition: this process's registry summed with every worker's. */
  async metricsText(own: RouterMetrics): Promise<string> {
    const answers = await this.ask((id) => ({ t: 'metrics', id }), METRICS_TIMEOUT_MS);
    const parts = [await own.json(), ...answers.map((a) => (a.t === 'metrics' ? a.json : []))];
    return AggregatorRegistry.aggregate(parts as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  async reconfigure(config: RouterConfig): Promise<void> {
    if (config.workers !== this.config.workers) {
      this.deps.logger.warn({ running: this.config.workers, configured: config.workers }, 'workers changed: restart the router to apply it');
    }
    this.config = { ...config, workers: this.config.workers };
    const answers = await this.ask((id) => ({ t: 'reconfigure', id, config: this.config }), 30_000);
    const failed = answers.find((a) => a.t === 'reconfigured' && a.error);
    if (failed && failed.t === 'reconfigured') throw new Error(failed.error);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.refreshTimer !== undefined) this.deps.scheduler.clearTimer(this.refreshTimer);
    const exits = this.slots
      .filter((s) => s.worker && !s.worker.isDead())
      .map((s) => {
        const w = s.worker!;
        return new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          this.deps.scheduler.setTimer(() => w.process.kill('SIGKILL'), this.config.drainTimeoutMs + 5000);
          if (w.isConnected()) w.send({ t: 'stop' } satisfies ToWorker);
          else w.process.kill('SIGTERM');
        });
      });
    await Promise.all(exits);
  }

  // ------------------------------------------------------------------ figures (sums over the workers' last stats)

  ports(): Record<string, number> {
    return this.slots.find((s) => s.stats)?.stats?.ports ?? {};
  }

  heldCounts(): Record<string, number> {
    return sumRecords(this.slots.map((s) => s.stats?.held ?? {}));
  }

  sessionCounts(): Record<string, { active: number; pending: number; held: number }> {
    const out: Record<string, { active: number; pending: number; held: number }> = {};
    for (const s of this.slots) {
      for (const [name, c] of Object.entries(s.stats?.sessions ?? {})) {
        const o = (out[name] ??= { active: 0, pending: 0, held: 0 });
        o.active += c.active;
        o.pending += c.pending;
        o.held += c.held;
      }
    }
    return out;
  }

  connectionsByBackend(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const s of this.slots) for (const [name, per] of Object.entries(s.stats?.byBackend ?? {})) out[name] = sumRecords([out[name] ?? {}, per]);
    return out;
  }

  clientsByListener(top: number): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const s of this.slots) for (const [name, per] of Object.entries(s.stats?.byClient ?? {})) out[name] = sumRecords([out[name] ?? {}, per]);
    for (const [name, per] of Object.entries(out)) out[name] = Object.fromEntries(Object.entries(per).sort((a, b) => b[1] - a[1]).slice(0, top));
    return out;
  }

  /** SHOW POOLS and SHOW CLIENTS of the whole router: the workers' last reports, summed. */
  poolStats(): PoolStats[] {
    return mergePoolStats(this.slots.map((s) => s.stats?.pools ?? []));
  }

  clientStats(): ClientStats[] {
    return mergeClientStats(this.slots.map((s) => s.stats?.clients ?? []));
  }

  workers(): WorkerStatus[] {
    const now = this.deps.scheduler.now();
    return this.slots.map((s) => ({
      index: s.index,
      pid: s.worker?.process.pid ?? null,
      ready: s.ready,
      restarts: s.restarts,
      uptimeSeconds: s.ready ? Math.round((now - s.startedAtMs) / 100) / 10 : 0,
      generation: s.stats?.generation ?? null,
      connections: s.stats?.sessions ?? {},
    }));
  }
}

function sumRecords(records: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}
