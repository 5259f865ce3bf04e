/**
 * Every metric the agent exposes on `GET /metrics`, in one explicit prom-client Registry (never the global one).
 *
 * - `patroni_*`: Patroni 3.x names, types and meanings (reference §10) so existing dashboards and alerts keep
 *   working. They are computed at scrape time from the current AgentStatus, labelled `{scope, name}` (3.2+).
 * - `pgha_agent_*`: our own, in base units; counters are bumped by the runner through the typed methods below.
 *   `pgha_agent_is_leader` and `pgha_agent_leader_lock_remaining_seconds` are computed at scrape time from the
 *   agent's own lock validity (monotonic clock), so they are exact whenever Prometheus looks.
 * Labels are bounded: action types are a closed union; DCS operation names are capped at a few dozen values.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentStatus } from '../agent/status';
import type { ActionType } from '../agent/actions';
import type { AgentMetricsPort } from '../agent/metrics-port';
import { patroniDocument, type PatroniDocument } from '../model/patroni-format';
import { isPrimaryRole } from '../model/member';

export interface AgentMetricsOptions {
  /** Cluster scope and member name: the `{scope, name}` labels of the patroni_* series (Patroni 3.2+). */
  scope: string;
  name: string;
  /** pgha's own version, for `pgha_agent_build_info{version}`. */
  version: string;
  /** The current status snapshot (can also be bound later with bindStatus). */
  status?: () => AgentStatus | undefined;
  /** Monotonic milliseconds (default performance.now()), the clock of `leaderValidUntilMs`. */
  now?: () => number;
}

/** At most this many distinct values per free-text label (`operation`); later ones count as `other`. */
const MAX_LABEL_VALUES = 32;

type Snapshot = { status: AgentStatus; doc: PatroniDocument };
type PatroniLabels = 'scope' | 'name';
type ValueOf = (s: Snapshot) => number;

interface PatroniMetricSpec {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  value: ValueOf;
}

const flag = (b: boolean | undefined): number => (b ? 1 : 0);
const isPrimary = (doc: PatroniDocument): boolean => isPrimaryRole(doc.role);
const xlogField = (doc: PatroniDocument, field: string): unknown =>
  doc.xlog ? (doc.xlog as unknown as Record<string, unknown>)[field] : undefined;
const xlogNumber = (doc: PatroniDocument, field: string): number => {
  const v = xlogField(doc, field);
  return typeof v === 'number' ? v : 0;
};

/** The Patroni metric set that exists in 3.x (reference §10), in Patroni's output order. */
export const PATRONI_METRICS: readonly PatroniMetricSpec[] = [
  { name: 'patroni_version', type: 'gauge', help: 'Patroni semver without periods.', value: (s) => paddedVersion(s.status.patroniVersion) },
  { name: 'patroni_postgres_running', type: 'gauge', help: 'Value is 1 if Postgres is running, 0 otherwise.', value: (s) => flag(s.doc.state === 'running') },
  {
    name: 'patroni_postmaster_start_time', type: 'gauge', help: 'Epoch seconds since Postgres started.',
    value: (s) => pythonTimestampSeconds(s.doc.postmaster_start_time) ?? 0,
  },
  { name: 'patroni_master', type: 'gauge', help: 'Value is 1 if this node is the leader, 0 otherwise.', value: (s) => flag(isPrimary(s.doc)) },
  { name: 'patroni_primary', type: 'gauge', help: 'Value is 1 if this node is the leader, 0 otherwise.', value: (s) => flag(isPrimary(s.doc)) },
  {
    name: 'patroni_xlog_location', type: 'counter',
    help: 'Current location of the Postgres transaction log, 0 if this node is not the leader.',
    value: (s) => xlogNumber(s.doc, 'location'),
  },
  {
    name: 'patroni_standby_leader', type: 'gauge', help: 'Value is 1 if this node is the standby_leader, 0 otherwise.',
    value: (s) => flag(s.doc.role === 'standby_leader'),
  },
  { name: 'patroni_replica', type: 'gauge', help: 'Value is 1 if this node is a replica, 0 otherwise.', value: (s) => flag(s.doc.role === 'replica') },
  {
    name: 'patroni_sync_standby', type: 'gauge', help: 'Value is 1 if this node is a sync standby replica, 0 otherwise.',
    value: (s) => flag(s.doc.sync_standby),
  },
  {
    name: 'patroni_xlog_received_location', type: 'counter',
    help: 'Current location of the received Postgres transaction log, 0 if this node is not a replica.',
    value: (s) => xlogNumber(s.doc, 'received_location'),
  },
  {
    name: 'patroni_xlog_replayed_location', type: 'counter',
    help: 'Current location of the replayed Postgres transaction log, 0 if this node is not a replica.',
    value: (s) => xlogNumber(s.doc, 'replayed_location'),
  },
  {
    name: 'patroni_xlog_replayed_timestamp', type: 'gauge',
    help: 'Current timestamp of the replayed Postgres transaction log, 0 if null.',
    value: (s) => pythonTimestampSeconds(xlogField(s.doc, 'replayed_timestamp')) ?? 0,
  },
  {
    name: 'patroni_xlog_paused', type: 'gauge', help: 'Value is 1 if the Postgres xlog is paused, 0 otherwise.',
    value: (s) => flag(xlogField(s.doc, 'paused') === true),
  },
  {
    name: 'patroni_postgres_streaming', type: 'gauge', help: 'Value is 1 if Postgres is streaming, 0 otherwise.',
    value: (s) => flag(s.doc.replication_state === 'streaming'),
  },
  {
    name: 'patroni_postgres_in_archive_recovery', type: 'gauge',
    help: 'Value is 1 if Postgres is replicating from archive, 0 otherwise.',
    value: (s) => flag(s.doc.replication_state === 'in archive recovery'),
  },
  {
    name: 'patroni_postgres_server_version', type: 'gauge', help: 'Version of Postgres (if running), 0 otherwise.',
    value: (s) => s.doc.server_version ?? 0,
  },
  {
    name: 'patroni_cluster_unlocked', type: 'gauge', help: 'Value is 1 if the cluster is unlocked, 0 if locked.',
    value: (s) => flag(s.doc.cluster_unlocked),
  },
  {
    name: 'patroni_failsafe_mode_is_active', type: 'gauge', help: 'Value is 1 if failsafe mode is active, 0 if inactive.',
    value: (s) => flag(s.doc.failsafe_mode_is_active),
  },
  {
    name: 'patroni_postgres_timeline', type: 'counter', help: 'Postgres timeline of this node (if running), 0 otherwise.',
    value: (s) => s.doc.timeline ?? 0,
  },
  {
    name: 'patroni_dcs_last_seen', type: 'gauge', help: 'Epoch timestamp when DCS was last contacted successfully by Patroni.',
    value: (s) => s.doc.dcs_last_seen,
  },
  {
    name: 'patroni_pending_restart', type: 'gauge', help: 'Value is 1 if the node needs a restart, 0 otherwise.',
    value: (s) => flag(s.doc.pending_restart),
  },
  { name: 'patroni_is_paused', type: 'gauge', help: 'Value is 1 if auto failover is disabled, 0 otherwise.', value: (s) => flag(s.status.pause) },
];

