import type { AgentStatus } from '../../agent/status';
import type { RequestQueue } from '../../agent/requests';
import type { PeerReport } from '../../agent/observation';
import type { ClusterStore } from '../../dcs/store';
import type { ClusterKeys } from '../../model/keys';
import type { ClusterView } from '../../model/cluster';
import type { Member } from '../../model/member';
import type { Logger } from '../../log/logger';
import { tryParseDynamicConfig } from '../../config/dynamic';

/** What the write endpoints need from the agent: etcd, the status snapshot and the local request queue. */
export interface OperationDeps {
  store: ClusterStore;
  keys: ClusterKeys;
  status: () => AgentStatus;
  requests: RequestQueue;
  logger: Logger;
  /** A fresh (linearizable) read of the cluster. */
  readCluster: () => Promise<ClusterView>;
  /** Wakes the HA loop after a write it should act on (failover key, config). */
  wakeUp?: () => void;
  /** Asks a member's REST API for its status (Patroni: 2 s, no retries); default GET api_url. */
  askMember?: (member: Member) => Promise<PeerReport>;
  /** Wall clock, epoch ms (schedules are wall-clock times). */
  now?: () => number;
  /** How often a switchover polls etcd for its outcome (default 500 ms; Patroni polls every second). */
  pollIntervalMs?: number;
  /** Re-reads the YAML before `POST /reload` reloads postgres; `ok: false` (a broken file) refuses the reload. */
  reloadLocalConfig?: () => Promise<{ ok: boolean; message: string }>;
  /** Failsafe mode's POST /failsafe (agent/failsafe-keeper.ts); absent: answered 502 as with failsafe mode off. */
  failsafe?: { accept(body: Record<string, unknown>): { code: number; message: string } };
  /** Stops the scheduled-restart timer when the agent shuts down. */
  signal?: AbortSignal;
}

/** Pause and the timing values from the `config` key of a view; the agent's own dynamic config when absent/invalid. */
export function clusterSettings(view: ClusterView, fallback: AgentStatus['dynamic']): {
  pause: boolean; loopWaitSeconds: number; ttlSeconds: number; synchronousMode: boolean;
} {
  const parsed = view.config?.valid ? tryParseDynamicConfig(view.config.value) : undefined;
  const d = parsed?.ok ? parsed.config : fallback;
  return { pause: d.pause, loopWaitSeconds: d.loopWaitSeconds, ttlSeconds: d.ttlSeconds, synchronousMode: d.synchronousMode };
}
