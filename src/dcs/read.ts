import type { ClusterStore } from './store';
import { parseClusterView, type ClusterView } from '../model/cluster';
import type { ClusterKeys } from '../model/keys';

/** One recursive read of the cluster prefix, parsed with Patroni's tolerance. Linearizable unless asked otherwise. */
export async function readCluster(store: ClusterStore, keys: ClusterKeys, opts: { serializable?: boolean } = {}): Promise<ClusterView> {
  const { revision, kvs } = await store.readPrefix(keys.prefix, opts);
  return parseClusterView(keys, revision, kvs);
}
