/** `pgha ctl history`: the `history` key as patronictl prints it (columns TL, LSN, Reason, Timestamp, New Leader). */
import { stringify as yamlStringify } from 'yaml';
import type { HistoryLine } from '../model/cluster';
import { pythonJson, pythonStr } from '../lib/python-format';
import { prettyTable } from './list';
import { CtlError } from './session';

export const HISTORY_COLUMNS = ['TL', 'LSN', 'Reason', 'Timestamp', 'New Leader'] as const;
export type TableFormat = 'pretty' | 'tsv' | 'json' | 'yaml';

export function tableFormat(value: string | undefined): TableFormat {
  const f = value ?? 'pretty';
  if (f === 'yml') return 'yaml';
  if (f === 'pretty' || f === 'tsv' || f === 'json' || f === 'yaml') return f;
  throw new CtlError(`-f ${f}: expected pretty, tsv, json or yaml`);
}

export function renderHistory(history: readonly HistoryLine[] | undefined, format: TableFormat): string {
  const rows: unknown[][] = (history ?? []).map((line) => {
    // A line that is not a list (garbage in the key) is shown as one cell rather than crashing the listing.
    const row: unknown[] = Array.isArray(line) ? [...(line as unknown[])] : [line];
    while (row.length < HISTORY_COLUMNS.length) row.push('');
    return row;
  });
  return renderTable([...HISTORY_COLUMNS], rows, format, new Set(['TL', 'LSN']));
}

/** patronictl's print_output for a table without a title. The text ends with a newline. */
export function renderTable(columns: string[], rows: unknown[][], format: TableFormat, right: ReadonlySet<string>): string {
  if (format === 'json' || format === 'yaml') {
    const objects = rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
    // click.echo adds a newline after the YAML's own.
    return format === 'json' ? `${pythonJson(objects)}\n` : `${formatYaml(objects)}\n`;
  }
  if (format === 'tsv') return [columns, ...rows].map((r) => `${r.map(pythonStr).join('\t')}\n`).join('');
  return `${prettyTable('', columns, rows, right)}\n`;
}

/** PyYAML `safe_dump(data, default_flow_style=False, allow_unicode=True, width=200)`: YAML 1.1, keys sorted. */
export function formatYaml(data: unknown): string {
  return yamlStringify(data, {
    version: '1.1',
    sortMapEntries: true,
    lineWidth: 200,
    minContentWidth: 0,
    singleQuote: true,
    indentSeq: false,
    nullStr: 'null',
    blockQuote: false,
  });
}
