import { LeaseNotFoundError, type ClusterStore, type LeaseId } from '../dcs/store';
import type { Logger } from '../log/logger';
import { realScheduler, type Scheduler } from '../lib/clock';

export interface LeaseKeeperOptions {
  ttlSeconds: number;
  /** The keepalive and fence timers' scheduler (default: the real clock). */
  scheduler?: Scheduler;
  /** Monotonic clock, ms (default: the scheduler's). */
  now?: () => number;
  logger: Logger;
  /** Called when the lock validity runs out without a successful renewal (self-fencing point). */
  onFence: () => void;
  /** Called when etcd says the lease is gone. */
  onLost: () => void;
  onKeepalive?: (seconds: number, ok: boolean) => void;
  /** After every grant and successful keepalive, with the new fencing point (validUntilMs): the fence's renewal. */
  onRenewed?: (validUntilMs: number) => void;
}

/** Pause before the next keepalive after a failed one: short, yet an etcd that refuses at once is not hammered. */
export const RETRY_AFTER_FAILURE_MS = 250;

/**
 * Keeps the agent's one etcd lease alive on its own timer, apart from the HA loop (design §3), so a short ttl is
 * safe. Validity is measured on our monotonic clock from the *send* time of the last successful keepalive: etcd
 * counts the lease from when it received that request, which is later, so `sentAt + ttl` never overstates it.
 */
export class LeaseKeeper {
  private lease: LeaseId | undefined;
  private lastGoodSendMs = 0;
  /** Send time of the last keepalive etcd answered (or the grant): failsafe rounds do not move it. */
  private lastKeepaliveSendMs = 0;
  private timer: unknown;
  private fenceTimer: unknown;
  private inFlight = false;
  private stopped = false;
  private granting: Promise<LeaseId> | undefined;

  private readonly scheduler: Scheduler;
  private readonly now: () => number;

  constructor(private readonly store: ClusterStore, private opts: LeaseKeeperOptions) {
    const scheduler = opts.scheduler ?? realScheduler;
    this.scheduler = scheduler;
    this.now = opts.now ?? (() => scheduler.now());
  }

  /**
   * Keepalive period: four per ttl (≥ 250 ms) so that one lost or slow keepalive leaves at least two more chances
   * before the fencing point at ttl − margin.
   */
  get intervalMs(): number {
    return Math.max(250, (this.opts.ttlSeconds * 1000) / 4);
  }

  /**
   * Fencing margin: time reserved to stop postgres before etcd can expire the lease. A quarter of ttl, at least
   * 1 s (a fast shutdown on this hardware) and at most 5 s.
   */
  get fenceMarginMs(): number {
    return Math.min(5000, Math.max(1000, (this.opts.ttlSeconds * 1000) / 4));
  }

  get leaseId(): LeaseId | undefined {
    return this.lease;
  }

  /** Until when (monotonic ms) a leader key on our lease is surely ours. 0 without a live lease. */
  validUntilMs(): number {
    if (!this.lease || this.lastGoodSendMs === 0) return 0;
    return this.lastGoodSendMs + this.opts.ttlSeconds * 1000 - this.fenceMarginMs;
  }

  /** Send time (monotonic ms) of the last keepalive etcd answered, or of the grant; 0 without a lease. */
  get lastKeepaliveMs(): number {
    return this.lease ? this.lastKeepaliveSendMs : 0;
  }

  /**
   * Failsafe mode (failsafe.ts): every member confirmed this leader in a round sent at `sentAtMs`, and none of them
   * races for ttl after receiving it. The validity and the fence grant then run from that send time, as after a
   * keepalive. Without a lease there is nothing to extend.
   */
  renewByFailsafe(sentAtMs: number): void {
    if (!this.lease || this.lastGoodSendMs === 0) return;
    this.lastGoodSendMs = Math.max(this.lastGoodSendMs, sentAtMs);
    this.armFence('failsafe');
    this.opts.onRenewed?.(this.validUntilMs());
  }

  setTtl(ttlSeconds: number): void {
    this.opts = { ...this.opts, ttlSeconds };
  }

