/**
 * Replica lag from the freshest positions available. Deterministic: every call takes the time explicitly.
 *
 * Reference (leader) position = the largest of
 *   - the leader's own REST answer `xlog.location` (its flush LSN, refreshed every health interval),
 *   - etcd's `status.optime` (written by the leader every loop_wait),
 *   - the leader's member key `xlog_location`.
 * It only ever grows, except that it is reset when the leader key names a different member (a new leader may
 * have started from a lower position; the old leader's unreplicated WAL is gone).
 *
 * Replica position = its REST `xlog.replayed_location` (or `received_location` with `lag.position: receive`),
 * observed when its answer arrived.
 *
 * Bytes lag = reference − position (0 when ahead). Like Patroni's `/replica?lag=`, the reference may be newer
 * than the replica's observation by up to one health interval, so the figure errs on the side of "more behind".
 *
 * Seconds lag = how long the leader has had WAL that the replica had not replayed when it was observed:
 * `observedAt − firstSeen(p)` where `p` is the oldest reference position seen that is beyond the replica's
 * position, or 0 when the replica has replayed everything the router has seen the leader write. It is right on an
 * idle primary (0: nothing to replay), unlike replay-timestamp methods, and its precision is one health
 * interval. When the replica is behind every position still in the history (router just started, or history
 * trimmed), the figure is only a lower bound: it then never qualifies a replica (unknown ⇒ out).
 */
import type { ClusterView } from '../model/cluster';
import type { LagConfig, MemberHealth, MemberLag } from './types';

interface Sample {
  lsn: number;
  atMs: number;
}

const MAX_SAMPLES = 4096;

export class LagTracker {
  private samples: Sample[] = [];
  private leaderName: string | undefined;

  constructor(private readonly config: LagConfig) {}

  /** The newest reference position, undefined before any. */
  referenceLsn(): number | undefined {
    return this.samples.length ? this.samples[this.samples.length - 1]!.lsn : undefined;
  }

  /** Records that the leader was seen at `lsn` at `atMs`. Positions that do not advance are ignored. */
  observeReference(lsn: number | undefined, atMs: number): void {
    if (lsn === undefined || !Number.isFinite(lsn)) return;
    const last = this.samples[this.samples.length - 1];
    if (last && lsn <= last.lsn) return;
    this.samples.push({ lsn, atMs: last ? Math.max(atMs, last.atMs) : atMs });
    this.trim(atMs);
  }

  /** Forgets the history when the leader changes. */
  setLeader(name: string | undefined): void {
    if (name === this.leaderName) return;
    if (name !== undefined) this.samples = [];
    this.leaderName = name;
  }

  /** Lag of a replica at `position`, observed at `observedAtMs`. */
  lagOf(position: number, observedAtMs: number): Omit<MemberLag, 'observedAtMs'> {
    const ref = this.referenceLsn();
    if (ref === undefined) return { positionLsn: position };
    const bytes = Math.max(0, ref - position);
    if (position >= ref) return { bytes, seconds: 0, referenceLsn: ref, positionLsn: position };
    // First sample beyond the replica: binary search over increasing lsn.
    let lo = 0;
    let hi = this.samples.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.samples[mid]!.lsn > position) hi = mid;
      else lo = mid + 1;
    }
    const first = this.samples[lo]!;
    const seconds = Math.max(0, observedAtMs - first.atMs) / 1000;
    return { bytes, seconds, ...(lo === 0 ? { secondsLowerBound: true } : {}), referenceLsn: ref, positionLsn: position };
  }

  /**
   * Feeds the reference from the view and the leader's REST answer, then computes every other member's lag.
   * Members without a REST position get an entry with no bytes/seconds (unknown).
   */
  update(view: ClusterView | undefined, health: ReadonlyMap<string, MemberHealth>, nowMs: number): Map<string, MemberLag> {
    const out = new Map<string, MemberLag>();
    if (!view) return out;
    const leader = view.leader?.name;
    this.setLeader(leader);
    if (leader !== undefined) {
      const h = health.get(leader);
      if (h?.status?.location !== undefined && h.okAtMs !== undefined) this.observeReference(h.status.location, h.okAtMs);
      const keyLsn = view.members.get(leader)?.doc.xlog_location;
      this.observeReference(Math.max(view.optime ?? 0, typeof keyLsn === 'number' ? keyLsn : 0) || undefined, nowMs);
    }
    for (const name of view.members.keys()) {
      if (name === leader) continue;
      const h = health.get(name);
      const st = h?.status;
      const position = this.config.position === 'receive' ? st?.receivedLocation ?? st?.replayedLocation : st?.replayedLocation;
      if (position === undefined || h?.okAtMs === undefined) {
        out.set(name, {});
        continue;
      }
      out.set(name, { ...this.lagOf(position, h.okAtMs), observedAtMs: h.okAtMs });
    }
    return out;
  }

  private trim(nowMs: number): void {
    const keepFrom = nowMs - this.config.historyMs;
    let drop = 0;
    while (drop < this.samples.length - 1 && this.samples[drop]!.atMs < keepFrom) drop++;
    if (this.samples.length - drop > MAX_SAMPLES) drop = this.samples.length - MAX_SAMPLES;
    if (drop > 0) this.samples.splice(0, drop);
  }
}
