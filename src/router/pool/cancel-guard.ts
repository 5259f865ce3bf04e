/**
 * A server connection a CancelRequest was sent for stays with its client until PostgreSQL has closed the cancel
 * connection. The postmaster signals a cancelled backend twice (its process, then its process group) and closes
 * the cancel connection after both: a server connection handed to the next transaction before that could have the
 * next statement cancelled by the second signal. PgBouncer keeps such a connection out of its pool the same way.
 */
export class CancelGuard {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  /** A CancelRequest for this connection is on its way to PostgreSQL. */
  begin(): void {
    this.inFlight++;
  }

  /** PostgreSQL closed that cancel connection (or it failed): what waited for the last one runs now. */
  end(): void {
    if (this.inFlight > 0) this.inFlight--;
    if (this.inFlight === 0) for (const fn of this.waiting.splice(0)) fn();
  }

  /** No cancel in flight: the connection may go back to its pool now. */
  get settled(): boolean {
    return this.inFlight === 0;
  }

  /** Runs `fn` now when no cancel is in flight, else once the last one has settled. */
  whenSettled(fn: () => void): void {
    if (this.inFlight === 0) fn();
    else this.waiting.push(fn);
  }
}