  /** Returns the current lease, granting one when there is none. */
  async ensureLease(): Promise<LeaseId> {
    if (this.lease) return this.lease;
    if (!this.granting) {
      this.granting = (async () => {
        const sentAt = this.now();
        const id = await this.store.grantLease(this.opts.ttlSeconds);
        this.lease = id;
        this.lastGoodSendMs = sentAt;
        this.lastKeepaliveSendMs = sentAt;
        this.armFence('grant');
        this.opts.onRenewed?.(this.validUntilMs());
        this.opts.logger.info({ lease: id, ttlSeconds: this.opts.ttlSeconds }, 'lease granted');
        return id;
      })().finally(() => {
        this.granting = undefined;
      });
    }
    return this.granting;
  }

  /**
   * After a failed keepalive the next one goes after RETRY_AFTER_FAILURE_MS, not a whole interval: a keepalive that
   * waited out its deadline on a stalled etcd (retry_timeout, 2 s in the fast profile) leaves little of the validity,
   * and the one sent right after the stall ends is what keeps the leader. A short stall then costs no failover.
   */
  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      void this.keepAliveOnce().catch((err: unknown) => {
        // Only a callback can throw here (keepAliveOnce catches the store's errors): count it a failed round.
        this.opts.logger.warn({ err }, 'lease keepalive round failed');
        return false;
      }).then((ok) => {
        if (!this.stopped) this.timer = this.scheduler.setTimer(loop, ok ? this.intervalMs : Math.min(this.intervalMs, RETRY_AFTER_FAILURE_MS));
      });
    };
    this.timer = this.scheduler.setTimer(loop, this.intervalMs);
  }

  /** One keepalive round trip (also used to force a renewal right after taking the lock). */
  async keepAliveOnce(): Promise<boolean> {
    const lease = this.lease;
    if (!lease || this.inFlight) return false;
    this.inFlight = true;
    const sentAt = this.now();
    try {
      const ttl = await this.store.keepAlive(lease);
      this.opts.onKeepalive?.((this.now() - sentAt) / 1000, ttl > 0);
      if (ttl <= 0) {
        if (this.lease === lease) this.dropLease('lease expired in etcd');
        return false;
      }
      if (this.lease === lease) {
        this.lastGoodSendMs = Math.max(this.lastGoodSendMs, sentAt);
        this.lastKeepaliveSendMs = Math.max(this.lastKeepaliveSendMs, sentAt);
        this.armFence('keepalive');
        this.opts.onRenewed?.(this.validUntilMs());
      }
      return true;
    } catch (err) {
      this.opts.onKeepalive?.((this.now() - sentAt) / 1000, false);
      this.opts.logger.warn({ err, lease }, 'lease keepalive failed');
      return false;
    } finally {
      this.inFlight = false;
    }
  }

  async revoke(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.lastGoodSendMs = 0;
    // Unrevoked, the lease (and the keys on it) expires after ttl: a slower hand-over, not a wrong one.
    if (lease) await this.store.revokeLease(lease).catch((err: unknown) => this.opts.logger.warn({ err, lease }, 'revoking the lease failed'));
  }

  /** A write named our lease and etcd did not know it: drop it, so the next write grants a new one. */
  noteWriteError(err: unknown): void {
    if (err instanceof LeaseNotFoundError && this.lease !== undefined && String(err.lease) === String(this.lease)) {
      this.dropLease('lease not found in etcd');
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.scheduler.clearTimer(this.timer);
    if (this.fenceTimer) this.scheduler.clearTimer(this.fenceTimer);
  }

  private dropLease(why: string): void {
    this.opts.logger.warn({ lease: this.lease, why }, 'lease lost');
    this.lease = undefined;
    this.lastGoodSendMs = 0;
    this.opts.onLost();
  }

  /** Sets the fence timer to the end of the validity (after a grant or a good keepalive). Protected: the simulator plants defects here. */
  protected armFence(_after: 'grant' | 'keepalive' | 'failsafe'): void {
    if (this.fenceTimer) this.scheduler.clearTimer(this.fenceTimer);
    const delay = Math.max(0, this.validUntilMs() - this.now());
    this.fenceTimer = this.scheduler.setTimer(() => {
      if (this.validUntilMs() <= this.now()) this.opts.onFence();
    }, delay + 1);
  }
}
