/**
 * Named builders for the snapshots tests are made of: AgentStatus, ClusterView, Member. Each takes overrides
 * (deep for `probe`, `dynamic`; members as a list; the leader as a name) so a test states only what matters.
 *
 *   const view = aView({ leader: 'node1', optime: 5_000, members: [aMember('node1', { role: 'master' }), aMember('node2')] });
 *   const status = aReplicaStatus({ name: 'node2', view, tags: { dc: 'east' } });
 *
 * Time: statuses live on a monotonic clock where `NOW` is the present; a leader's lock is valid until NOW + 10 s.
 */
import type { AgentStatus } from '../../src/agent/status';
import type { DynamicConfig } from '../../src/config/types';
import type { ClusterView, FailoverRequest, LeaderKey, SyncState } from '../../src/model/cluster';
import { hostPortFromConnUrl, type Member, type MemberDoc } from '../../src/model/member';
import type { PostgresProbe } from '../../src/model/postgres-state';

/** The monotonic "now" every builder assumes (ms). */
export const NOW = 1_000_000;
export const MB = 1024 * 1024;

export function aDynamicConfig(overrides: Partial<DynamicConfig> = {}): DynamicConfig {
  return {
    ttlSeconds: 30,
    loopWaitSeconds: 10,
    retryTimeoutSeconds: 10,
    maximumLagOnFailoverBytes: 1_048_576,
    primaryStartTimeoutSeconds: 300,
    checkTimeline: false,
    pause: false,
    synchronousMode: false,
    synchronousModeStrict: false,
    synchronousNodeCount: 1,
    postgresql: { useSlots: true, usePgRewind: true, parameters: {} },
    ...overrides,
  };
}

/** A member as read from `members/<name>`: a running streaming replica unless overridden. */
export function aMember(name: string, doc: Partial<MemberDoc> = {}, extra: Partial<Omit<Member, 'name' | 'doc'>> = {}): Member {
  const full: MemberDoc = {
    conn_url: `postgres://${name}.example:5432/postgres`,
    api_url: `http://${name}.example:8008/patroni`,
    state: 'running',
    role: 'replica',
    version: '3.0.2',
    ...doc,
  };
  for (const key of Object.keys(full)) if (full[key] === undefined) delete full[key];
  return { name, doc: full, ...hostPortFromConnUrl(full.conn_url), lease: '1', modRevision: 1, ...extra };
}

export interface ViewOverrides extends Partial<Omit<ClusterView, 'members' | 'leader' | 'sync' | 'failover'>> {
  members?: Member[];
  /** The leader key's value (a member name), or a full LeaderKey. */
  leader?: string | LeaderKey;
  /** Names in the `sync` key's sync_standby (the leader is the view's leader). */
  syncStandby?: string[];
  sync?: SyncState;
  failover?: FailoverRequest;
  /** Shorthand for a valid `config` key value. */
  configValue?: Record<string, unknown>;
}

/** A cluster view: initialized (sysid 7268616322854375442), no members unless given. */
export function aView(o: ViewOverrides = {}): ClusterView {
  const { members = [], leader, syncStandby, configValue, ...rest } = o;
  const view: { -readonly [K in keyof ClusterView]: ClusterView[K] } = {
    revision: 100,
    initialize: '7268616322854375442',
    members: new Map(members.map((m) => [m.name, m])),
    ...rest,
  };
  if (leader !== undefined) {
    view.leader = typeof leader === 'string' ? { name: leader, modRevision: 50, lease: '1' } : leader;
  }
  if (syncStandby) view.sync = { leader: view.leader?.name ?? '', syncStandby, modRevision: 60 };
  if (configValue) view.config = { value: configValue, valid: true, modRevision: 10 };
  return view;
}

export interface StatusOverrides extends Partial<Omit<AgentStatus, 'probe' | 'dynamic'>> {
  probe?: Partial<PostgresProbe>;
  dynamic?: Partial<DynamicConfig>;
}

/** The base status: a stopped member with nothing known. Prefer the role-named builders below. */
export function aStatus(o: StatusOverrides = {}): AgentStatus {
  const { probe, dynamic, ...rest } = o;
  const name = rest.name ?? 'node1';
  return {
    scope: 'pgcluster',
    name,
    patroniVersion: '3.0.2',
    pghaVersion: '0.1.0',
    state: 'stopped',
    role: 'replica',
    leaderValidUntilMs: 0,
    clusterUnlocked: false,
    dcsLastSeen: 1_724_874_295,
    pause: false,
    tags: {},
    reason: '',
    nextCycleDueMs: NOW + 10_000,
    connUrl: `postgres://${name}.example:5432/postgres`,
    apiUrl: `http://${name}.example:8008/patroni`,
    ...rest,
    probe: { reachable: false, ...probe },
    dynamic: aDynamicConfig(dynamic),
  };
}

/** A running primary holding a valid leader lock (until NOW + 10 s), with a view naming it leader. */
export function aPrimaryStatus(o: StatusOverrides = {}): AgentStatus {
  const name = o.name ?? 'node1';
  return aStatus({
    state: 'running',
    role: 'master',
    leaderValidUntilMs: NOW + 10_000,
    systemId: '7268616322854375442',
    view: aView({ leader: name, optime: 67_419_744, members: [aMember(name, { role: 'master', xlog_location: 67_419_744 })] }),
    ...o,
    probe: {
      reachable: true,
      inRecovery: false,
      serverVersion: 160004,
      postmasterStartTime: '2024-08-28 19:39:26.352526+00:00',
      timeline: 3,
      flushLsn: 67_419_744,
      ...o.probe,
    },
  });
}

/** A running streaming replica that has replayed everything the leader published. */
export function aReplicaStatus(o: StatusOverrides = {}): AgentStatus {
  const name = o.name ?? 'node2';
  return aStatus({
    name,
    state: 'running',
    role: 'replica',
    systemId: '7268616322854375442',
    view: aView({
      leader: 'node1',
      optime: 67_419_744,
      members: [aMember('node1', { role: 'master', xlog_location: 67_419_744 }), aMember(name, { xlog_location: 67_419_744 })],
    }),
    ...o,
    probe: {
      reachable: true,
      inRecovery: true,
      serverVersion: 160004,
      postmasterStartTime: '2024-08-28 19:40:01.000001+00:00',
      timeline: 3,
      receiveLsn: 67_419_744,
      replayLsn: 67_419_744,
      replayedTimestamp: null,
      replayPaused: false,
      replicationState: 'streaming',
      ...o.probe,
    },
  });
}

/** Postgres stopped (the agent runs, the lock is not held). */
export function aStoppedStatus(o: StatusOverrides = {}): AgentStatus {
  return aStatus({ state: 'stopped', role: 'replica', ...o, probe: { reachable: false, ...o.probe } });
}
