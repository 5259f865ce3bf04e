/**
 * A pooling router's key in etcd, `/<ns>/<scope>/routers/<id>` (model/drain.ts), on a lease of its own that a
 * keepalive loop renews: the leader agent waits for every registered router before a switchover demotes it, so a
 * router that dies must drop out by itself (at most one ttl later), and a stopping router deletes its key at once.
 * A lost lease (etcd restarted, a long partition) is granted again and the key written again on the next round.
 */
import { LeaseNotFoundError, type ClusterStore, type LeaseId } from '../dcs/store';
import type { ClusterKeys } from '../model/keys';
import { encodeRouterRegistration, type RouterRegistration } from '../model/drain';
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';

/** A dead router delays a switchover by at most the drain timeout, and drops out of the wait within this ttl. */
export const REGISTRATION_TTL_S = 30;
/** Three renewals per ttl: two may fail before the key goes. */
const RENEW_MS = (REGISTRATION_TTL_S * 1000) / 3;
/** A failed write is retried this soon (the key is what the agents wait on). */
const RETRY_MS = 1000;

export type RegistrationFields = Omit<RouterRegistration, 'modRevision'>;

export class RouterRegistry {
  private lease: LeaseId | undefined;
  private timer: unknown;
  private stopped = true;
  private fields: RegistrationFields;
  /** The fields as last written under the current lease (undefined: the key must be written). */
  private written: string | undefined;
  /** Writes run one at a time (a renewal and an update must not both grant a lease). */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly d: { store: ClusterStore; keys: ClusterKeys; scheduler: Scheduler; logger: Logger },
    fields: RegistrationFields,
  ) {
    this.fields = fields;
  }

  get id(): string {
    return this.fields.id;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.runRound();
  }

  /** Changes the key's content; resolves once written (rejects when etcd refused it: the caller retries). */
  async update(change: Partial<RegistrationFields>): Promise<void> {
    this.fields = { ...this.fields, ...change };
    await this.serial(() => this.write());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) this.d.scheduler.clearTimer(this.timer);
    this.timer = undefined;
    await this.chain;
    const lease = this.lease;
    this.lease = undefined;
    // The key goes with its lease; deleting it first makes the agents stop waiting for this router at once.
    await this.d.store.delete(this.d.keys.router(this.fields.id)).catch((err: unknown) => this.d.logger.warn({ err }, 'deleting the router registration failed; its lease will remove it'));
    if (lease) await this.d.store.revokeLease(lease).catch((err: unknown) => this.d.logger.warn({ err, lease }, 'revoking the router registration lease failed; it expires by itself'));
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined); // the caller of fn sees (and logs) its failure
    return p;
  }

  private runRound(): Promise<void> {
    return this.serial(() => this.renew()).then(
      () => this.schedule(RENEW_MS),
      (err: unknown) => {
        this.d.logger.warn({ err, router: this.fields.id }, 'router registration renewal failed; retrying');
        this.schedule(RETRY_MS);
      },
    );
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.d.scheduler.setTimer(() => {
      this.timer = undefined;
      void this.runRound();
    }, ms);
  }

  private async renew(): Promise<void> {
    if (this.lease && (await this.d.store.keepAlive(this.lease)) <= 0) this.dropLease();
    await this.write();
  }

  private async write(): Promise<void> {
    if (this.stopped) return;
    const value = encodeRouterRegistration(this.fields);
    if (this.lease && this.written === value) return;
    if (!this.lease) {
      this.lease = await this.d.store.grantLease(REGISTRATION_TTL_S);
      this.written = undefined;
    }
    try {
      await this.d.store.put(this.d.keys.router(this.fields.id), value, this.lease);
      if (this.written === undefined) this.d.logger.info({ router: this.fields.id, lease: this.lease }, 'router registered for switchover drains');
      this.written = value;
    } catch (err) {
      if (err instanceof LeaseNotFoundError) this.dropLease();
      throw err;
    }
  }

  private dropLease(): void {
    this.d.logger.warn({ router: this.fields.id, lease: this.lease }, 'router registration lease lost; registering again');
    this.lease = undefined;
    this.written = undefined;
  }
}
