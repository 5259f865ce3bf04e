/**
 * `pgha ctl list`: byte-for-byte the output of `patronictl list` 3.1.1–4.0.x (reference §8.3), rendered purely
 * from a cluster view. Like patronictl, the rows come from the `/cluster` document (clusterDocument).
 *
 * Formats: `pretty` (PrettyTable-style box with the cluster title in the top border), `tsv` (with the hidden
 * `Cluster` column and a header line), `json` (Python `json.dumps` of a list of objects, empty cells left out) and
 * `topology` (pretty, rows in replication-tree order with indented names, tags in flow style: `pgha ctl topology`).
 * The returned text is exactly what is written to stdout, final newline included.
 */
import { stringify as yamlStringify } from 'yaml';
import type { ClusterView } from '../model/cluster';
import { clusterDocument, type ClusterDocument, type ClusterMemberEntry } from '../api/cluster-doc';
import { pythonJson, pythonStr } from '../lib/python-format';
import { pythonTruthy } from '../model/member';
import { topologySort } from './topology';
import { formatYaml } from './history';

export type ListFormat = 'pretty' | 'json' | 'yaml' | 'tsv' | 'topology';

export interface ListOptions {
  format: ListFormat;
  /** `-e`: always show the Pending restart, Scheduled restart and Tags columns. */
  extended?: boolean;
}

type Cell = unknown;

const BASE_COLUMNS = ['Cluster', 'Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB'] as const;
const OPTIONAL_COLUMNS = [
  { column: 'Pending restart', field: 'pending_restart' },
  { column: 'Scheduled restart', field: 'scheduled_restart' },
  { column: 'Tags', field: 'tags' },
] as const;
const RIGHT_ALIGNED: ReadonlySet<string> = new Set(['TL', 'Lag in MB', 'Group']);
const BYTES_PER_MB = 1024 * 1024;

export function renderList(view: ClusterView, scope: string, opts: ListOptions): string {
  const doc = clusterDocument(view, scope);
  const withHost = doc.members.filter((m) => m.host !== undefined);
  const columns: string[] = [...BASE_COLUMNS];
  for (const { column, field } of OPTIONAL_COLUMNS) {
    if (opts.extended || withHost.some((m) => pythonTruthy(m[field]))) columns.push(column);
  }
  const appendPort =
    withHost.some((m) => m.port !== undefined && m.port !== 5432) ||
    new Set(withHost.map((m) => m.host)).size < withHost.length;
  const members = opts.format === 'topology' ? topologySort(doc.members) : doc.members;
  const rows = members.map((m) => columns.map((c) => cellFor(c, m, scope, appendPort)));

  if (opts.format === 'json') return `${pythonJson(jsonRows(columns, rows))}\n`;
  // patronictl 3.0.2: yaml.safe_dump of the same objects as json (tags stay a map).
  if (opts.format === 'yaml') return `${formatYaml(jsonRows(columns, rows))}\n`;
  if (opts.format === 'tsv') return tsv(columns, formatTags(columns, rows, 'flow'));
  const title = ` Cluster: ${scope} (${initializeLabel(view.initialize)}) `;
  const table = prettyTable(
    title,
    columns.slice(1),
    formatTags(columns, rows, opts.format === 'topology' ? 'flow' : 'block').map((r) => r.slice(1)),
  );
  return `${table}\n${serviceInfo(doc, view)}`;
}

/** The sysid shown in the title: the `initialize` value, `uninitialized` without the key, `initializing` if empty. */
export function initializeLabel(initialize: string | undefined): string {
  if (initialize === undefined) return 'uninitialized';
  return initialize === '' ? 'initializing' : initialize;
}

function cellFor(column: string, m: ClusterMemberEntry, scope: string, appendPort: boolean): Cell {
  switch (column) {
    case 'Cluster':
      return scope;
    case 'Member':
      return m.name;
    case 'Host':
      if (!m.host) return '';
      return appendPort && m.port ? `${m.host}:${m.port}` : m.host;
    case 'Role':
      return titleCase(m.role.replace(/_/g, ' '));
    case 'State':
      return m.state;
    case 'TL':
      return m.timeline ?? '';
    case 'Lag in MB':
      return typeof m.lag === 'number' ? pythonRound(m.lag / BYTES_PER_MB) : (m.lag ?? '');
    case 'Pending restart':
      return pythonTruthy(m.pending_restart) ? '*' : '';
    case 'Scheduled restart':
      return scheduledRestart(m.scheduled_restart);
    case 'Tags':
      return m.tags ?? '';
    default:
      return '';
  }
}

