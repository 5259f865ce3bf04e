/**
 * Named builders for router unit tests: configs, listeners, agent health answers and lag. Views and members
 * come from test/support/builders (aView, aMember). Time: NOW from there is the present (monotonic ms).
 */
import { defaultListeners } from '../../../src/config/router-listeners';
import { parsePool } from '../../../src/config/router-pool';
import type { RoutingConfig, RoutingInput } from '../../../src/router/routing';
import type { ListenerConfig, ListenerRole, MemberHealth, MemberLag, PatroniStatus, RouterConfig } from '../../../src/router/types';
import type { ClusterView } from '../../../src/model/cluster';
import { NOW } from '../../support/builders';

export { NOW };

export function aListener(name: string, role: ListenerRole, o: Partial<ListenerConfig> = {}): ListenerConfig {
  return {
    name,
    role,
    host: '127.0.0.1',
    port: 0,
    balance: 'least-connections',
    tagFilters: {},
    includeNoloadbalance: false,
    fallbackToLeader: role === 'read-only',
    requireStreaming: true,
    holdTimeoutMs: 10_000,
    maxConnections: 10_000,
    maxHeld: 0,
    maxConnectionsPerClient: 0,
    poolMode: 'passthrough',
    ...o,
  };
}

export function aRouterConfig(o: Partial<RouterConfig> = {}): RouterConfig {
  return {
    source: 'test',
    scope: 'pgcluster',
    namespace: '/service/',
    etcd: { hosts: ['127.0.0.1:2379'], deadlineMs: 5000 },
    listeners: defaultListeners(10_000).map((l) => ({ ...l, host: '127.0.0.1', port: 0 })),
    health: { intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 2, fastIntervalMs: 100, maxAgeMs: 3000, verifyTls: true },
    lag: { position: 'replay', historyMs: 600_000 },
    lease: { defaultTtlMs: 30_000, marginMs: 5000 },
    startup: { timeoutMs: 10_000, maxPacketBytes: 10_000 },
    connectTimeoutMs: 5000,
    drainTimeoutMs: 1000,
    weightTag: 'weight',
    tcpKeepaliveMs: 0,
    switchoverHoldMs: 30_000,
    workers: 1,
    pool: parsePool(undefined, 10_000),
    ...o,
  };
}

export function aRoutingConfig(listeners: ListenerConfig[], o: Partial<RoutingConfig> = {}): RoutingConfig {
  const c = aRouterConfig({ listeners });
  return { listeners, health: c.health, lease: c.lease, weightTag: c.weightTag, switchoverHoldMs: c.switchoverHoldMs, ...o };
}

/** An agent that answered at `okAtMs` (default NOW) with this status and is up. */
export function anAgent(status: PatroniStatus, o: Partial<MemberHealth> = {}): MemberHealth {
  return { apiUrl: 'http://agent.example:8008/patroni', up: true, status, okAtMs: NOW, consecutiveFailures: 0, ...o };
}

export function aPrimaryAgent(o: Partial<PatroniStatus> = {}, h: Partial<MemberHealth> = {}): MemberHealth {
  return anAgent({ role: 'master', state: 'running', timeline: 1, location: 10_000, ...o }, h);
}

export function aReplicaAgent(o: Partial<PatroniStatus> = {}, h: Partial<MemberHealth> = {}): MemberHealth {
  return anAgent({ role: 'replica', state: 'running', timeline: 1, receivedLocation: 10_000, replayedLocation: 10_000, replicationState: 'streaming', ...o }, h);
}

export function aDownAgent(error = 'connect ECONNREFUSED'): MemberHealth {
  return { apiUrl: 'http://agent.example:8008/patroni', up: false, error, failedAtMs: NOW, consecutiveFailures: 2 };
}

export function lagOf(bytes: number | undefined, seconds: number | undefined, o: Partial<MemberLag> = {}): MemberLag {
  return { ...(bytes !== undefined ? { bytes } : {}), ...(seconds !== undefined ? { seconds } : {}), observedAtMs: NOW, ...o };
}

export function anInput(view: ClusterView | undefined, o: Partial<RoutingInput> = {}): RoutingInput {
  return { view, nowMs: NOW, lastContactMs: NOW - 100, health: new Map(), lag: new Map(), ...o };
}
