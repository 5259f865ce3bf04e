/**
 * docs/metrics.md, rendered from the two metric registries themselves (never from a hand-kept list), so the doc
 * cannot name a metric that does not exist or miss one that does. `scripts/gen-metrics-doc.mjs` writes it;
 * test/unit/metrics/metrics-doc.test.ts fails when the committed file differs from what this renders.
 *
 * Names, types, label names and meanings (HELP text) come from the registries. The only hand-written part is the
 * value set of the closed-union labels below; each set is typed against the union it documents, so adding a value
 * to the union without documenting it is a compile error, and a note on a metric or label that does not exist
 * throws here (and so fails the test).
 */
import type { Registry } from 'prom-client';
import type { ActionType } from '../agent/actions';
import type { ScriptKind, ScriptResult } from '../agent/callbacks';
import type { CacheState } from '../dcs/cluster-cache';
import type { AuthFailureReason } from '../router/auth/client-auth';
import { AgentMetrics } from './agent-metrics';
import {
  RouterMetrics,
  type CancelOutcome,
  type TlsHandshakeResult,
  type CloseReason,
  type ConnectFailureReason,
  type HoldOutcome,
  type SwitchoverOutcome,
} from './router-metrics';
import type { ReadExitCause, RefusalReason } from '../router/types';

export type MetricKind = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface MetricDescription {
  name: string;
  kind: MetricKind;
  help: string;
  /** Declared label names, in declaration order (a histogram's `le` is implicit and not listed). */
  labels: string[];
}

export interface MetricsSection {
  program: 'agent' | 'router';
  metrics: MetricDescription[];
}

/** Every value of a string union, checked complete and exact by the compiler. */
function valuesOf<T extends string>(all: Record<T, true>): readonly T[] {
  return Object.keys(all) as T[];
}

const ACTIONS = valuesOf<ActionType>({
  bootstrap: true, create_replica: true, start_primary: true, start_replica: true, acquire_leader: true,
  reattach_leader: true, claim_sync: true, promote: true,
  demote: true, release_leader: true, follow: true, rewind: true, write_initialize: true, write_config: true, write_failsafe: true,
  publish_status: true, sync: true, clear_failover: true, restart: true, reinitialize: true, reload: true,
  refuse_request: true, exit: true,
});
const CLOSE_REASONS = valuesOf<CloseReason>({ client: true, backend: true, leader_change: true, role_change: true, error: true, shutdown: true });
const CONNECT_FAILURES = valuesOf<ConnectFailureReason>({ refused: true, timeout: true, reset: true, tls_refused: true, error: true });
const REFUSALS = valuesOf<RefusalReason>({
  hold_timeout: true, startup_timeout: true, malformed: true, oversized: true, unsupported_protocol: true,
  unencrypted_data_after_tls_request: true, shutdown: true, max_connections: true, max_connections_per_client: true,
  proxy_untrusted: true, proxy_header_truncated: true, proxy_header_oversized: true, proxy_header_malformed: true,
  max_held: true,
});
const HOLD_OUTCOMES = valuesOf<HoldOutcome>({ routed: true, timeout: true, client_gone: true, shutdown: true });
const CANCEL_OUTCOMES = valuesOf<CancelOutcome>({ routed: true, broadcast: true, unknown_key: true, failed: true, forwarded: true });
const AUTH_FAILURES = valuesOf<AuthFailureReason>({ wrong_password: true, unknown_user: true, protocol: true, method: true });
const TLS_HANDSHAKE_RESULTS = valuesOf<TlsHandshakeResult>({ ok: true, failed: true, timeout: true, alpn: true });
const READ_EXIT_CAUSES = valuesOf<ReadExitCause>({ promoted: true, lag: true, tags: true });
const SWITCHOVER_OUTCOMES = valuesOf<SwitchoverOutcome>({ completed: true, rolled_back: true, hold_expired: true });
const SCRIPT_KINDS = valuesOf<ScriptKind>({
  on_start: true, on_stop: true, on_restart: true, on_reload: true, on_role_change: true, pre_promote: true, before_stop: true,
});
const SCRIPT_RESULTS = valuesOf<ScriptResult>({ success: true, failure: true, killed: true, timeout: true, spawn_error: true });
const WATCH_STATES = valuesOf<CacheState>({ starting: true, live: true, relisting: true, down: true });

