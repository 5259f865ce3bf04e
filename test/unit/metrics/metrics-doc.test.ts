/**
 * docs/metrics.md, the Grafana dashboard and the Prometheus examples against the metrics that really exist.
 *
 * The doc is generated (scripts/gen-metrics-doc.mjs → src/metrics/metrics-doc.ts); the first test fails when the
 * committed file is stale. The second does not trust the generator: it reads the metric families from the actual
 * `/metrics` exposition text of both programs and compares them with the rows of the doc's tables.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AgentMetrics } from '../../../src/metrics/agent-metrics';
import { RouterMetrics } from '../../../src/metrics/router-metrics';
import { describeRegistry, renderMetricsDoc, type MetricDescription } from '../../../src/metrics/metrics-doc';
import { aPrimaryStatus, NOW } from '../../support/builders';

/** The repository root: this file runs from dist/test/unit/metrics/. */
const ROOT = join(__dirname, '..', '..', '..', '..');
const DOC = join(ROOT, 'docs', 'metrics.md');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'pgha.json');
const PROMETHEUS = join(ROOT, 'deploy', 'prometheus', 'prometheus.yml');
const REGENERATE = 'run `npm run build && node scripts/gen-metrics-doc.mjs` and commit docs/metrics.md';

function agentMetrics(): AgentMetrics {
  return new AgentMetrics({ scope: 'pgcluster', name: 'node1', version: '0.1.0', status: () => aPrimaryStatus(), now: () => NOW });
}

function routerMetrics(): RouterMetrics {
  const m = new RouterMetrics(() => ({
    generation: 3, writable: true, leader: 'node1', watchState: 'live', lastEventAgeSeconds: 1, lastContactAgeSeconds: 0.5,
    members: [
      { member: 'node1', up: true, lagBytes: 0, lagSeconds: 0, pools: { write: { in: true }, read: { in: false } } },
      { member: 'node2', up: true, lagBytes: 128, lagSeconds: 0.2, pools: { write: { in: false }, read: { in: true } } },
    ],
    pools: [{ listener: 'write', backends: 1, fallback: false }, { listener: 'read', backends: 1, fallback: false }],
    held: { write: 0 }, switchoverHolding: false,
  }));
  // Touch every labelled family so the exposition holds samples too (families are listed with or without them).
  const c = m.connection('write', 'node1');
  c.opened.inc();
  c.closed.client.inc();
  m.refused('write', 'hold_timeout');
  m.held('write', 12, 'routed');
  m.healthCheck('node1', true, 2);
  return m;
}