function scheduledRestart(value: unknown): string {
  if (!value || typeof value !== 'object') return '';
  const restart = value as Record<string, unknown>;
  let text = String(restart.schedule ?? '');
  if (restart.postgres_version !== undefined) text += ` if version < ${pythonStr(restart.postgres_version)}`;
  return text;
}

/** Python's str.title() for our ASCII role names. */
function titleCase(text: string): string {
  return text.replace(/[A-Za-z]+/g, (w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase());
}

/** Python 3 round(): halves go to the even neighbour. */
export function pythonRound(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function formatTags(columns: string[], rows: Cell[][], style: 'block' | 'flow'): Cell[][] {
  const i = columns.indexOf('Tags');
  if (i < 0) return rows;
  return rows.map((row) => (pythonTruthy(row[i]) ? row.map((c, j) => (j === i ? tagsYaml(c, style) : c)) : row));
}

/** PyYAML safe_dump(default_flow_style=…, width=200) of the tags: sorted keys, stripped. */
export function tagsYaml(tags: unknown, style: 'block' | 'flow'): string {
  return yamlStringify(tags, {
    sortMapEntries: true,
    lineWidth: 200,
    singleQuote: true,
    indentSeq: false,
    collectionStyle: style,
    flowCollectionPadding: false,
  }).trim();
}

function jsonRows(columns: string[], rows: Cell[][]): Record<string, Cell>[] {
  return rows.map((row) => {
    const obj: Record<string, Cell> = {};
    columns.forEach((c, i) => {
      if (pythonStr(row[i]) !== '') obj[c] = row[i];
    });
    return obj;
  });
}

function tsv(columns: string[], rows: Cell[][]): string {
  return [columns, ...rows].map((r) => `${r.map(pythonStr).join('\t')}\n`).join('');
}

function serviceInfo(doc: ClusterDocument, view: ClusterView): string {
  const lines: string[] = [];
  const membersPaused = [...view.members.values()].some((m) => m.doc.pause === true);
  if (doc.pause || membersPaused) lines.push('Maintenance mode: on');
  const switchover = doc.scheduled_switchover;
  if (switchover) {
    let info = `Switchover scheduled at: ${switchover.at}`;
    if (switchover.from) info += `\n${'from'.padStart(24)}: ${switchover.from}`;
    if (switchover.to) info += `\n${'to'.padStart(24)}: ${switchover.to}`;
    lines.push(info);
  }
  return lines.length > 0 ? ` ${lines.join('\n ')}\n` : '';
}

// ---- PrettyTable (prettytable 3.x defaults: padding 1, vrules ALL, hrules FRAME, or ALL with multi-line cells) ----

/** A PrettyTable box; `title` is built into the top border (empty: a plain border). `right` names right-aligned columns. */
export function prettyTable(title: string, columns: string[], rows: Cell[][], right: ReadonlySet<string> = RIGHT_ALIGNED): string {
  const cells = rows.map((r) => r.map(pythonStr));
  const widths = columns.map((c, i) =>
    Math.max(displayWidth(c), ...cells.map((r) => Math.max(...r[i]!.split('\n').map(displayWidth)))),
  );
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const top = `${rule[0]}${title.slice(0, rule.length - 2)}${rule.slice(1 + Math.min(title.length, rule.length - 2))}`;
  const line = (values: string[]): string =>
    `|${values.map((v, i) => ` ${justify(v, widths[i]!, right.has(columns[i]!))} `).join('|')}|`;
  const everyRow = cells.some((r) => r.some((c) => c.includes('\n')));

  const out = [top, line(columns), rule];
  for (const row of cells) {
    const split = row.map((c) => c.split('\n'));
    const height = Math.max(...split.map((l) => l.length));
    for (let y = 0; y < height; y++) out.push(line(split.map((l) => l[y] ?? '')));
    if (everyRow) out.push(rule);
  }
  if (!everyRow || cells.length === 0) out.push(rule);
  return out.join('\n');
}

function justify(text: string, width: number, right: boolean): string {
  const pad = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return right ? pad + text : text + pad;
}

/** Terminal columns of a string: East Asian wide and fullwidth characters count twice, combining marks zero. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if ((cp >= 0x300 && cp <= 0x36f) || cp === 0x200b) continue;
    const wide =
      (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}
