/**
 * A small in-memory PostgresOps for unit tests of the agent's shell (AgentRunner, Executor): one postgres whose role,
 * running state, timeline and position the test sets, and a log of every effect in order (`steps`), each with the
 * test clock's time when one is given. Failures are planted per method (`failNext`).
 */
import type { ControlData, PostgresOps, Upstream } from '../../src/agent/postgres-ops';
import type { DataDirState } from '../../src/agent/observation';
import type { PostgresProbe } from '../../src/model/postgres-state';

export const FAKE_SYSTEM_ID = '7000000000000000001';

export interface FakePostgresState {
  dataDir: DataDirState;
  running: boolean;
  standbySignal: boolean;
  timeline: number;
  lsn: number;
  /** pg_controldata's cluster state ('in production' after a crash of a primary, 'shut down' after a clean stop). */
  clusterState: string;
}

export class FakePostgres implements PostgresOps {
  readonly steps: string[] = [];
  /** When each step happened (the test clock), parallel to `steps`. */
  readonly at: number[] = [];
  state: FakePostgresState;
  /** Planted failures: method name → how many of its next calls throw. */
  private readonly failures = new Map<string, number>();
  /** Whether pg_rewind succeeds. */
  rewindWorks = true;
  /** Called with each effect as it happens (a test reads the store's state at that moment). */
  onStep: ((name: string) => void) | undefined;

  constructor(initial: Partial<FakePostgresState> = {}, private readonly clock: () => number = () => 0) {
    this.state = { dataDir: 'initialized', running: true, standbySignal: false, timeline: 1, lsn: 50_000_000, clusterState: 'in production', ...initial };
  }

  /** A running primary / a running replica / a former primary that crashed (stopped, still without standby.signal). */
  static primary(clock?: () => number): FakePostgres {
    return new FakePostgres({}, clock);
  }

  static replica(clock?: () => number): FakePostgres {
    return new FakePostgres({ standbySignal: true, clusterState: 'in archive recovery' }, clock);
  }

  static crashedPrimary(clock?: () => number): FakePostgres {
    return new FakePostgres({ running: false }, clock);
  }

  failNext(method: keyof PostgresOps, times = 1): void {
    this.failures.set(method, times);
  }


  private step(name: string): void {
    const left = this.failures.get(name.split(' ')[0]!) ?? 0;
    this.steps.push(name);
    this.at.push(this.clock());
    this.onStep?.(name);
    if (left > 0) {
      this.failures.set(name.split(' ')[0]!, left - 1);
      throw new Error(`${name}: planted failure`);
    }
  }

  private read(name: string): void {
    const left = this.failures.get(name) ?? 0;
    if (left > 0) {
      this.failures.set(name, left - 1);
      throw new Error(`${name}: planted failure`);
    }
  }

  useDynamic(): void {}
  async dataDirState(): Promise<DataDirState> {
    return this.state.dataDir;
  }

  async controlData(): Promise<ControlData | undefined> {
    if (this.state.dataDir !== 'initialized') return undefined;
    return { systemId: FAKE_SYSTEM_ID, clusterState: this.state.clusterState, timeline: this.state.timeline };
  }

  async isRunning(): Promise<boolean> {
    this.read('isRunning');
    return this.state.running;
  }

  async probe(): Promise<PostgresProbe> {
    this.read('probe');
    const s = this.state;
    if (!s.running) return { reachable: false };
    return s.standbySignal
      ? { reachable: true, inRecovery: true, timeline: s.timeline, receiveLsn: s.lsn, replayLsn: s.lsn, replicationState: 'streaming' }
      : { reachable: true, inRecovery: false, timeline: s.timeline, flushLsn: s.lsn };
  }

  async hasStandbySignal(): Promise<boolean> {
    this.read('hasStandbySignal');
    return this.state.standbySignal;
  }

  followingHostPort(): string | undefined {
    return undefined;
  }

  async initdb(): Promise<void> {
    this.step('initdb');
  }

  async configure(target: { role: 'primary' } | { role: 'replica'; upstream?: Upstream }): Promise<void> {
    this.step(target.role === 'primary' ? 'configure primary' : `configure replica${target.upstream ? ` of ${target.upstream.name}` : ''}`);
    this.state.standbySignal = target.role === 'replica';
  }

  async start(): Promise<void> {
    this.step('start');
    this.state.running = true;
    this.state.clusterState = this.state.standbySignal ? 'in archive recovery' : 'in production';
  }

  async stop(mode: 'smart' | 'fast' | 'immediate', _timeoutMs: number, opts?: { fencing?: boolean }): Promise<void> {
    this.step(`stop ${mode}${opts?.fencing ? ' (fencing)' : ''}`);
    this.state.running = false;
    this.state.clusterState = mode === 'immediate' ? this.state.clusterState : 'shut down';
  }

  async reload(): Promise<void> {
    this.step('reload');
  }

  async setSyncStandbyNames(value: string | undefined): Promise<void> {
    this.step(`synchronous_standby_names ${value ?? '(configured)'}`);
  }

  async promote(): Promise<void> {
    this.step('promote');
    this.state.standbySignal = false;
    this.state.timeline += 1;
  }

  async checkpoint(): Promise<void> {
    this.step('checkpoint');
  }

  async timelineHistory(timeline: number): Promise<Array<[number, number, string]>> {
    const out: Array<[number, number, string]> = [];
    for (let tl = 1; tl < timeline; tl++) out.push([tl, this.state.lsn, 'no recovery target specified']);
    return out;
  }

  async newestTimelineHistory(): Promise<Array<[number, number, string]> | undefined> {
    return undefined;
  }

  async writeTimelineHistory(timeline: number): Promise<boolean> {
    this.step(`write ${timeline}.history`);
    return true;
  }

  async upstreamIsPrimary(): Promise<boolean> {
    this.read('upstreamIsPrimary');
    return true;
  }

  async basebackup(from: Upstream): Promise<void> {
    this.step(`basebackup from ${from.name}`);
    this.state.dataDir = 'initialized';
  }

  async rewind(from: Upstream): Promise<boolean> {
    this.step(`rewind from ${from.name}`);
    return this.rewindWorks;
  }

  async wipeDataDir(): Promise<void> {
    this.step('wipe data directory');
    this.state.dataDir = 'empty';
  }

  async moveDataDirAside(): Promise<string> {
    this.step('move data directory aside');
    this.state.dataDir = 'empty';
    return '/data.diverged';
  }

  async createRoles(): Promise<void> {
    this.step('create roles');
  }

  async ensureSlots(names: string[]): Promise<void> {
    this.step(`slots ${names.join(',') || '-'}`);
  }

  async dropSlots(names: string[]): Promise<void> {
    this.step(`drop slots ${names.join(',')}`);
  }
}