/** `name → type` from the `# TYPE` lines of an exposition text. */
function familiesOf(exposition: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** `name → type` from the table rows of one `## …` section of the doc. */
function documented(doc: string, heading: string): Map<string, string> {
  const start = doc.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `docs/metrics.md has no "## ${heading}" section; ${REGENERATE}`);
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next === -1 ? undefined : next);
  const out = new Map<string, string>();
  for (const m of section.matchAll(/^\| `([a-z_:][a-z0-9_:]*)` \| (\w+) \|/gm)) {
    assert.ok(!out.has(m[1]!), `docs/metrics.md lists ${m[1]} twice`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

function compare(program: string, exposed: Map<string, string>, doc: Map<string, string>): void {
  const missing = [...exposed.keys()].filter((n) => !doc.has(n));
  const extra = [...doc.keys()].filter((n) => !exposed.has(n));
  assert.deepEqual(missing, [], `${program} metrics missing from docs/metrics.md: ${missing.join(', ')}; ${REGENERATE}`);
  assert.deepEqual(extra, [], `docs/metrics.md lists ${program} metrics that do not exist: ${extra.join(', ')}; ${REGENERATE}`);
  for (const [name, type] of exposed) assert.equal(doc.get(name), type, `type of ${name} in docs/metrics.md; ${REGENERATE}`);
}

describe('docs/metrics.md', () => {
  test('is exactly what the generator renders from the registries', () => {
    assert.ok(existsSync(DOC), `docs/metrics.md is missing; ${REGENERATE}`);
    const expected = renderMetricsDoc();
    const actual = readFileSync(DOC, 'utf8');
    if (actual !== expected) {
      const a = actual.split('\n');
      const e = expected.split('\n');
      const line = e.findIndex((l, i) => a[i] !== l);
      assert.fail(`docs/metrics.md is stale (first difference at line ${line + 1}: expected ${JSON.stringify(e[line])}, `
        + `found ${JSON.stringify(a[line])}); ${REGENERATE}`);
    }
  });

  test("lists every agent metric on /metrics, and no other", async () => {
    const exposed = familiesOf(await agentMetrics().render());
    assert.ok(exposed.size >= 30, `only ${exposed.size} agent families`);
    compare('agent', exposed, documented(readFileSync(DOC, 'utf8'), 'Agent'));
  });

  test('lists every router metric on /metrics, and no other', async () => {
    const exposed = familiesOf(await routerMetrics().text());
    assert.ok(exposed.size >= 25, `only ${exposed.size} router families`);
    compare('router', exposed, documented(readFileSync(DOC, 'utf8'), 'Router'));
  });

  test('every documented metric has a meaning and its labels are described', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const m of [...describeRegistry(agentMetrics().registry), ...describeRegistry(routerMetrics().registry)]) {
      assert.ok(m.help.trim().length > 10, `${m.name} has no useful help text`);
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${m.name}\` |`));
      assert.ok(row, `no row for ${m.name}`);
      for (const l of m.labels) assert.ok(row.includes(`\`${l}\``), `row of ${m.name} lacks label ${l}`);
    }
  });
});

// ---- dashboards and rules: every metric and label they use exists ----

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

function allMetrics(): Map<string, MetricDescription> {
  const out = new Map<string, MetricDescription>();
  for (const m of [...describeRegistry(agentMetrics().registry), ...describeRegistry(routerMetrics().registry)]) out.set(m.name, m);
  return out;
}

/** The metric a series name belongs to (`h_bucket` → `h` for a histogram), with the labels it carries. */
function resolveSeries(series: string, known: Map<string, MetricDescription>): { metric: MetricDescription; labels: string[] } | undefined {
  const direct = known.get(series);
  if (direct) return { metric: direct, labels: direct.kind === 'histogram' ? [] : direct.labels };
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (!series.endsWith(suffix)) continue;
    const base = known.get(series.slice(0, -suffix.length));
    if (base?.kind === 'histogram') return { metric: base, labels: suffix === '_bucket' ? [...base.labels, 'le'] : base.labels };
  }
  return undefined;
}

/** Problems with one PromQL expression: unknown metrics, selector labels a metric lacks, unknown grouping labels. */
function checkExpression(expr: string, known: Map<string, MetricDescription>): string[] {
  const problems: string[] = [];
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const seen = new Set<string>();
  for (const m of code.matchAll(/\b((?:pgha|patroni)_[a-zA-Z0-9_]*)\s*(\{[^}]*\})?/g)) {
    const series = m[1]!;
    const resolved = resolveSeries(series, known);
    if (!resolved) {
      problems.push(`unknown metric ${series}`);
      continue;
    }
    resolved.labels.forEach((l) => seen.add(l));
    const matchers = m[2] ? expr.slice(m.index! + m[0].indexOf('{')).match(/^\{[^}]*\}/)?.[0] ?? '' : '';
    for (const lm of matchers.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      const label = lm[1]!;
      if (!resolved.labels.includes(label) && !TARGET_LABELS.includes(label)) problems.push(`${series} has no label ${label}`);
    }
  }
  for (const g of code.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const label of g[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (!seen.has(label) && !TARGET_LABELS.includes(label)) problems.push(`grouping label ${label} is on none of the metrics used`);
    }
  }
  return problems;
}

