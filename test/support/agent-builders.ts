/**
 * Builders for decide() scenarios: a cluster is described the way etcd holds it (keys → values) and parsed with
 * the production parser, so the tests exercise the same tolerance rules as the agent.
 */
import { parseClusterView, type ClusterView, type KeyValue } from '../../src/model/cluster';
import { clusterKeys } from '../../src/model/keys';
import type { Observation, LocalPostgres, PeerReport } from '../../src/agent/observation';
import type { DynamicConfig } from '../../src/config/types';
import type { MemberDoc } from '../../src/model/member';

export const SCOPE = 'pgcluster';
export const KEYS = clusterKeys('/service', SCOPE);
export const SYSID = '7268616322854375442';

export class ClusterBuilder {
  private kvs = new Map<string, string>();
  private rev = 100;

  initialized(sysid = SYSID): this {
    this.kvs.set('initialize', sysid);
    this.kvs.set('config', JSON.stringify({ ttl: 30, loop_wait: 10, retry_timeout: 10 }));
    return this;
  }
  leader(name: string): this {
    this.kvs.set('leader', name);
    return this;
  }
  noLeader(): this {
    this.kvs.delete('leader');
    return this;
  }
  optime(lsn: number): this {
    this.kvs.set('status', JSON.stringify({ optime: lsn }));
    return this;
  }
  history(lines: unknown[]): this {
    this.kvs.set('history', JSON.stringify(lines));
    return this;
  }
  failover(json: Record<string, string>): this {
    this.kvs.set('failover', JSON.stringify(json));
    return this;
  }
  member(name: string, port: number, doc: Partial<MemberDoc> = {}): this {
    const full: MemberDoc = {
      conn_url: `postgres://127.0.0.1:${port}/postgres`,
      api_url: `http://127.0.0.1:${port + 1000}/patroni`,
      state: 'running',
      role: 'replica',
      version: '3.0.2',
      timeline: 1,
      ...doc,
    };
    this.kvs.set(`members/${name}`, JSON.stringify(full));
    return this;
  }
  raw(rel: string, value: string): this {
    this.kvs.set(rel, value);
    return this;
  }
  build(): ClusterView {
    const kvs: KeyValue[] = [...this.kvs].map(([rel, value], i) => ({
      key: KEYS.prefix + rel,
      value,
      modRevision: this.rev + i,
      createRevision: this.rev + i,
      lease: rel === 'leader' || rel.startsWith('members/') ? LEASE : '0',
    }));
    return parseClusterView(KEYS, this.rev + kvs.length, kvs);
  }
}

export const aCluster = () => new ClusterBuilder();

export function dynamic(over: Partial<DynamicConfig> = {}): DynamicConfig {
  return {
    ttlSeconds: 30,
    loopWaitSeconds: 10,
    retryTimeoutSeconds: 10,
    maximumLagOnFailoverBytes: 1048576,
    primaryStartTimeoutSeconds: 300,
    checkTimeline: false,
    pause: false,
    synchronousMode: false,
    synchronousModeStrict: false,
    synchronousNodeCount: 1,
    postgresql: { useSlots: true, usePgRewind: true, parameters: {} },
    ...over,
  };
}

export function runningPrimary(lsn = 50_000_000): LocalPostgres {
  return {
    dataDir: 'initialized', systemId: SYSID, controlState: 'in production', running: true, standbySignal: false,
    probe: { reachable: true, inRecovery: false, timeline: 1, flushLsn: lsn, serverVersion: 150010 },
  };
}

export function runningReplica(lsn = 50_000_000, upstream = '127.0.0.1:5432'): LocalPostgres {
  return {
    dataDir: 'initialized', systemId: SYSID, controlState: 'in archive recovery', running: true, standbySignal: true,
    followingHostPort: upstream,
    probe: { reachable: true, inRecovery: true, timeline: 1, receiveLsn: lsn, replayLsn: lsn, replicationState: 'streaming' },
  };
}

export function stoppedNode(standby = true): LocalPostgres {
  return {
    dataDir: 'initialized', systemId: SYSID, controlState: standby ? 'shut down in recovery' : 'in production',
    running: false, standbySignal: standby, probe: { reachable: false },
  };
}

export function emptyDataDir(): LocalPostgres {
  return { dataDir: 'empty', running: false, standbySignal: false, probe: { reachable: false } };
}

export function peer(name: string, over: Partial<PeerReport> = {}): PeerReport {
  return { name, reachable: true, role: 'replica', replicaLocation: 50_000_000, timeline: 1, nofailover: false, ...over };
}

export interface ObservationOptions {
  name?: string;
  view?: ClusterView;
  dcsError?: string;
  postgres?: LocalPostgres;
  lockValidForMs?: number;
  peers?: PeerReport[];
  tags?: Record<string, unknown>;
  dynamic?: DynamicConfig;
  task?: Observation['task'];
  request?: Observation['request'];
  /** Wall clock of the observation (default WALL_NOW). */
  wallMs?: number;
  /** Our current lease (default LEASE, the lease the built leader key is on; null: none). */
  leaseId?: string | null;
}

/** The lease the builders attach the leader and member keys to, and the observation's own lease by default. */
export const LEASE = '7587';

/** The wall clock of every built observation unless given: 2026-11-28T12:00:00Z. */
export const WALL_NOW = Date.parse('2026-11-28T12:00:00Z');

export function anObservation(o: ObservationOptions = {}): Observation {
  const nowMs = 1_000_000;
  return {
    nowMs,
    wallMs: o.wallMs ?? WALL_NOW,
    name: o.name ?? 'ty-db1',
    dynamic: o.dynamic ?? dynamic(),
    dcs: o.dcsError ? { ok: false, error: o.dcsError } : { ok: true, view: o.view ?? aCluster().build() },
    postgres: o.postgres ?? runningReplica(),
    lock: {
      validUntilMs: o.lockValidForMs === undefined ? 0 : nowMs + o.lockValidForMs,
      haveLease: o.leaseId !== null,
      ...(o.leaseId === null ? {} : { leaseId: o.leaseId ?? LEASE }),
    },
    ...(o.task ? { task: o.task } : {}),
    ...(o.peers ? { peers: o.peers } : {}),
    ...(o.request ? { request: o.request } : {}),
    tags: o.tags ?? {},
  };
}
