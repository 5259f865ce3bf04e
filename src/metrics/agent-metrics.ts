/**
 * Every metric the agent exposes on `GET /metrics`, in one explicit prom-client Registry (never the global one).
 *
 * - `patroni_*`: Patroni 3.x names, types and meanings (reference §10) so existing dashboards and alerts keep
 *   working. They are computed at scrape time from the current AgentStatus, labelled `{scope, name}` (3.2+).
 * - `pgha_agent_*`: our own, in base units; counters are bumped by the runner through the typed methods below.
 *   `pgha_agent_is_leader` and `pgha_agent_leader_lock_remaining_seconds` are computed at scrape time from the
 *   agent's own lock validity (monotonic clock), so they are exact whenever Prometheus looks.
 * Labels are bounded: action types and DCS operations are closed unions.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentStatus } from '../agent/status';
import type { ActionType } from '../agent/actions';
import type { ClusterStore } from '../dcs/store';
import { patroniDocument, type PatroniDocument } from '../api/patroni-doc';

/** A DCS call that can fail: the ClusterStore method name. */
export type DcsOperation = Exclude<keyof ClusterStore, 'close'>;

export interface AgentMetricsOptions {
  /** The current status snapshot; undefined before the first tick (patroni_* series are then absent). */
  status: () => AgentStatus | undefined;
  /** Monotonic milliseconds (default performance.now()), the clock of `leaderValidUntilMs`. */
  now?: () => number;
  /** pgha's own version for `pgha_agent_build_info`. */
  pghaVersion: string;
}

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
const isPrimary = (doc: PatroniDocument): boolean => doc.role === 'master' || doc.role === 'primary';
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
    value: () => 0,
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

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly haCycles: Counter;
  private readonly actions: Counter<'action'>;
  private readonly leaderChanges: Counter;
  private readonly keepaliveSeconds: Histogram;
  private readonly keepaliveFailures: Counter;
  private readonly dcsErrors: Counter<'operation'>;
  private readonly now: () => number;
  private memo: Snapshot | undefined;

  constructor(private readonly opts: AgentMetricsOptions) {
    this.now = opts.now ?? (() => performance.now());
    const registers = [this.registry];
    for (const spec of PATRONI_METRICS) this.registerPatroniMetric(spec);

    this.haCycles = new Counter({ name: 'pgha_agent_ha_cycles_total', help: 'HA loop cycles run.', registers });
    this.actions = new Counter({
      name: 'pgha_agent_actions_total', help: 'Actions decided by the HA loop, by action type.', labelNames: ['action'], registers,
    });
    this.leaderChanges = new Counter({
      name: 'pgha_agent_leader_changes_total', help: 'Times the cluster leader seen by this agent changed.', registers,
    });
    this.keepaliveSeconds = new Histogram({
      name: 'pgha_agent_lease_keepalive_seconds', help: 'Duration of leader lease keepalive round trips.',
      buckets: KEEPALIVE_BUCKETS, registers,
    });
    this.keepaliveFailures = new Counter({
      name: 'pgha_agent_lease_keepalive_failures_total', help: 'Lease keepalives that failed or found the lease gone.', registers,
    });
    this.dcsErrors = new Counter({
      name: 'pgha_agent_dcs_errors_total', help: 'Failed DCS calls, by operation.', labelNames: ['operation'], registers,
    });
    const metrics = this;
    new Gauge({
      name: 'pgha_agent_is_leader', help: '1 while this agent holds a valid leader lock (own monotonic clock), else 0.',
      registers,
      collect() {
        const status = metrics.opts.status();
        this.set(flag(status !== undefined && status.leaderValidUntilMs > metrics.now()));
      },
    });
    new Gauge({
      name: 'pgha_agent_leader_lock_remaining_seconds',
      help: 'Seconds until this agent must stop acting as leader unless its lease is renewed (fencing margin); 0 when not leader.',
      registers,
      collect() {
        const status = metrics.opts.status();
        const remainingMs = status ? status.leaderValidUntilMs - metrics.now() : 0;
        this.set(Math.max(0, remainingMs) / 1000);
      },
    });
    new Gauge({ name: 'pgha_agent_build_info', help: 'pgha build information; always 1.', labelNames: ['version'], registers })
      .set({ version: opts.pghaVersion }, 1);
  }

  /** One HA loop cycle ran. */
  haCycle(): void {
    this.haCycles.inc();
  }

  /** The HA loop decided `action` (one call per action in the list). */
  action(action: ActionType): void {
    this.actions.inc({ action });
  }

  /** The leader named in the cluster view changed (including to or from "no leader"). */
  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  /** One lease keepalive round trip; `ok: false` when it failed or the lease was gone. */
  leaseKeepalive(seconds: number, ok: boolean): void {
    this.keepaliveSeconds.observe(seconds);
    if (!ok) this.keepaliveFailures.inc();
  }

  dcsError(operation: DcsOperation): void {
    this.dcsErrors.inc({ operation });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The status and its /patroni document, rebuilt only when the runner published a new snapshot. */
  private snapshot(): Snapshot | undefined {
    const status = this.opts.status();
    if (!status) return undefined;
    if (this.memo?.status !== status) this.memo = { status, doc: patroniDocument(status, this.now()) };
    return this.memo;
  }

  private registerPatroniMetric(spec: PatroniMetricSpec): void {
    const metrics = this;
    const labelNames: PatroniLabels[] = ['scope', 'name'];
    const common = { name: spec.name, help: spec.help, labelNames, registers: [this.registry] };
    if (spec.type === 'gauge') {
      new Gauge<PatroniLabels>({
        ...common,
        collect() {
          this.reset();
          const s = metrics.snapshot();
          if (s) this.set({ scope: s.status.scope, name: s.status.name }, spec.value(s));
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
        if (s) this.inc({ scope: s.status.scope, name: s.status.name }, Math.max(0, spec.value(s)));
      },
    });
  }
}
