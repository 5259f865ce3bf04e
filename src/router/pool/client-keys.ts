/**
 * The BackendKeyData the router issues to its pooled clients (pool-design item 5): a 32-bit process id whose top
 * 8 bits are the worker index (0 for the single-process router, 1..N for workers), so a worker that receives a
 * CancelRequest for another worker's client knows where to forward it (pool-room.ts, over the control plane), and
 * a random 32-bit secret (crypto). A CancelRequest carrying one is resolved here to the server connection running
 * that client's query right now, and sent there with the SERVER's own key.
 */
import { randomBytes } from 'node:crypto';
import type { CancelGuard } from './cancel-guard';

/** What a cancel needs of a pooled client: the server connection it runs a query on now, if any. */
export interface Cancellable {
  /** `guard`: the server connection's (cancel-guard.ts), held while the CancelRequest is on its way. */
  cancelTarget(): { host: string; port: number; member: string; processId: number; secretKey: number; guard?: CancelGuard } | undefined;
}

export class ClientKeys<T extends Cancellable> {
  private readonly byPid = new Map<number, { secret: number; owner: T }>();
  private counter = 0;

  constructor(private readonly workerIndex = 0) {}

  /** A fresh key for `owner`: its process id is unique among the live keys of this process. */
  issue(owner: T): { processId: number; secretKey: number } {
    let processId: number;
    do {
      this.counter = (this.counter + 1) & 0xffffff;
      processId = ((this.workerIndex & 0xff) << 24) | this.counter;
    } while (this.byPid.has(processId) || processId === 0);
    const secretKey = randomBytes(4).readInt32BE(0);
    this.byPid.set(processId, { secret: secretKey, owner });
    return { processId, secretKey };
  }

  /** The owner of a (process id, secret) pair: undefined for an unknown key or a wrong secret. */
  find(processId: number, secretKey: number): T | undefined {
    const e = this.byPid.get(processId);
    return e && e.secret === secretKey ? e.owner : undefined;
  }

  remove(processId: number): void {
    this.byPid.delete(processId);
  }

  /** Every pooled client holding a key now (the admin view's client table). */
  *owners(): IterableIterator<T> {
    for (const e of this.byPid.values()) yield e.owner;
  }

  /** The worker a key belongs to (its top 8 bits). */
  static workerOf(processId: number): number {
    return (processId >>> 24) & 0xff;
  }

  get size(): number {
    return this.byPid.size;
  }
}
