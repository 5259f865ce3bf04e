import type { ClusterStore } from '../dcs/store';
import { readCluster } from '../dcs/read';
import type { ClusterView } from '../model/cluster';
import type { ClusterKeys } from '../model/keys';
import { describe } from '../lib/errors';
import type { PostgresProbe } from '../model/postgres-state';
import type { LocalPostgres, Observation } from './observation';
import type { PostgresOps } from './postgres-ops';
import type { Logger } from '../log/logger';

/** Reads the cluster from etcd (linearizable, within the store's deadline) or says why it cannot. */
export async function observeDcs(store: ClusterStore, keys: ClusterKeys, lastView?: ClusterView): Promise<Observation['dcs']> {
  try {
    return { ok: true, view: await readCluster(store, keys) };
  } catch (err) {
    return { ok: false, error: describe(err), ...(lastView ? { lastView } : {}) };
  }
}

/** The local postgres: data directory, pg_controldata (cached system id), liveness, one status query. */
export async function observePostgres(ops: PostgresOps, cachedSystemId?: string, log?: Logger): Promise<LocalPostgres> {
  const dataDir = await ops.dataDirState();
  if (dataDir !== 'initialized') return { dataDir, running: false, standbySignal: false, probe: { reachable: false } };
  const running = await ops.isRunning();
  const [probe, standbySignal] = await Promise.all([
    running ? ops.probe() : Promise.resolve<PostgresProbe>({ reachable: false }),
    ops.hasStandbySignal(),
  ]);
  const needControl = !cachedSystemId || !running;
  // Both reads only refine the observation (system id, cluster state, a replica's history): their failure is seen as
  // "unknown", logged at debug because a tick repeats it every loop_wait while it lasts.
  const control = needControl ? await ops.controlData().catch(unknownAfter(log, 'pg_controldata')) : undefined;
  const systemId = control?.systemId ?? cachedSystemId;
  const following = ops.followingHostPort();
  const notStreaming = probe.reachable && probe.inRecovery === true && probe.replicationState !== 'streaming';
  const history = notStreaming ? await ops.newestTimelineHistory().catch(unknownAfter(log, 'timeline history')) : undefined;
  return {
    dataDir,
    running,
    standbySignal,
    probe,
    ...(systemId ? { systemId } : {}),
    ...(control ? { controlState: control.clusterState } : {}),
    ...(following ? { followingHostPort: following } : {}),
    ...(history ? { timelineHistory: history.map(([tl, lsn]) => [tl, lsn] as [number, number]) } : {}),
  };
}

function unknownAfter(log: Logger | undefined, what: string): (err: unknown) => undefined {
  return (err) => {
    log?.debug({ err, what }, 'reading local postgres state failed');
    return undefined;
  };
}
