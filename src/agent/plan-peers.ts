/**
 * Whether this tick asks the other members for their /patroni documents (peers.ts), before decide() runs. Pure: the
 * runner asks when this says so. Each ask costs a REST round trip to every member (up to 2 s for one that does not
 * answer), inside the tick, so it is skipped where decide() would not read the answers.
 */
import type { ClusterView } from '../model/cluster';

export type PeersPlan = { ask: boolean; reason: string };

export function planAskPeers(view: ClusterView | undefined, me: string, postgresRunning: boolean): PeersPlan {
  if (!view) return { ask: false, reason: 'etcd unreadable: no leader race' };
  if (!postgresRunning) return { ask: false, reason: 'postgres is not running: this node races for nothing' };
  const f = view.failover;
  if (!view.leader) {
    // Patroni's manual_failover_process_no_leader: the named candidate takes the lock without asking anybody (the
    // leader asked before it stepped down); asking here only delayed the promotion of a planned switchover.
    if (f?.member === me) return { ask: false, reason: 'no leader and I am the named candidate: racing at once' };
    return { ask: true, reason: 'no leader: ranking against the other members' };
  }
  if (f && view.leader.name === me) return { ask: true, reason: 'a failover key is set while I lead: checking the candidate' };
  return { ask: false, reason: 'a leader holds the key' };
}
