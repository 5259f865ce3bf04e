/**
 * Operator requests that act on the local node (REST `POST /restart`, `/reinitialize`, `/reload`): the REST layer
 * submits them here and awaits the outcome; the HA loop takes one per cycle as part of its observation, decide()
 * turns it into an action (or refuses it with a reason), and the executor settles it. Switchover, failover and
 * pause are not local requests: they travel through etcd (`failover` key, `config.pause`) like Patroni's.
 */

export type OperatorRequest =
  | { type: 'restart' }
  | { type: 'reinitialize'; force: boolean }
  | { type: 'reload' };

export interface RequestOutcome {
  ok: boolean;
  /** Patroni's wording where it has one ("restarted successfully", "restart failed"…). */
  message: string;
}

interface Pending {
  request: OperatorRequest;
  resolve: (outcome: RequestOutcome) => void;
}

export class RequestQueue {
  private pending: Pending | undefined;
  private taken: Pending | undefined;
  private idleWaiters: (() => void)[] = [];

  /** Submits a request; refused at once when another one is queued or running (Patroni answers 503 then). */
  submit(request: OperatorRequest): Promise<RequestOutcome> {
    if (this.pending || this.taken) {
      const busy = (this.taken ?? this.pending)!.request.type;
      return Promise.resolve({ ok: false, message: `${busy} already in progress` });
    }
    return new Promise((resolve) => {
      this.pending = { request, resolve };
    });
  }

  /** The request waiting for the loop, if any (what the observation carries). */
  peek(): OperatorRequest | undefined {
    return this.pending?.request;
  }

  /** The loop starts acting on the waiting request. */
  take(): OperatorRequest | undefined {
    if (!this.pending) return undefined;
    this.taken = this.pending;
    this.pending = undefined;
    return this.taken.request;
  }

  /** Settles the request taken (or still waiting, when decide refused it). */
  settle(outcome: RequestOutcome): void {
    const p = this.taken ?? this.pending;
    this.taken = undefined;
    if (p === this.pending) this.pending = undefined;
    p?.resolve(outcome);
    if (!this.busy) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** The type of the request queued or running, if any. */
  busyWith(): OperatorRequest['type'] | undefined {
    return (this.taken ?? this.pending)?.request.type;
  }

  /** Resolves once no request is queued or running (at once when none is). */
  whenIdle(): Promise<void> {
    return this.busy ? new Promise((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
  }

  get busy(): boolean {
    return this.pending !== undefined || this.taken !== undefined;
  }
}
