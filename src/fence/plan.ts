/**
 * The fence's decision (pure): given the newest grant the agent wrote and what the fence sees of postgres, what to
 * do now. The fence process (main.ts) reads the facts, applies the steps and sleeps until `nextCheckMs`.
 *
 * Why the steps are timed as they are (docs/fence.md has the whole arithmetic): the agent hands over D, the lease
 * keeper's own fencing point, sentAt + ttl − margin, where sentAt is the send time of the last successful keepalive
 * and etcd cannot expire the lease before sentAt + ttl. So the fence has `margin` (≥ 1 s) between D and the
 * earliest expiry E. A fast stop (SIGINT) makes the postmaster SIGTERM every backend at once and refuse new
 * connections; only a commit already flushing when the signal lands can still be acknowledged (interrupts are held
 * during commit), a matter of milliseconds. If the postmaster is still there at D + quitAfterMs (margin / 2), an
 * immediate stop (SIGQUIT) ends the backends without waiting; at D + killAfterMs (3/4 margin) SIGKILL of the
 * postmaster and every child leaves no process that could acknowledge anything. The last quarter of the margin
 * (≥ 250 ms) absorbs this process' own timer lateness and the signals' delivery.
 */

/** What the agent last wrote (grant.json): the fence's only input from the agent. */
export interface Grant {
  /** Monotonic: increases with every write, so a re-read of the same grant is recognised. */
  seq: number;
  /** CLOCK_MONOTONIC ns (process.hrtime.bigint()) until which this node may be primary; as a decimal string. */
  deadlineNs: string;
  /** After D: immediate stop (SIGQUIT) at D + quitAfterMs, SIGKILL of every postgres process at D + killAfterMs. */
  quitAfterMs: number;
  killAfterMs: number;
  /** The agent no longer wants a fence (demoted, paused, stopping): the fence exits without touching postgres. */
  disarmed?: boolean;
  /** Who wrote it, for the log. */
  agentPid: number;
}

export type StopStep = 'fast' | 'immediate' | 'kill';

/** What the fence remembers between checks. */
export interface FenceMemory {
  /** The deadline it fired on (ns), once it started stopping postgres; the stop is never called off after that. */
  firedAtDeadlineNs?: bigint;
  /** The postmaster it fired on: a postmaster started after that (the agent restarting it as a replica) is not it. */
  target?: number;
  sent: StopStep[];
}

export interface FenceFacts {
  nowNs: bigint;
  /** undefined: no readable grant file. */
  grant: Grant | undefined;
  /** The running postmaster's pid, if any. */
  postmaster: number | undefined;
}

export type FenceAct =
  | { kind: 'wait'; nextCheckMs: number; reason: string }
  | { kind: 'signal'; step: StopStep; pid: number; nextCheckMs: number; reason: string }
  | { kind: 'exit'; reason: string };

export interface FenceDecision {
  act: FenceAct;
  memory: FenceMemory;
}

/** How often the fence re-reads the grant while the deadline is far: a renewal or a disarm is seen this late at most. */
export const POLL_MS = 100;

const NS_PER_MS = 1_000_000n;

export function initialFenceMemory(): FenceMemory {
  return { sent: [] };
}

export function decideFence(f: FenceFacts, mem: FenceMemory): FenceDecision {
  const stay = (act: FenceAct, memory = mem): FenceDecision => ({ act, memory });
  if (mem.firedAtDeadlineNs !== undefined) return continueStop(f, mem, mem.firedAtDeadlineNs);
  const g = f.grant;
  if (!g) return stay({ kind: 'exit', reason: 'no grant to hold: the agent never armed this fence or removed its grant' });
  if (g.disarmed) return stay({ kind: 'exit', reason: `disarmed by the agent (pid ${g.agentPid})` });
  const deadline = BigInt(g.deadlineNs);
  if (f.nowNs < deadline) {
    const leftMs = Number((deadline - f.nowNs) / NS_PER_MS);
    return stay({ kind: 'wait', nextCheckMs: Math.max(1, Math.min(POLL_MS, leftMs)), reason: `may be primary for ${leftMs} ms more` });
  }
  if (f.postmaster === undefined) return stay({ kind: 'exit', reason: 'deadline passed without a renewal; postgres is not running: nothing to stop' });
  return continueStop(f, { ...mem, firedAtDeadlineNs: deadline, target: f.postmaster }, deadline);
}

/** Past the deadline with postgres still up: the next step of fast → immediate → SIGKILL that is due and not yet sent. */
function continueStop(f: FenceFacts, mem: FenceMemory, deadline: bigint): FenceDecision {
  if (f.postmaster === undefined) return { act: { kind: 'exit', reason: 'postgres stopped after the deadline passed without a renewal' }, memory: mem };
  if (f.postmaster !== mem.target) {
    return { act: { kind: 'exit', reason: `the postmaster stopped after the deadline (pid ${mem.target}) is gone; pid ${f.postmaster} was started since, not by a primary this fence held` }, memory: mem };
  }
  const pid = f.postmaster;
  const g = f.grant;
  // The grant that fired holds the step times; a later grant (a frozen agent that woke up) does not call the stop off.
  const quitAfterMs = g?.quitAfterMs ?? 500;
  const killAfterMs = g?.killAfterMs ?? 750;
  const pastMs = Number((f.nowNs - deadline) / NS_PER_MS);
  const due: StopStep = pastMs >= killAfterMs ? 'kill' : pastMs >= quitAfterMs ? 'immediate' : 'fast';
  const nextAtMs = due === 'fast' ? quitAfterMs : due === 'immediate' ? killAfterMs : pastMs + POLL_MS;
  const nextCheckMs = Math.max(1, Math.min(POLL_MS / 2, nextAtMs - pastMs));
  // SIGKILL is repeated on every check while the postmaster lives; the gentler steps are sent once.
  if (mem.sent.includes(due) && due !== 'kill') return { act: { kind: 'wait', nextCheckMs, reason: `waiting for postgres to stop (${due} sent)` }, memory: mem };
  const sent = mem.sent.includes(due) ? mem.sent : [...mem.sent, due];
  return {
    act: { kind: 'signal', step: due, pid, nextCheckMs, reason: `deadline passed ${pastMs} ms ago without a renewal: ${due} stop` },
    memory: { ...mem, sent },
  };
}
