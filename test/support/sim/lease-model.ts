/**
 * The agent's lease keeper, step for step as src/agent/lease-keeper.ts does it, on simulated time: one lease,
 * a keepalive every max(250 ms, ttl/4) after the previous one finished, validity = send time of the last good
 * keepalive + ttl − margin, margin = clamp(ttl/4, 1 s, 5 s), and a fence timer at the end of the validity.
 * `bug` plants a defect so tests can show that the simulator catches it.
 */
import { LeaseNotFoundError } from '../../../src/dcs/store';
import type { MemoryStore } from '../../../src/dcs/memory/memory-store';
import type { Res } from './context';

export type LeaseBug = 'no-margin' | 'no-fence-timer' | 'validity-from-receive';

export interface LeaseHost {
  now(): number;
  later(ms: number, fn: () => void): void;
  dcs<T>(what: string, fn: (s: MemoryStore) => Promise<T>, cb: (r: Res<T>) => void): void;
  onFence(): void;
  onLost(): void;
}

export class SimLease {
  lease: string | undefined;
  private lastGoodSendMs = 0;
  private inFlight = false;
  private granting: Array<(r: Res<string>) => void> | undefined;
  private fenceToken = 0;

  constructor(private readonly host: LeaseHost, private ttlSeconds: number, private readonly bug?: LeaseBug) {}

  get intervalMs(): number {
    return Math.max(250, (this.ttlSeconds * 1000) / 4);
  }

  get fenceMarginMs(): number {
    if (this.bug === 'no-margin') return 0;
    return Math.min(5000, Math.max(1000, (this.ttlSeconds * 1000) / 4));
  }

  validUntilMs(): number {
    if (!this.lease || this.lastGoodSendMs === 0) return 0;
    return this.lastGoodSendMs + this.ttlSeconds * 1000 - this.fenceMarginMs;
  }

  setTtl(ttlSeconds: number): void {
    this.ttlSeconds = ttlSeconds;
  }

  ensureLease(cb: (r: Res<string>) => void): void {
    if (this.lease) return cb({ ok: true, value: this.lease });
    if (this.granting) {
      this.granting.push(cb);
      return;
    }
    this.granting = [cb];
    const sentAt = this.host.now();
    this.host.dcs('granting a lease', (s) => s.grantLease(this.ttlSeconds), (r) => {
      const waiters = this.granting ?? [];
      this.granting = undefined;
      if (r.ok) {
        this.lease = r.value;
        this.lastGoodSendMs = this.bug === 'validity-from-receive' ? this.host.now() : sentAt;
        this.armFence();
      }
      for (const w of waiters) w(r);
    });
  }

  start(): void {
    const loop = () => this.keepAliveOnce(() => this.host.later(this.intervalMs, loop));
    this.host.later(this.intervalMs, loop);
  }

  keepAliveOnce(cb: (ok: boolean) => void): void {
    const lease = this.lease;
    if (!lease || this.inFlight) return cb(false);
    this.inFlight = true;
    const sentAt = this.host.now();
    this.host.dcs(`renewing lease ${lease}`, (s) => s.keepAlive(lease), (r) => {
      this.inFlight = false;
      if (!r.ok) return cb(false);
      if (r.value <= 0) {
        if (this.lease === lease) this.dropLease();
        return cb(false);
      }
      if (this.lease === lease) {
        const good = this.bug === 'validity-from-receive' ? this.host.now() : sentAt;
        this.lastGoodSendMs = Math.max(this.lastGoodSendMs, good);
        this.armFence();
      }
      cb(true);
    });
  }

  /** A write named our lease and the DCS did not know it: drop it. */
  noteWriteError(err: Error): void {
    if (err instanceof LeaseNotFoundError && this.lease !== undefined && String(err.lease) === String(this.lease)) this.dropLease();
  }

  private dropLease(): void {
    this.lease = undefined;
    this.lastGoodSendMs = 0;
    this.host.onLost();
  }

  private armFence(): void {
    if (this.bug === 'no-fence-timer') return;
    const token = ++this.fenceToken;
    const delay = Math.max(0, this.validUntilMs() - this.host.now());
    this.host.later(delay + 1, () => {
      if (token === this.fenceToken && this.validUntilMs() <= this.host.now()) this.host.onFence();
    });
  }
}
