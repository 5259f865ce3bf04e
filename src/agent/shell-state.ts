/**
 * What the agent's shell carries from one tick to the next, in one typed place (design §3: decide's `memory` is the
 * only decision state; the rest here is bookkeeping of effects: what was last observed, written and published). The
 * runner holds one AgentShellState; plans take the parts they need and return the next values.
 */
import type { ClusterView } from '../model/cluster';
import type { Action } from './actions';
import type { Memory } from './decide';

/** The Executor's bookkeeping: writes it may skip because they would repeat the last one. */
export interface ExecutorMemory {
  /** The `status` key's value last written (rewritten only when the optime changed). */
  lastStatus: string;
  /** `<timeline>:<history key>` last found to match postgres' own timeline history (no read needed while it holds). */
  historyChecked: string;
  /** Slot name → when (wall ms) its member was last seen (plan-slots.ts). */
  slotsSeen: Map<string, number>;
  /** Set while a promote runs and until its CHECKPOINT is done (published as checkpoint_after_promote: false). */
  checkpointPending: boolean;
  /**
   * Set while a graceful demote waits for the routers' drain (drain-wait.ts): postgres still serves the transactions
   * that finish, so the published state stays running; a router that read "stopping" would stop confirming this
   * leader and cut those very transactions.
   */
  draining: boolean;
}

export interface AgentShellState {
  /** decide()'s own memory, returned by each decision. */
  memory: Memory;
  /** The last cluster view read from etcd, and the last one that named a leader (asked for peers after it is gone). */
  lastView: ClusterView | undefined;
  lastLeaderView: ClusterView | undefined;
  /** postgres' system identifier, once known (observePostgres checks the data directory against it). */
  systemId: string | undefined;
  /** The last decision's reason sentence (logged only when it changes). */
  lastReason: string;
  /** members/<name> as last written, and on which lease (rewritten only when either changed). */
  memberJson: string;
  memberLease: string | undefined;
  /** Whether postgres ran at the end of the last tick (the status tells a stop it did not ask for). */
  wasRunning: boolean;
  /** Since when (monotonic ms) etcd reads fail (plan-outage.ts); undefined while they succeed. */
  dcsFailingSinceMs: number | undefined;
  /** The long action carrying out the operator request taken from the queue, until its task finishes. */
  requestTask: Action['type'] | undefined;
  /** A self-fencing stop is under way (a second fence timer only wakes the loop). */
  fencing: boolean;
  /** How many times `pg_ctl promote` returned: a tick that began observing before the last one publishes nothing. */
  promotions: number;
  executor: ExecutorMemory;
}

export function initialExecutorMemory(): ExecutorMemory {
  return { lastStatus: '', historyChecked: '', slotsSeen: new Map(), checkpointPending: false, draining: false };
}

export function initialShellState(): AgentShellState {
  return {
    memory: {}, lastView: undefined, lastLeaderView: undefined, systemId: undefined, lastReason: '', memberJson: '',
    memberLease: undefined, wasRunning: false, dcsFailingSinceMs: undefined, requestTask: undefined, fencing: false,
    promotions: 0,
    executor: initialExecutorMemory(),
  };
}
