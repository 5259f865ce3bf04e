/**
 * What the runner builds for itself, replaceable for the simulator: a lease keeper or executor with a planted defect
 * (to show the simulator finds it), a dynamic configuration source without its file cache (simulated nodes have no
 * data directory). Production passes none of these.
 */
import type { ClusterStore } from '../dcs/store';
import type { DynamicConfig } from '../config/types';
import type { Logger } from '../log/logger';
import { DynamicConfigSource } from './dynamic-source';
import { Executor, type ExecutorDeps } from './execute';
import type { ExecutorMemory } from './shell-state';
import { LeaseKeeper, type LeaseKeeperOptions } from './lease-keeper';

export interface RunnerSeams {
  leaseKeeper?: (store: ClusterStore, opts: LeaseKeeperOptions) => LeaseKeeper;
  executor?: (deps: ExecutorDeps, memory: ExecutorMemory) => Executor;
  dynamicSource?: (bootstrap: DynamicConfig, dataDir: string, log: Logger) => DynamicConfigSource;
}

export const defaultSeams: Required<RunnerSeams> = {
  leaseKeeper: (store, opts) => new LeaseKeeper(store, opts),
  executor: (deps, memory) => new Executor(deps, memory),
  dynamicSource: (bootstrap, dataDir, log) => DynamicConfigSource.atStart(bootstrap, dataDir, log),
};
