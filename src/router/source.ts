/**
 * The router's view of etcd: a watch-driven ClusterCache over an EtcdStore (or the store it is given). The
 * cache lists `<namespace>/<scope>/` once, then watches from that revision, re-lists on compaction or a lost
 * watch, and tracks the last successful contact on the same monotonic clock as the router.
 */
import { ClusterCache } from '../dcs/cluster-cache';
import { EtcdStore } from '../dcs/etcd/etcd-store';
import type { ClusterStore } from '../dcs/store';
import type { Logger } from '../log/logger';
import { clusterKeys } from '../model/keys';
import { sleep, type Scheduler } from '../lib/clock';
import type { ViewSource } from './topology';
import type { RouterConfig } from './types';

/** How often the cache confirms etcd is reachable while no event arrives (feeds the write lease bound). */
const CONTACT_INTERVAL_MS = 1000;

export function createViewSource(
  config: RouterConfig,
  deps: { logger: Logger; scheduler: Scheduler; store?: ClusterStore },
): { source: ViewSource; store: ClusterStore; close: () => Promise<void> } {
  const ownStore = !deps.store;
  const store =
    deps.store ??
    new EtcdStore({
      hosts: config.etcd.hosts,
      deadlineMs: config.etcd.deadlineMs,
      logger: deps.logger,
      ...(config.etcd.username !== undefined ? { username: config.etcd.username } : {}),
      ...(config.etcd.password !== undefined ? { password: config.etcd.password } : {}),
      ...(config.etcd.protocol ? { protocol: config.etcd.protocol } : {}),
      ...(config.etcd.cacert ? { cacert: config.etcd.cacert } : {}),
      ...(config.etcd.cert ? { cert: config.etcd.cert } : {}),
      ...(config.etcd.key ? { key: config.etcd.key } : {}),
    });
  const cache = new ClusterCache(store, clusterKeys(config.namespace, config.scope), {
    contactIntervalMs: CONTACT_INTERVAL_MS,
    logger: deps.logger,
    now: () => deps.scheduler.now(),
  });
  // The write bound runs from the last contact made while the cache was live (listed, then watching). A contact
  // probe that succeeds while the cache is still re-listing after an outage proves etcd is back, not that the
  // view is current: writes wait for the re-list. (The cache says 0 for "never"; the router says undefined.)
  let liveContact: number | undefined;
  const source: ViewSource = {
    start: () => cache.start(),
    view: () => cache.view(),
    lastContactMs: () => {
      if (cache.state === 'live') liveContact = cache.lastContactMs() || liveContact;
      return liveContact;
    },
    get state() {
      return cache.state;
    },
    onChange: (fn) => {
      cache.onChange(fn);
    },
    stop: () => cache.stop(),
  };
  return {
    source,
    store,
    close: async () => {
      if (!ownStore) return;
      // Give the watch cancellation a moment to reach etcd before the client goes (see docs/router.md, "Known issues").
      await sleep(deps.scheduler, 200);
      await store.close();
    },
  };
}
