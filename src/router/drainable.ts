/**
 * What the drain and the operator's PAUSE act on: the pooled listeners' PoolControl (pool/pool-control.ts) has this
 * shape, and so do the workers' pauses (workers/worker-pauses.ts). Passthrough listeners have no transaction boundary
 * the router can see, so for them pausing is a no-op that is idle at once (their sessions end on a leader change as
 * before).
 *
 * Pauses keeps who paused what: the drain and an operator may pause the same member, and one's resume must not lift
 * the other's pause. A member of `undefined` means every member (PgBouncer's PAUSE without a database).
 */
export interface Drainable {
  pause(member?: string): void;
  resume(member?: string): void;
  busy(member?: string): number;
  idle(member?: string): Promise<void>;
}

export type PauseOwner = 'operator' | 'drain';

/** The key of "every member" in the pause table and /status. */
export const ALL_MEMBERS = '*';

export class Pauses {
  private readonly owners = new Map<string, Set<PauseOwner>>();

  constructor(private readonly target: Drainable) {}

  get drainable(): Drainable {
    return this.target;
  }

  pause(member: string | undefined, by: PauseOwner): void {
    const key = member ?? ALL_MEMBERS;
    const set = this.owners.get(key) ?? new Set<PauseOwner>();
    if (set.size === 0) this.target.pause(member);
    set.add(by);
    this.owners.set(key, set);
  }

  resume(member: string | undefined, by: PauseOwner): void {
    const key = member ?? ALL_MEMBERS;
    const set = this.owners.get(key);
    if (!set?.delete(by) || set.size > 0) return;
    this.owners.delete(key);
    this.target.resume(member);
    // A resume of every member lifts the per-member pauses too (PoolControl's rule): those still owned stay.
    if (member === undefined) for (const k of this.owners.keys()) this.target.pause(memberOf(k));
  }

  /** Paused members ('*' = all) and who paused them: /status. */
  list(): Record<string, PauseOwner[]> {
    return Object.fromEntries([...this.owners].map(([k, v]) => [k, [...v].sort()]));
  }
}

const memberOf = (key: string): string | undefined => (key === ALL_MEMBERS ? undefined : key);
