/** Read-only verbs: `list` (with -W/-w refresh), `topology`, `history` and `version`. */
import { renderList, type ListFormat } from './list';
import { renderHistory, type TableFormat } from './history';
import { readExistingView, readView, timestamp, type CtlSession } from './session';
import { describe } from '../lib/errors';

export interface ListOptions {
  clusters: CtlSession[];
  format: ListFormat;
  extended: boolean;
  timestamps: boolean;
  /** Refresh every this many seconds; 0 = once. */
  refreshSeconds: number;
  /** For -W on a terminal: draw each refresh in place (watchFrame). */
  clear: boolean;
  /** Stops the refresh loop (tests); never set on the CLI, where ^C ends it. */
  rounds?: number;
}

export async function runList(o: ListOptions): Promise<number> {
  const io = o.clusters[0]!.io;
  for (let round = 1; ; round++) {
    const parts: string[] = [];
    if (o.timestamps) parts.push(`${timestamp(io.now(), 0)}\n`);
    for (const s of o.clusters) {
      let text: string;
      try {
        text = renderList(await readView(s), s.scope, { format: o.format, extended: o.extended });
      } catch (err) {
        // Watching through an etcd outage or a failover is what -W is for: say so in the frame and keep refreshing.
        if (!o.refreshSeconds) throw err;
        text = `Error: cluster ${s.scope}: ${describe(err)}\n`;
      }
      parts.push(text.endsWith('\n') ? text : `${text}\n`);
    }
    io.write(o.refreshSeconds > 0 && o.clear ? watchFrame(parts.join(''), round === 1) : parts.join(''));
    if (!o.refreshSeconds || (o.rounds !== undefined && round >= o.rounds)) return 0;
    await io.sleep(o.refreshSeconds * 1000);
  }
}

/**
 * One refresh of `list -W` on a terminal, drawn in place. The first clears the screen (patronictl's click.clear());
 * later ones go to the top-left corner and overwrite: each line erased to its end, the screen erased below the
 * last, so nothing flickers and a shorter table (a member gone) leaves nothing behind.
 */
export function watchFrame(text: string, first: boolean): string {
  if (first) return `${CLEAR_SCREEN}${text}`;
  return `${CURSOR_HOME}${text.replace(/\n/g, `${ERASE_LINE_END}\n`)}${ERASE_BELOW}`;
}

const CURSOR_HOME = '\x1b[H';
const CLEAR_SCREEN = '\x1b[H\x1b[2J';
const ERASE_LINE_END = '\x1b[K';
const ERASE_BELOW = '\x1b[J';

export async function runHistory(s: CtlSession, format: TableFormat): Promise<number> {
  const view = await readExistingView(s);
  s.io.write(renderHistory(view.history, format));
  return 0;
}

/** patronictl's format_pg_version: 150004 → 15.4, 90624 → 9.6.24. */
export function formatPgVersion(version: number): string {
  if (version < 100000) return `${Math.trunc(version / 10000)}.${Math.trunc(version / 100) % 100}.${version % 100}`;
  return `${Math.trunc(version / 10000)}.${version % 100}`;
}

/** `version [CLUSTER [MEMBER...]]`: our version, then each member's from GET /patroni. */
export async function runVersion(ctlVersion: string, write: (line: string) => void, s: CtlSession | undefined, names: string[]): Promise<number> {
  write(`pgha ctl version ${ctlVersion}`);
  if (!s) return 0;
  write('');
  const view = await readExistingView(s);
  for (const m of [...view.members.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!m.doc.api_url || (names.length && !names.includes(m.name))) continue;
    try {
      const doc = JSON.parse((await s.rest.request(m.doc.api_url, 'GET', 'patroni', undefined, 10_000)).body) as {
        patroni?: { version?: string };
        server_version?: number;
      };
      const pg = typeof doc.server_version === 'number' && doc.server_version ? ` PostgreSQL ${formatPgVersion(doc.server_version)}` : '';
      write(`${m.name}: Patroni ${doc.patroni?.version ?? 'None'}${pg}`);
    } catch (err) {
      write(`${m.name}: failed to get version: ${(err as Error).message}`);
    }
  }
  return 0;
}
