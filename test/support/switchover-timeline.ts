/**
 * Where a switchover's write gap goes: the steps the agents and the router log (pino JSON lines), in time order,
 * relative to the switchover request. The integration test and bench/switchover.ts print it beside the gap figure.
 */

/** The log messages that mark a step (agent and router), with a short label each. */
const STEPS: Record<string, string> = {
  'received switchover request': 'switchover request received (failover key written next)',
  'switchover pending: holding new write connections': 'router holds new writes (failover key)',
  'switchover drain started': 'old leader starts the drain (drain key)',
  'switchover drain': 'router drain step',
  'switchover drain acknowledged': 'router acknowledged the drain',
  'switchover drain finished': 'old leader: drain finished',
  'postgres stopped': 'postgres stopped',
  'leader key changed': 'router saw the leader key change',
  'acquired leader key': 'candidate acquired the leader key',
  'postgres promoted': 'candidate: pg_ctl promote returned',
  promoted: 'candidate: promote task done (history key, checkpoint)',
  'routing changed': 'router table changed',
  'switchover done: releasing held write connections': 'router releases held writes',
};

export interface TimelineEvent {
  atMs: number;
  source: string;
  label: string;
  detail: string;
}

/** Events of `lines` (one source's pino JSON lines) from `fromMs` (epoch ms) on; other lines are ignored. */
export function timelineEvents(source: string, lines: readonly string[], fromMs: number, toMs = Number.POSITIVE_INFINITY): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const msg = typeof o.msg === 'string' ? o.msg : '';
    const label = STEPS[msg];
    const at = typeof o.time === 'string' ? Date.parse(o.time) : typeof o.time === 'number' ? o.time : NaN;
    if (!label || !Number.isFinite(at) || at < fromMs || at > toMs) continue;
    const detail = [o.reason, o.leader !== undefined ? `leader ${String(o.leader)}` : undefined, o.durationMs !== undefined ? `${String(o.durationMs)} ms` : undefined]
      .filter((x) => x !== undefined && x !== null && x !== '')
      .join('; ');
    out.push({ atMs: at, source, label, detail });
  }
  return out;
}

/** The merged events as lines: `+1234 ms  source  label  (detail)`, relative to `t0Ms`. */
export function formatTimeline(events: readonly TimelineEvent[], t0Ms: number): string[] {
  return [...events]
    .sort((a, b) => a.atMs - b.atMs)
    .map((e) => `${`${e.atMs - t0Ms >= 0 ? '+' : ''}${e.atMs - t0Ms}`.padStart(6)} ms  ${e.source.padEnd(8)} ${e.label}${e.detail ? `  (${e.detail.slice(0, 140)})` : ''}`);
}