/** What a label holds, per metric; closed sets list their values. Keyed by metric name, then label name. */
const LABEL_NOTES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  pgha_agent_actions_total: { action: oneOf(ACTIONS) },
  pgha_agent_dcs_errors_total: { operation: 'is the DCS operation (snake_case, e.g. `keep_alive`; at most 32 distinct, later ones `other`)' },
  pgha_agent_build_info: { version: 'is the pgha version' },
  pgha_agent_callbacks_total: { action: oneOf(SCRIPT_KINDS), result: oneOf(SCRIPT_RESULTS) },
  pgha_router_connections_closed_total: { reason: oneOf(CLOSE_REASONS) },
  pgha_router_backend_connect_failures_total: { reason: oneOf(CONNECT_FAILURES) },
  pgha_router_connections_refused_total: { reason: oneOf(REFUSALS) },
  pgha_router_hold_seconds: { outcome: oneOf(HOLD_OUTCOMES) },
  pgha_router_cancel_requests_total: { outcome: oneOf(CANCEL_OUTCOMES) },
  pgha_router_auth_failures_total: { reason: oneOf(AUTH_FAILURES) },
  pgha_router_tls_handshakes_total: { result: oneOf(TLS_HANDSHAKE_RESULTS) },
  pgha_router_bytes_total: { direction: oneOf(['client_to_backend', 'backend_to_client']) },
  pgha_router_health_checks_total: { result: oneOf(['ok', 'failed']) },
  pgha_router_switchovers_total: { outcome: oneOf(SWITCHOVER_OUTCOMES) },
  pgha_router_read_sessions_ended_total: { reason: oneOf(READ_EXIT_CAUSES) },
  pgha_router_switchover_hold_seconds: { outcome: oneOf(SWITCHOVER_OUTCOMES) },
  pgha_router_etcd_watch_state: { state: `${oneOf(WATCH_STATES)} (the series of the current state is 1)` },
  pgha_router_pool_clients: { state: oneOf(['active', 'waiting']) },
  pgha_router_pool_server_connections: { state: oneOf(['active', 'idle', 'used', 'login']) },
  pgha_router_pool_client_connections: { state: oneOf(['active', 'idle', 'waiting', 'held']) },
};

/** Shared meaning of label names that mean the same on every metric. */
const COMMON_LABELS: Readonly<Record<string, string>> = {
  scope: 'cluster name (Patroni `scope`)',
  name: 'member name',
  listener: 'router listener name from its config (e.g. `write`, `read`)',
  backend: 'member name of the backend (at most 64 distinct, later ones `other`)',
  member: 'member name (at most 64 distinct, later ones `other`)',
  user: 'PostgreSQL user of a server pool (pooled listeners)',
  database: 'database of a server pool (pooled listeners)',
};

function oneOf(values: readonly string[]): string {
  return `one of ${values.map((v) => `\`${v}\``).join(', ')}`;
}

/** The metric families of a registry, in registration order, with their declared label names. */
export function describeRegistry(registry: Registry): MetricDescription[] {
  return registry.getMetricsAsArray().map((metric) => {
    // prom-client keeps the declared label names on the metric object; its typings do not expose them.
    const declared: unknown = (metric as unknown as { labelNames?: unknown }).labelNames;
    if (!Array.isArray(declared) || !declared.every((l): l is string => typeof l === 'string')) {
      throw new Error(`metric ${metric.name}: prom-client no longer exposes labelNames; update describeRegistry`);
    }
    const kind = String(metric.type);
    if (kind !== 'counter' && kind !== 'gauge' && kind !== 'histogram' && kind !== 'summary') {
      throw new Error(`metric ${metric.name}: unknown type ${kind}`);
    }
    return { name: metric.name, kind, help: metric.help, labels: [...declared] };
  });
}

/** Both programs' metrics, from freshly built (unbound) metric objects. */
export function metricsSections(): MetricsSection[] {
  const agent = new AgentMetrics({ scope: 'doc', name: 'doc', version: '0.0.0' });
  const router = new RouterMetrics(() => ({
    generation: 0, writable: false, watchState: 'doc', members: [], pools: [], held: {}, switchoverHolding: false,
  }));
  return [
    { program: 'agent', metrics: describeRegistry(agent.registry) },
    { program: 'router', metrics: describeRegistry(router.registry) },
  ];
}

const INTRO = `# Metrics