/** Patroni's padded semver: `3.0.2` → 30002 (`030002`), `4.1.4` → 40104. */
export function paddedVersion(version: string): number {
  const digits = version
    .split('.')
    .map((part) => (/^\d+$/.test(part) ? part.padStart(2, '0') : '00'))
    .join('');
  return Number(digits) || 0;
}

/** Epoch seconds (with microseconds) of Python's `str(datetime)` / ISO form; undefined when absent or unparsable. */
export function pythonTimestampSeconds(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, tz] = m;
  const wholeSeconds = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)) / 1000;
  const fraction = frac ? Number(`0.${frac}`) : 0;
  return wholeSeconds + fraction - offsetSeconds(tz);
}

function offsetSeconds(tz: string | undefined): number {
  if (!tz || tz === 'Z') return 0;
  const sign = tz.startsWith('-') ? -1 : 1;
  const digits = tz.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  return sign * (hours * 3600 + minutes * 60);
}

/** Keepalive round trips: from sub-millisecond on loopback up to the seconds that precede a lost lease. */
const KEEPALIVE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class AgentMetrics implements AgentMetricsPort {
  readonly registry = new Registry();
  private readonly haCycles: Counter;
  private readonly actions: Counter<'action'>;
  private readonly leaderChanges: Counter;
  private readonly isLeader: Gauge;
  private readonly lockRemaining: Gauge;
  private readonly keepaliveSeconds: Histogram;
  private readonly keepaliveFailures: Counter;
  private readonly dcsErrors: Counter<'operation'>;
  private readonly scripts: Counter<'action' | 'result'>;
  private readonly dcsOperations = new Set<string>();
  private readonly now: () => number;
  private statusOf: () => AgentStatus | undefined;
  private memo: Snapshot | undefined;

  constructor(private readonly opts: AgentMetricsOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.statusOf = opts.status ?? (() => undefined);
    const registers = [this.registry];
    for (const spec of PATRONI_METRICS) this.registerPatroniMetric(spec);

    this.haCycles = new Counter({ name: 'pgha_agent_ha_cycles_total', help: 'HA loop cycles run.', registers });
    this.actions = new Counter({
      name: 'pgha_agent_actions_total', help: 'Actions decided by the HA loop, by action type.', labelNames: ['action'], registers,
    });
    this.leaderChanges = new Counter({
      name: 'pgha_agent_leader_changes_total', help: 'Times the cluster leader seen by this agent changed.', registers,
    });
    this.scripts = new Counter({
      name: 'pgha_agent_callbacks_total',
      help: 'User scripts that ended (callbacks on_*, pre_promote, before_stop), by action and result (success, failure, killed, timeout, spawn_error).',
      labelNames: ['action', 'result'], registers,
    });
    const metrics = this;
    this.isLeader = new Gauge({
      name: 'pgha_agent_is_leader', help: '1 while this agent holds a valid leader lock (own monotonic clock), else 0.',
      registers,
      collect() {
        const status = metrics.statusOf();
        if (status) this.set(flag(status.leaderValidUntilMs > metrics.now()));
      },
    });
    this.lockRemaining = new Gauge({
      name: 'pgha_agent_leader_lock_remaining_seconds',
      help: 'Seconds until this agent must stop acting as leader unless its lease is renewed (fencing margin); 0 when not leader.',
      registers,
      collect() {
        const status = metrics.statusOf();
        if (status) this.set(Math.max(0, status.leaderValidUntilMs - metrics.now()) / 1000);
      },
    });
    this.keepaliveSeconds = new Histogram({
      name: 'pgha_agent_lease_keepalive_seconds', help: 'Duration of lease keepalive round trips.',
      buckets: KEEPALIVE_BUCKETS, registers,
    });
    this.keepaliveFailures = new Counter({
      name: 'pgha_agent_lease_keepalive_failures_total', help: 'Lease keepalives that failed or found the lease gone.', registers,
    });
    this.dcsErrors = new Counter({
      name: 'pgha_agent_dcs_errors_total', help: 'Failed DCS operations, by operation.', labelNames: ['operation'], registers,
    });
    new Gauge({ name: 'pgha_agent_build_info', help: 'pgha build information; always 1.', labelNames: ['version'], registers })
      .set({ version: opts.version }, 1);
  }

  /** Where the patroni_* series and the leader gauges read the current status at scrape time. */
  bindStatus(status: () => AgentStatus | undefined): void {
    this.statusOf = status;
    this.memo = undefined;
  }

  /** One HA loop cycle ran. */
  countCycle(): void {
    this.haCycles.inc();
  }

  /** The HA loop decided this action (one call per action). */
  countAction(action: ActionType): void {
    this.actions.inc({ action });
  }

  /** A callback, pre_promote or before_stop script ended; both labels are closed sets (agent/callbacks.ts). */
  countScript(action: string, result: string): void {
    this.scripts.inc({ action, result });
  }

  /** The leader named in the cluster view changed (including to or from "no leader"). */
  countLeaderChange(): void {
    this.leaderChanges.inc();
  }

  /**
   * The lock state at the end of a tick. With a bound status the two gauges are recomputed at scrape time from
   * `leaderValidUntilMs` and the monotonic clock, which is fresher; this value covers scrapes before that.
   */
  setLeader(isLeader: boolean, remainingSeconds: number): void {
    this.isLeader.set(flag(isLeader));
    this.lockRemaining.set(isLeader ? Math.max(0, remainingSeconds) : 0);
  }

  /** One lease keepalive round trip; `ok: false` when it failed or etcd said the lease is gone. */
  observeKeepalive(seconds: number, ok: boolean): void {
    this.keepaliveSeconds.observe(Math.max(0, seconds));
    if (!ok) this.keepaliveFailures.inc();
  }

  /** A DCS operation failed. `operation` is a short snake_case name (`keep_alive`, `touch_member` …). */
  countDcsError(operation: string): void {
    this.dcsErrors.inc({ operation: this.boundedOperation(operation) });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  private boundedOperation(operation: string): string {
    const clean = /^[A-Za-z][A-Za-z0-9_]{0,47}$/.test(operation) ? operation : 'other';
    if (this.dcsOperations.has(clean)) return clean;
    if (this.dcsOperations.size >= MAX_LABEL_VALUES) return 'other';
    this.dcsOperations.add(clean);
    return clean;
  }

  /** The status and its /patroni document, rebuilt only when the runner published a new snapshot. */
  private snapshot(): Snapshot | undefined {
    const status = this.statusOf();
    if (!status) return undefined;
    if (this.memo?.status !== status) this.memo = { status, doc: patroniDocument(status, this.now()) };
    return this.memo;
  }

  private registerPatroniMetric(spec: PatroniMetricSpec): void {
    const metrics = this;
    const labels = { scope: this.opts.scope, name: this.opts.name };
    const common = { name: spec.name, help: spec.help, labelNames: ['scope', 'name'] as PatroniLabels[], registers: [this.registry] };
    if (spec.type === 'gauge') {
      new Gauge<PatroniLabels>({
        ...common,
        collect() {
          this.reset();
          const s = metrics.snapshot();
          if (s) this.set(labels, spec.value(s));
        },
      });
      return;
    }
    new Counter<PatroniLabels>({
      ...common,
      collect() {
        // Patroni exposes absolute WAL positions and the timeline with TYPE counter: reset, then add the value.
        this.reset();
        const s = metrics.snapshot();
        if (s) this.inc(labels, Math.max(0, spec.value(s)));
      },
    });
  }
}
