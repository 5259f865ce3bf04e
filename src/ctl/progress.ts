/**
 * Progress of a member's long task while a verb waits for it (`reinit --wait`, `restart`): read from the
 * `pgha_progress` field of the member's GET /patroni (Patroni agents have none: nothing is printed for them) and
 * printed on a terminal as one line rewritten in place, elsewhere as one line per change of step or percent.
 */
import type { PghaProgress } from '../model/patroni-format';
import { formatDuration, formatKb, formatRate } from '../lib/progress';
import type { CtlIo, CtlSession } from './session';

/** How often a waiting verb asks a member how its task goes: the tools report once a second. */
export const PROGRESS_POLL_MS = 2000;

/** The `pgha_progress` of a /patroni document, if it has a well-formed one. */
export function progressOf(doc: Record<string, unknown>): PghaProgress | undefined {
  const p = doc.pgha_progress;
  if (!p || typeof p !== 'object') return undefined;
  const r = p as Record<string, unknown>;
  if (typeof r.task !== 'string' || typeof r.elapsed_s !== 'number') return undefined;
  return r as unknown as PghaProgress;
}

/**
 * `n2: reinit, basebackup 45% (120.5 MB of 268.0 MB, 56.2 MB/s, 3 s left), 12 s elapsed`;
 * before the tool's first report `n2: reinit, basebackup starting, 2 s elapsed`; outside a copy `n2: restart, 4 s elapsed`.
 */
export function describeProgress(member: string, p: PghaProgress): string {
  let step = '';
  if (p.step && p.percent !== undefined) {
    const figures = [`${formatKb(p.done_kb ?? 0)} of ${formatKb(p.total_kb ?? 0)}`, formatRate(p.rate_kb_s ?? 0)];
    if (p.eta_s !== undefined) figures.push(`${formatDuration(p.eta_s)} left`);
    step = `, ${p.step} ${p.percent}% (${figures.join(', ')})`;
  } else if (p.step) {
    step = `, ${p.step} starting`;
  }
  return `${member}: ${p.task}${step}, ${formatDuration(p.elapsed_s)} elapsed`;
}

/** What a non-terminal gets a new line for: a new task, step or percent (not each second of elapsed time). */
function changeKey(p: PghaProgress): string {
  return `${p.task}/${p.step ?? ''}/${p.percent ?? ''}`;
}

export class ProgressPrinter {
  private readonly lines = new Map<string, string>();
  private readonly keys = new Map<string, string>();
  private open = false;

  constructor(private readonly io: CtlIo) {}

  /** The member's progress now; undefined: it has none (idle, finished, or not a pgha agent). */
  show(member: string, p: PghaProgress | undefined): void {
    if (!p) {
      this.lines.delete(member);
      this.keys.delete(member);
      if (this.io.stdoutIsTty) this.redraw();
      return;
    }
    const line = describeProgress(member, p);
    this.lines.set(member, line);
    if (this.io.stdoutIsTty) return this.redraw();
    if (this.keys.get(member) === changeKey(p)) return;
    this.keys.set(member, changeKey(p));
    this.io.out(line);
  }

  /** Ends the in-place line, so what is printed next starts on a line of its own. */
  done(): void {
    if (this.open) this.io.write('\n');
    this.open = false;
  }

  /** `\r`, the members' lines side by side, erase to the end of the line (a shorter line leaves no tail). */
  private redraw(): void {
    if (this.lines.size === 0) {
      if (this.open) this.io.write('\r\x1b[K'); // nothing left to show: wipe the line, what follows prints on it
      this.open = false;
      return;
    }
    let text = [...this.lines.values()].join(' | ');
    if (this.io.columns && text.length >= this.io.columns) text = `${text.slice(0, this.io.columns - 2)}…`;
    this.io.write(`\r${text}\x1b[K`);
    this.open = true;
  }
}

/** GET /patroni of a member, parsed; undefined when it does not answer (restarting, busy). */
export async function patroniDoc(s: CtlSession, apiUrl: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse((await s.rest.request(apiUrl, 'GET', 'patroni', undefined, 10_000)).body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Awaits `request` (a REST call the member answers when its task is done, e.g. POST /restart) and meanwhile shows
 * the member's progress every PROGRESS_POLL_MS.
 */
export async function withProgress<T>(s: CtlSession, member: string, apiUrl: string, request: Promise<T>): Promise<T> {
  const printer = new ProgressPrinter(s.io);
  let settled = false;
  const done = request.finally(() => (settled = true));
  try {
    for (;;) {
      const first = await Promise.race([done.then(() => 'done' as const), s.io.sleep(PROGRESS_POLL_MS).then(() => 'poll' as const)]);
      if (first === 'done' || settled) return await done;
      const doc = await patroniDoc(s, apiUrl);
      if (!settled && doc) printer.show(member, progressOf(doc));
    }
  } finally {
    printer.done();
  }
}