<!-- Generated by \`node scripts/gen-metrics-doc.mjs\` from src/metrics/agent-metrics.ts and
     src/metrics/router-metrics.ts (their prom-client registries). Do not edit by hand: change the metric's help
     text or src/metrics/metrics-doc.ts, then run \`npm run build && node scripts/gen-metrics-doc.mjs\`.
     test/unit/metrics/metrics-doc.test.ts fails when this file and the registries disagree. -->

Both programs serve the Prometheus text format on \`GET /metrics\`:

- the **agent** on its REST API (\`restapi.listen\`, Patroni's default port 8008), next to \`/patroni\`;
- the **router** on its metrics address (\`metrics.listen\` in router.yml, or \`--metrics\`; \`9187\` in the examples),
  next to \`/status\` and \`/health\`. A router embedded in an agent (a \`router:\` section in the agent's YAML) serves
  its metrics on its own \`metrics.listen\`, not on the agent's REST API.

Conventions: base units (seconds, bytes), \`_total\` for counters, bounded label values. \`patroni_*\` series have
Patroni 3.x's names, types and meanings (labelled \`{scope, name}\` as in Patroni 3.2+) so existing Patroni dashboards
and alerts keep working; \`pgha_*\` series are pgha's own. A histogram \`h\` is exposed as \`h_bucket{le}\`, \`h_sum\`
and \`h_count\`. A Grafana dashboard over these metrics is \`deploy/grafana/pgha.json\`, and a Prometheus scrape example
is \`deploy/prometheus/prometheus.yml\`.
`;

const TITLES: Record<MetricsSection['program'], string> = {
  agent: '## Agent (`pgha agent`, `GET /metrics` on the REST API)',
  router: '## Router (`pgha router`, `GET /metrics` on the metrics address)',
};

/** The whole of docs/metrics.md. */
export function renderMetricsDoc(sections: readonly MetricsSection[] = metricsSections()): string {
  const out: string[] = [INTRO];
  const known = new Map<string, MetricDescription>();
  for (const section of sections) {
    out.push(TITLES[section.program], '', `${section.metrics.length} metrics.`, '');
    out.push('| Metric | Type | Labels | Meaning |', '|---|---|---|---|');
    for (const m of section.metrics) {
      known.set(m.name, m);
      out.push(`| \`${m.name}\` | ${m.kind} | ${m.labels.map((l) => `\`${l}\``).join(', ')} | ${cell(m.help)} |`);
    }
    out.push('');
    const labelled = section.metrics.filter((m) => m.labels.length > 0);
    const common = [...new Set(labelled.flatMap((m) => m.labels.filter((l) => LABEL_NOTES[m.name]?.[l] === undefined)))];
    if (common.length > 0) {
      out.push('Labels:', '');
      for (const label of common) out.push(`- \`${label}\`: ${commonLabel(label)}.`);
      out.push('');
    }
    const specific = labelled.filter((m) => LABEL_NOTES[m.name] !== undefined);
    if (specific.length > 0) {
      out.push('Label values:', '');
      for (const m of specific) {
        const parts = Object.entries(LABEL_NOTES[m.name] ?? {}).map(([l, note]) => `\`${l}\` ${note}`);
        out.push(`- \`${m.name}\`: ${parts.join('; ')}.`);
      }
      out.push('');
    }
  }
  for (const [metric, labels] of Object.entries(LABEL_NOTES)) {
    const m = known.get(metric);
    if (!m) throw new Error(`metrics-doc: LABEL_NOTES names ${metric}, which no registry has`);
    for (const label of Object.keys(labels)) {
      if (!m.labels.includes(label)) throw new Error(`metrics-doc: LABEL_NOTES names label ${label} of ${metric}, which it does not have`);
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function commonLabel(label: string): string {
  const note = COMMON_LABELS[label];
  if (note === undefined) throw new Error(`metrics-doc: no description for label ${label}; add one to COMMON_LABELS or LABEL_NOTES`);
  return note;
}

/** A Markdown table cell: pipes escaped, one line. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}