/** Every string under a key named `expr` (and the query of each templating variable) in a JSON document. */
function expressionsOf(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => expressionsOf(n, out));
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'definition') && typeof value === 'string') out.push(value);
      else expressionsOf(value, out);
    }
  }
  return out;
}

describe('deploy/grafana/pgha.json', () => {
  test('every metric and label its expressions use exists', () => {
    const known = allMetrics();
    const dashboard: unknown = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const exprs = expressionsOf(dashboard).map((e) => e.replace(/^label_values\((.*)\)$/, '$1').replace(/\$__rate_interval/g, '1m'));
    assert.ok(exprs.length >= 30, `only ${exprs.length} expressions found`);
    const problems = exprs.flatMap((e) => checkExpression(e, known).map((p) => `${p} in: ${e}`));
    assert.deepEqual(problems, []);
  });

  test('covers leader, lag, connections, refusals, holds, leader changes, keepalive latency and etcd watch age', () => {
    const text = readFileSync(DASHBOARD, 'utf8');
    for (const metric of [
      'patroni_primary', 'patroni_xlog_replayed_location', 'pgha_router_member_lag_bytes', 'pgha_router_member_lag_seconds',
      'pgha_router_connections_active', 'pgha_router_connections_refused_total', 'pgha_router_hold_seconds_bucket',
      'pgha_router_held_connections', 'pgha_agent_leader_changes_total', 'pgha_router_leader_changes_total',
      'pgha_agent_lease_keepalive_seconds_bucket', 'pgha_router_etcd_last_event_age_seconds', 'pgha_router_writable',
    ]) assert.ok(text.includes(metric), `dashboard does not use ${metric}`);
  });

  test('panel ids are unique and panels fit the 24-column grid', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { id: number; gridPos: { x: number; w: number } }[] };
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'duplicate panel ids');
    for (const p of dashboard.panels) assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel ${p.id} overflows the grid`);
  });
});

describe('deploy/prometheus', () => {
  test('prometheus.yml scrapes agents and routers on /metrics, and its rules use existing metrics and labels', () => {
    const config = parseYaml(readFileSync(PROMETHEUS, 'utf8')) as {
      rule_files?: string[]; scrape_configs: { job_name: string; metrics_path?: string }[];
    };
    const jobs = config.scrape_configs.map((c) => c.job_name);
    assert.deepEqual(jobs, ['pgha-agent', 'pgha-router']);
    for (const c of config.scrape_configs) assert.equal(c.metrics_path ?? '/metrics', '/metrics');
    const known = allMetrics();
    const problems: string[] = [];
    for (const file of config.rule_files ?? []) {
      const rules = parseYaml(readFileSync(join(dirname(PROMETHEUS), file), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
      for (const rule of rules.groups.flatMap((g) => g.rules)) {
        problems.push(...checkExpression(rule.expr, known).map((p) => `${rule.alert}: ${p}`));
      }
    }
    assert.ok((config.rule_files ?? []).length > 0, 'no rule files');
    assert.deepEqual(problems, []);
  });

  test('the checker itself catches an unknown metric, a wrong label and a wrong grouping label', () => {
    const known = allMetrics();
    assert.deepEqual(checkExpression('rate(pgha_router_nothing_total[1m])', known), ['unknown metric pgha_router_nothing_total']);
    assert.deepEqual(checkExpression('pgha_router_writable{listener="write"}', known), ['pgha_router_writable has no label listener']);
    assert.deepEqual(checkExpression('sum by (member) (pgha_agent_is_leader)', known), ['grouping label member is on none of the metrics used']);
    assert.deepEqual(checkExpression('histogram_quantile(0.9, sum by (le) (rate(pgha_router_hold_seconds_bucket{listener="write"}[1m])))', known), []);
    assert.deepEqual(checkExpression('pgha_router_hold_seconds_total', known), ['unknown metric pgha_router_hold_seconds_total']);
  });
});
