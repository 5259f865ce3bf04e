/**
 * PostgresOps with the user's scripts around it: the executor keeps calling start/stop/reload/promote as before, and
 * this layer fires the callback Patroni would (callback-map.ts decides which, callbacks.ts runs it), runs
 * `before_stop` before a stop of a running postgres and `pre_promote` before a promotion. Everything else passes
 * straight through. Without any script configured the agent uses the plain ops (no wrapper).
 */
import type { Logger } from '../log/logger';
import type { DynamicConfig } from '../config/types';
import type { PostgresProbe } from '../model/postgres-state';
import type { DataDirState } from './observation';
import type { ControlData, OnCopyProgress, PostgresOps, Upstream } from './postgres-ops';
import { callbackFor, INITIAL_CALLBACK_STATE, type CallbackIntent, type CallbackState, type PostgresChange } from './callback-map';
import type { ScriptRunner } from './callbacks';

export interface HookScripts {
  prePromote?: string;
  beforeStop?: string;
}

export class HookedPostgresOps implements PostgresOps {
  private state: CallbackState = INITIAL_CALLBACK_STATE;

  constructor(
    private readonly inner: PostgresOps,
    private readonly scripts: ScriptRunner,
    private readonly hooks: HookScripts,
    private readonly log: Logger,
  ) {}

  /** The callback state (role as Patroni would pass it), for tests and logs. */
  get callbackState(): CallbackState {
    return this.state;
  }

  intend(intent: CallbackIntent): void {
    this.apply({ kind: 'intent', intent });
  }

  /** Patroni's _pre_promote: true when there is no script or it exited 0. */
  async prePromote(): Promise<boolean> {
    if (!this.hooks.prePromote) return true;
    const code = await this.scripts.runWaited('pre_promote', this.hooks.prePromote);
    this.log.info({ exitCode: code ?? null }, 'pre_promote script ended');
    return code === 0;
  }

  async start(): Promise<void> {
    await this.inner.start();
    this.apply({ kind: 'started', role: (await this.inner.hasStandbySignal()) ? 'replica' : 'master' });
  }

  async stop(mode: 'smart' | 'fast' | 'immediate', timeoutMs: number, opts?: { fencing?: boolean }): Promise<void> {
    await this.seedRole();
    // Unknown counts as running: before_stop then runs (as before any stop of a live server) and the stop goes ahead.
    const wasRunning = await this.inner.isRunning().catch((err: unknown) => {
      this.log.warn({ err }, 'checking whether postgres runs before stopping it failed');
      return true;
    });
    // The self-fencing stop never waits for a script: the lock's validity is running out (a deviation from Patroni).
    if (wasRunning && this.hooks.beforeStop && !opts?.fencing) await this.scripts.runWaited('before_stop', this.hooks.beforeStop);
    await this.inner.stop(mode, timeoutMs, opts);
    this.apply({ kind: 'stopped', wasRunning });
  }

  async reload(): Promise<void> {
    await this.seedRole();
    await this.inner.reload();
    this.apply({ kind: 'reloaded' });
  }

  async promote(): Promise<void> {
    await this.inner.promote();
    this.apply({ kind: 'promoted' });
  }

  /**
   * An agent started next to a running postgres has fired nothing yet: as Patroni, its role is what the data
   * directory says (standby.signal: replica, else master) until a start or a promotion sets it.
   */
  private async seedRole(): Promise<void> {
    if (this.state.role !== 'uninitialized') return;
    if ((await this.inner.dataDirState().catch(() => 'missing')) !== 'initialized') return;
    const role = (await this.inner.hasStandbySignal()) ? 'replica' : 'master';
    if (this.state.role === 'uninitialized') this.state = { ...this.state, role };
  }

  private apply(change: PostgresChange): void {
    const step = callbackFor(this.state, change);
    this.state = step.state;
    if (step.call) this.scripts.call(step.call.action, step.call.role);
  }

  useDynamic(dynamic: DynamicConfig): void {
    this.inner.useDynamic(dynamic);
  }
  dataDirState(): Promise<DataDirState> {
    return this.inner.dataDirState();
  }
  controlData(): Promise<ControlData | undefined> {
    return this.inner.controlData();
  }
  isRunning(): Promise<boolean> {
    return this.inner.isRunning();
  }
  probe(): Promise<PostgresProbe> {
    return this.inner.probe();
  }
  hasStandbySignal(): Promise<boolean> {
    return this.inner.hasStandbySignal();
  }
  followingHostPort(): string | undefined {
    return this.inner.followingHostPort();
  }
  initdb(): Promise<void> {
    return this.inner.initdb();
  }
  configure(target: { role: 'primary' } | { role: 'replica'; upstream?: Upstream }): Promise<void> {
    return this.inner.configure(target);
  }
  setSyncStandbyNames(value: string | undefined): Promise<void> {
    return this.inner.setSyncStandbyNames(value);
  }
  checkpoint(): Promise<void> {
    return this.inner.checkpoint();
  }
  timelineHistory(timeline: number): Promise<Array<[number, number, string]>> {
    return this.inner.timelineHistory(timeline);
  }
  newestTimelineHistory(): Promise<Array<[number, number, string]> | undefined> {
    return this.inner.newestTimelineHistory();
  }
  writeTimelineHistory(timeline: number, content: string): Promise<boolean> {
    return this.inner.writeTimelineHistory(timeline, content);
  }
  upstreamIsPrimary(upstream: Upstream): Promise<boolean> {
    return this.inner.upstreamIsPrimary(upstream);
  }
  basebackup(from: Upstream, onProgress?: OnCopyProgress): Promise<void> {
    return this.inner.basebackup(from, onProgress);
  }
  rewind(from: Upstream, onProgress?: OnCopyProgress): Promise<boolean> {
    return this.inner.rewind(from, onProgress);
  }
  wipeDataDir(): Promise<void> {
    return this.inner.wipeDataDir();
  }
  moveDataDirAside(): Promise<string> {
    return this.inner.moveDataDirAside();
  }
  createRoles(): Promise<void> {
    return this.inner.createRoles();
  }
  ensureSlots(names: string[]): Promise<void> {
    return this.inner.ensureSlots(names);
  }
  dropSlots(names: string[]): Promise<void> {
    return this.inner.dropSlots(names);
  }
}
