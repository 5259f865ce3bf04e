import type { ClusterView } from '../model/cluster';
import type { AgentConfig, DynamicConfig } from '../config/types';
import type { PostgresStateName } from '../model/postgres-state';
import type { LocalPostgres, Observation, TaskState } from './observation';
import type { AgentStatus } from './status';

function hostPort(h: { host: string; port: number }): string {
  return h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}

export function initialStatus(config: AgentConfig, dynamic: DynamicConfig, patroniVersion: string, pghaVersion: string): AgentStatus {
  const scheme = config.restapi.certfile ? 'https' : 'http';
  return {
    scope: config.scope,
    name: config.name,
    patroniVersion,
    pghaVersion,
    state: 'stopped',
    role: 'uninitialized',
    probe: { reachable: false },
    leaderValidUntilMs: 0,
    clusterUnlocked: true,
    pause: dynamic.pause,
    tags: config.tags,
    reason: 'starting',
    dynamic,
    nextCycleDueMs: 0,
    connUrl: `postgres://${hostPort(config.postgresql.connectAddress)}/${config.postgresql.database}`,
    apiUrl: `${scheme}://${hostPort(config.restapi.connectAddress)}/patroni`,
  };
}

const TASK_STATE: Record<TaskState['kind'], PostgresStateName> = {
  bootstrap: 'initializing new cluster',
  create_replica: 'creating replica',
  start: 'starting',
  stop: 'stopping',
  promote: 'running',
  demote: 'stopping',
  rewind: 'starting',
  restart: 'restarting',
  reinit: 'creating replica',
};

export interface TickFacts {
  previous: AgentStatus;
  obs: Observation;
  postgres: LocalPostgres;
  reason: string;
  view: ClusterView | undefined;
  dynamic: DynamicConfig;
  task: TaskState | undefined;
  wasRunning: boolean;
  checkpointPending: boolean;
  /** A graceful demote waits for the routers' drain: postgres still serves (shell-state.ts ExecutorMemory). */
  draining?: boolean;
  leaderValidUntilMs: number;
  nextCycleDueMs: number;
  /** The tags now (a reload of the YAML may have changed them). */
  tags?: Record<string, unknown>;
}

/** The published state after a tick: Patroni's state and role strings derived from what was observed. */
export function statusAfterTick(f: TickFacts): AgentStatus {
  const pg = f.postgres;
  const state = stateOf(f);
  const role =
    pg.dataDir !== 'initialized' ? 'uninitialized'
      : pg.running && pg.probe.reachable && pg.probe.inRecovery === false ? 'master'
        : 'replica';
  return {
    ...f.previous,
    state,
    role,
    probe: pg.probe,
    ...(pg.systemId ? { systemId: pg.systemId } : {}),
    leaderValidUntilMs: f.leaderValidUntilMs,
    clusterUnlocked: f.view ? !f.view.leader : f.previous.clusterUnlocked,
    dcsReadable: f.obs.dcs.ok,
    ...(f.obs.dcs.ok ? { dcsLastSeen: Math.floor(f.obs.wallMs / 1000) } : {}),
    pause: f.dynamic.pause,
    reason: f.reason,
    ...(f.view ? { view: f.view } : {}),
    dynamic: f.dynamic,
    nextCycleDueMs: f.nextCycleDueMs,
    checkpointPending: f.checkpointPending,
    ...(f.tags ? { tags: f.tags } : {}),
  };
}

function stateOf(f: TickFacts): PostgresStateName {
  // Patroni says stopping once it stops postgres, not while a demote has yet to: routers keep confirming the leader
  // while their paused member finishes its transactions.
  if (f.task) return f.task.kind === 'demote' && f.draining && f.postgres.running ? 'running' : TASK_STATE[f.task.kind];
  const pg = f.postgres;
  if (pg.running) return pg.probe.reachable ? 'running' : 'starting';
  if (pg.dataDir !== 'initialized') return 'stopped';
  return f.wasRunning || f.previous.state === 'running' ? 'crashed' : 'stopped';
}
