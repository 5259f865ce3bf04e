/**
 * Wires the switchover drain into a running router (index.ts): whether it registers (switchover_drain.register:
 * auto = when a listener pools), its registration key and lease, and the RouterDrain that follows the drain key.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ClusterStore } from '../dcs/store';
import type { ClusterView } from '../model/cluster';
import { clusterKeys } from '../model/keys';
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';
import { RouterDrain } from './drain';
import type { Pauses } from './drainable';
import { RouterRegistry } from './registration';
import type { RouterConfig } from './types';

const DEFAULT_TIMEOUT_MS = 5000;

/** Whether this router takes part in switchover drains. */
export function registers(config: RouterConfig): boolean {
  const mode = config.switchoverDrain?.register ?? 'auto';
  if (mode !== 'auto') return mode === 'always';
  return config.listeners.some((l) => l.poolMode !== 'passthrough');
}

export interface DrainHandle {
  drain: RouterDrain;
  registry: RouterRegistry;
  stop(): Promise<void>;
}

export function startDrain(
  config: RouterConfig,
  d: { store: ClusterStore; view: () => ClusterView | undefined; leader: () => string | undefined; pauses: Pauses; scheduler: Scheduler; logger: Logger },
): DrainHandle {
  const host = hostname();
  // pid alone is not unique across hosts, nor across routers embedded in one process (tests, agents).
  const id = `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const registry = new RouterRegistry({ store: d.store, keys: clusterKeys(config.namespace, config.scope), scheduler: d.scheduler, logger: d.logger }, { id, pid: process.pid, host });
  const drain = new RouterDrain({ registry, view: d.view, leader: d.leader, pauses: d.pauses, scheduler: d.scheduler, logger: d.logger, timeoutMs: config.switchoverDrain?.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  registry.start();
  return {
    drain,
    registry,
    async stop() {
      drain.stop();
      await registry.stop();
    },
  };
}
