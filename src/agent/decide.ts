/**
 * The HA decision: observation in, actions + one reason sentence out. Pure: no I/O, no clock, no logger.
 * Split into situation helpers so each stays short (design §3). Safety rules live here:
 * - a primary whose own lock validity has passed (monotonic clock) demotes, whatever etcd says;
 * - the leader key is only contended for after ranking says this node is the healthiest eligible one;
 * - a leader key that names this node but sits on another lease (a previous process's) is not held: it is re-attached
 *   to the current lease (CAS on its value) before anything relies on it (Patroni's update_leader);
 * - in synchronous mode the sync key is claimed ({leader: me, sync_standby: null}, CAS) before any promotion;
 * - a replica whose WAL went past the point where the leader's history left its timeline is rewound, not followed.
 */
import type { ClusterView } from '../model/cluster';
import { clusterTimeline } from '../model/cluster';
import { isPrimaryRole, memberTag } from '../model/member';
import type { Action } from './actions';
import type { Observation, PeerReport } from './observation';
import { leaderManualStep, raceWithManualRequest } from './decide-manual';
import { requestStep } from './decide-request';
import { leaderSyncAction, promotionSyncActions, whyNotSyncCandidate } from './decide-sync';
import { prePromoteFailed, raceBackoffUntil } from './decide-hooks';
import { holdWithoutDcs, raceBlockedByFailsafe, topologyWrite } from './failsafe';

export interface Memory {
  /** Name of the leader in the last view that had one (a vanished leader is still asked in a race). */
  lastLeader?: string;
  /** `leader@timeline` of the rewind in flight (set when it is decided). */
  rewindingOnto?: string;
  /**
   * `leader@timeline` that a rewind last completed for. As in Patroni (its rewind state), the divergence check runs
   * once per leader timeline: after a restart a non-streaming replica's receive position is the start of the segment
   * it asks for, which can lie past the switch point (a record cut off at a segment boundary) until the leader's WAL
   * passes it. pg_rewind then finds nothing to do, and checking again each tick would restart postgres each tick.
   */
  rewoundOnto?: string;
  /** Monotonic ms until which this member stays out of the leader race: its pre_promote script failed (decide-hooks). */
  raceBackoffUntilMs?: number;
}

export interface Decision {
  actions: Action[];
  reason: string;
  memory: Memory;
}

const VALID_SYSID = /^\d{10,}$/;

export function decide(obs: Observation, memory: Memory): Decision {
  const next: Memory = { ...memory };
  const done = (reason: string, ...actions: Action[]): Decision => ({ actions, reason, memory: next });

  if (!obs.dcs.ok) return whenDcsUnavailable(obs, done);
  const view = obs.dcs.view;
  if (view.leader) next.lastLeader = view.leader.name;
  if (obs.finishedTask?.kind === 'rewind') {
    if (obs.finishedTask.ok && memory.rewindingOnto) next.rewoundOnto = memory.rewindingOnto;
    delete next.rewindingOnto;
  }
  if (prePromoteFailed(obs)) next.raceBackoffUntilMs = raceBackoffUntil(obs);

  if (obs.task) return duringTask(obs, view, done);
  if (obs.request) {
    const step = requestStep(obs, view);
    return done(step.reason, ...step.actions);
  }

  const mismatch = systemIdMismatch(obs, view);
  if (mismatch) return done(mismatch.reason, mismatch.action);

  if (obs.postgres.dataDir !== 'initialized') return withoutData(obs, view, done);

  if (view.initialize === undefined && !view.leader && obs.postgres.systemId && !isRunningReplica(obs)) {
    return done(`cluster has no initialize key: publishing my system identifier ${obs.postgres.systemId}`, {
      type: 'write_initialize',
      systemId: obs.postgres.systemId,
    });
  }

  if (!obs.postgres.running) return whenPostgresDown(obs, view, done);
  if (!view.leader) return leaderRace(obs, view, done, next);
  if (view.leader.name === obs.name) return asLeader(obs, view, done);
  return asReplica(obs, view, view.leader.name, done, next);
}

type Done = (reason: string, ...actions: Action[]) => Decision;

function lockValid(obs: Observation): boolean {
  return obs.lock.validUntilMs > obs.nowMs;
}

/** The leader key sits on our current lease, so our lock validity (which measures that lease) describes it. */
function onMyLease(obs: Observation, view: ClusterView): boolean {
  return view.leader !== undefined && obs.lock.leaseId !== undefined && view.leader.lease === obs.lock.leaseId;
}

/**
 * Patroni's update_leader after a restart: the key names me but lives on a lease I no longer renew (it expires on
 * its own, whatever my validity says). Re-attach it to my lease first; a lost CAS stops the action list.
 */
function reattachFirst(obs: Observation, view: ClusterView): Action[] {
  return onMyLease(obs, view) ? [] : [{ type: 'reattach_leader' }];
}

function reattachReason(obs: Observation, view: ClusterView, reason: string): string {
  return onMyLease(obs, view) ? reason : `re-attaching my leader key to my current lease (it is on lease ${view.leader?.lease}); ${reason}`;
}

function isRunningPrimary(obs: Observation): boolean {
  return obs.postgres.running && obs.postgres.probe.reachable && obs.postgres.probe.inRecovery === false;
}

function isRunningReplica(obs: Observation): boolean {
  return obs.postgres.running && obs.postgres.probe.inRecovery === true;
}

function whenDcsUnavailable(obs: Observation, done: Done): Decision {
  if (obs.dynamic.pause) return done(`PAUSE: DCS is not accessible (${errorOf(obs)}); no action in maintenance mode`);
  if (isRunningPrimary(obs) && obs.task?.kind !== 'demote') {
    const hold = holdWithoutDcs(obs);
    if (hold) return done(hold);
    return done(`demoting self because DCS is not accessible and I was a leader (${errorOf(obs)})`, {
      type: 'demote',
      mode: 'offline',
    });
  }
  return done(`DCS is not accessible (${errorOf(obs)}); waiting for it to come back`);
}

/**
 * A primary is started or promoted only on a view etcd just gave. The last view standing in for an unanswered read
 * (plan-outage.ts) may predate my own delete of the leader key (released after a failed start): my lock validity
 * measures my lease, not the key, so it stays valid while another member takes the key and promotes.
 */
function startOnStandIn(obs: Observation): string | undefined {
  if (!obs.dcs.ok || !obs.dcs.standIn) return undefined;
  return 'not starting a primary while etcd does not answer: the last view names me leader, but it may predate my own release of the key';
}

function errorOf(obs: Observation): string {
  return obs.dcs.ok ? '' : obs.dcs.error;
}

function duringTask(obs: Observation, view: ClusterView, done: Done): Decision {
  const task = obs.task!;
  if (view.leader?.name === obs.name && !lockValid(obs) && isRunningPrimary(obs) && task.kind !== 'demote') {
    return done(`demoting self because my leader lock expired during ${task.kind}`, { type: 'demote', mode: 'offline' });
  }
  if (view.leader?.name === obs.name && lockValid(obs)) {
    if (!onMyLease(obs, view)) return done(`re-attaching my leader key to my current lease during ${task.kind}`, { type: 'reattach_leader' });
    return done(`updated leader lock during ${task.kind}`);
  }
  return done(`${task.kind} in progress`);
}

function systemIdMismatch(obs: Observation, view: ClusterView): { reason: string; action: Action } | undefined {
  const mine = obs.postgres.systemId;
  const theirs = view.initialize;
  if (obs.postgres.dataDir !== 'initialized' || !mine || !theirs || !VALID_SYSID.test(theirs) || mine === theirs) {
    return undefined;
  }
  if (obs.dynamic.pause) return undefined;
  const message =
    `system ID mismatch, node ${obs.name} belongs to a different cluster: ${theirs} != ${mine}. ` +
    `The data directory holds another cluster than the one registered in etcd.`;
  return { reason: message, action: { type: 'exit', code: 1, message, why: 'system_id_mismatch' } };
}

function withoutData(obs: Observation, view: ClusterView, done: Done): Decision {
  if (view.leader?.name === obs.name) {
    return done('releasing the leader lock: my data directory is empty', { type: 'release_leader' });
  }
  if (view.initialize === undefined) {
    if (memberTag({ tags: obs.tags }, 'nofailover')) {
      return done('waiting for another member to bootstrap the cluster: I am tagged nofailover');
    }
    return done('bootstrapping a new cluster: no initialize key in DCS', { type: 'bootstrap' });
  }
  const source = cloneSource(obs, view);
  if (!source) {
    // Patroni: a no_leader method may build the replica, unless a bootstrap is still running (initialize "").
    if (obs.replicaWithoutLeader && !view.leader && view.initialize !== '') {
      return done('bootstrap (without leader): creating a replica with a method that needs no leader', { type: 'create_replica' });
    }
    return done('waiting for a leader to bootstrap or to clone from');
  }
  return done(`creating replica from ${source}`, { type: 'create_replica', source });
}

/** A running member tagged clonefrom (not me, not the leader), else the leader. */
function cloneSource(obs: Observation, view: ClusterView): string | undefined {
  const tagged = [...view.members.values()]
    .filter((m) => m.name !== obs.name && m.name !== view.leader?.name && memberTag(m.doc, 'clonefrom'))
    .filter((m) => m.doc.state === 'running')
    .map((m) => m.name)
    .sort();
  if (tagged.length) return tagged[0];
  const leader = view.leader ? view.members.get(view.leader.name) : undefined;
  return leader && leader.doc.state === 'running' ? leader.name : undefined;
}

function whenPostgresDown(obs: Observation, view: ClusterView, done: Done): Decision {
  if (obs.dynamic.pause) return done('PAUSE: postgres is not running; no action in maintenance mode');
  if (view.leader?.name === obs.name && lockValid(obs)) {
    // Patroni's post_recover: a start that failed (a full disk, a broken config) would fail again; holding on to the
    // lock would leave the cluster without a writable primary for as long as the cause lasts. Let a replica take over.
    if (obs.finishedTask?.kind === 'start' && !obs.finishedTask.ok) {
      return done('removed leader key after trying and failing to start postgres', { type: 'release_leader' });
    }
    if (!obs.postgres.standbySignal) {
      const standIn = startOnStandIn(obs);
      if (standIn) return done(standIn);
      return done(reattachReason(obs, view, 'starting primary after failure'), ...reattachFirst(obs, view), { type: 'start_primary' });
    }
    return done('releasing the leader lock: postgres is configured as a replica and not running', {
      type: 'release_leader',
    });
  }
  if (view.leader && view.leader.name !== obs.name) {
    return done(`starting as a secondary following ${view.leader.name}`, { type: 'start_replica', leader: view.leader.name });
  }
  return done('starting as a secondary with no leader to follow yet', { type: 'start_replica' });
}

function asLeader(obs: Observation, view: ClusterView, done: Done): Decision {
  if (!lockValid(obs)) {
    if (isRunningPrimary(obs)) {
      return done('demoting self because my leader lock could not be renewed in time', { type: 'demote', mode: 'offline' });
    }
    return done('my leader key is still in DCS but my lock is no longer valid; waiting for it to expire');
  }
  const reattach = reattachFirst(obs, view);
  if (obs.postgres.probe.reachable && obs.postgres.probe.inRecovery) {
    // The lock may have been won on a stale view (an agent frozen mid-race): in synchronous mode, a replica that is
    // neither the sync key's leader nor one of its standbys may miss acknowledged commits. Give the lock back.
    const notSync = whyNotSyncCandidate(obs, view);
    if (notSync) return done(`releasing the leader lock without promoting: ${notSync}`, { type: 'release_leader' });
    if (prePromoteFailed(obs)) return done('Promotion cancelled because the pre-promote script failed', { type: 'release_leader' });
    const standIn = startOnStandIn(obs);
    if (standIn) return done(standIn);
    return done(
      reattachReason(obs, view, 'promoting self: I hold the leader lock but postgres is still in recovery'),
      ...reattach,
      ...promotionSyncActions(obs, view),
      { type: 'promote', reason: 'leader lock held while in recovery' },
    );
  }
  const manual = leaderManualStep(obs, view);
  if (manual?.actions[0]?.type === 'demote') return done(manual.reason, ...manual.actions);
  const actions: Action[] = [...reattach, { type: 'publish_status' }, ...(manual?.actions ?? [])];
  const sysid = obs.postgres.systemId;
  if (sysid && (view.initialize === undefined || !VALID_SYSID.test(view.initialize))) {
    actions.push({ type: 'write_initialize', systemId: sysid });
  }
  if (!view.config || !view.config.valid) actions.push({ type: 'write_config' });
  const failsafe = topologyWrite(obs, view);
  if (failsafe) actions.push(failsafe);
  const sync = leaderSyncAction(obs, view);
  if (sync) actions.push(sync);
  return done(reattachReason(obs, view, manual?.reason ?? `no action. I am (${obs.name}), the leader with the lock`), ...actions);
}

function asReplica(obs: Observation, view: ClusterView, leader: string, done: Done, next: Memory): Decision {
  if (isRunningPrimary(obs)) {
    if (obs.dynamic.pause) return done(`PAUSE: running as primary while ${leader} holds the leader lock`);
    return done(`demoting self because ${leader} holds the leader lock and I was a primary`, {
      type: 'demote',
      mode: 'immediate-nolock',
      leader,
    });
  }
  const leaderMember = view.members.get(leader);
  const upstream = leaderMember?.host && leaderMember.port ? `${leaderMember.host}:${leaderMember.port}` : undefined;
  const onto = `${leader}@${leaderTimeline(view, leader)}`;
  const diverged = upstream && !obs.dynamic.pause && next.rewoundOnto !== onto ? whyDiverged(obs, view, leader) : undefined;
  if (diverged) {
    next.rewindingOnto = onto;
    return done(`rewinding: ${diverged}; ${leader} cannot be followed as is`, { type: 'rewind', leader });
  }
  if (upstream && obs.postgres.followingHostPort !== upstream) {
    return done(`following new leader ${leader}: updating primary_conninfo`, { type: 'follow', leader });
  }
  return done(`no action. I am (${obs.name}), a secondary, and following a leader (${leader})`);
}

function leaderRace(obs: Observation, view: ClusterView, done: Done, memory: Memory): Decision {
  if (memory.raceBackoffUntilMs !== undefined && obs.nowMs < memory.raceBackoffUntilMs && !isRunningPrimary(obs)) {
    return done('backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily');
  }
  const manual = raceWithManualRequest(obs, view);
  if (manual?.race) {
    if (isRunningPrimary(obs)) return done(manual.reason, { type: 'acquire_leader' });
    return done(manual.reason, { type: 'acquire_leader' }, ...promotionSyncActions(obs, view), { type: 'promote', reason: 'manual failover' });
  }
  if (manual) return done(manual.reason);
  if (obs.dynamic.pause) {
    if (isRunningPrimary(obs)) return done('PAUSE: acquiring the empty leader lock as the running primary', { type: 'acquire_leader' });
    return done('PAUSE: cluster has no leader; no leader race in maintenance mode');
  }
  if (memberTag({ tags: obs.tags }, 'nofailover')) return done('cluster has no leader; I am tagged nofailover, not racing');
  const failsafe = isRunningPrimary(obs) ? undefined : raceBlockedByFailsafe(obs, view);
  if (failsafe) return done(failsafe);
  if (isRunningPrimary(obs)) {
    const clusterTl = clusterTimeline(view);
    const mine = obs.postgres.probe.timeline ?? 0;
    if (clusterTl && mine < clusterTl) {
      return done(`not taking the lock: my timeline ${mine} is behind the cluster timeline ${clusterTl}`);
    }
    return done('acquiring the leader lock as the running primary', { type: 'acquire_leader' });
  }
  const unhealthy = whyNotHealthiest(obs, view);
  if (unhealthy) return done(`not racing for leader: ${unhealthy}`);
  return done('promoted self to leader by acquiring session lock', { type: 'acquire_leader' }, ...promotionSyncActions(obs, view), {
    type: 'promote',
    reason: 'leader key absent; I am the healthiest member',
  });
}

/**
 * Patroni's rewind check, on the leader's history (the `history` key and its member key's timeline): a replica that
 * does not stream and whose WAL on its timeline goes past the point where the cluster left that timeline (or that
 * is on a timeline the leader never had) holds writes the leader never received. Following it would never
 * stream (an offline demote restarts a former primary as a replica with no upstream, skipping the rewind check).
 * A streaming replica is never diverged; an unknown history or timeline says nothing.
 */
export function whyDiverged(obs: Observation, view: ClusterView, leader: string): string | undefined {
  const p = obs.postgres.probe;
  const history = view.history;
  const leaderDoc = view.members.get(leader)?.doc;
  if (!p.reachable || p.inRecovery !== true || p.replicationState === 'streaming' || !p.timeline || !history) return undefined;
  if (leaderDoc?.state !== 'running' || !isPrimaryRole(leaderDoc.role)) return undefined;
  const own = obs.postgres.timelineHistory ?? [];
  const newest = own[own.length - 1];
  // A non-streaming replica's probe timeline is its checkpoint's, which can lag the timeline it replays.
  const timeline = Math.max(p.timeline, newest ? Number(newest[0]) + 1 : 0);
  const mine = Math.max(p.receiveLsn ?? 0, p.replayLsn ?? 0);
  const leaderTl = leaderTimeline(view, leader);
  if (timeline > leaderTl) return `my timeline ${timeline} is ahead of the leader's timeline ${leaderTl}`;
  const left = (tl: number): number | undefined => {
    const line = [...history].reverse().find((l) => Number(l[0]) === tl);
    const lsn = line ? Number(line[1]) : NaN;
    return Number.isFinite(lsn) ? lsn : undefined;
  };
  // The key is complete when its last line leads to the leader's timeline: only then does a missing line mean "not ours".
  const complete = leaderTl === 1 || Number(history[history.length - 1]?.[0]) === leaderTl - 1;
  // Same timeline numbers, other history: two members promoted from the same timeline at different points.
  for (const [tl, lsn] of own) {
    const theirs = left(tl);
    if (theirs !== undefined && theirs !== lsn) return `my history left timeline ${tl} at ${lsn}, the leader's at ${theirs}`;
    if (theirs === undefined && complete) return `timeline ${tl} of my history is not in the leader's history`;
  }
  const switchLsn = left(timeline);
  if (switchLsn !== undefined && mine > switchLsn) {
    return `my WAL on timeline ${timeline} goes past the point where the cluster left it (${mine} > ${switchLsn})`;
  }
  if (switchLsn === undefined && timeline < leaderTl && complete) {
    return `my timeline ${timeline} is not in the leader's history (leader on timeline ${leaderTl})`;
  }
  return undefined;
}

function leaderTimeline(view: ClusterView, leader: string): number {
  return Math.max(clusterTimeline(view), Number(view.members.get(leader)?.doc.timeline ?? 0) || 0);
}

/** Patroni's _is_healthiest_node: returns why not, or undefined when this node should race. */
export function whyNotHealthiest(obs: Observation, view: ClusterView): string | undefined {
  const probe = obs.postgres.probe;
  if (!probe.reachable) return 'postgres is not answering';
  const mine = Math.max(probe.receiveLsn ?? 0, probe.replayLsn ?? 0);
  const maxLag = obs.dynamic.maximumLagOnFailoverBytes;
  if (view.optime !== undefined && view.optime - mine > maxLag) {
    return `my wal position exceeds maximum replication lag (${view.optime - mine} > ${maxLag} bytes)`;
  }
  const clusterTl = clusterTimeline(view);
  if (obs.dynamic.checkTimeline && clusterTl && (probe.timeline ?? 0) < clusterTl) {
    return `my timeline ${probe.timeline ?? 0} is behind the cluster timeline ${clusterTl}`;
  }
  const notSync = whyNotSyncCandidate(obs, view);
  if (notSync) return notSync;
  if (!obs.peers) return 'peers have not been asked yet';
  const isPrimary = (p: PeerReport) => (p.primaryLocation ?? 0) > 0 || isPrimaryRole(p.role);
  const rivals = obs.peers.filter((p) => isPrimary(p) || !whyNotSyncCandidate(obs, view, p.name));
  return rankAgainstPeers(mine, obs, rivals);
}

function rankAgainstPeers(mine: number, obs: Observation, peers: readonly PeerReport[]): string | undefined {
  const myPriority = Number(obs.tags.failover_priority ?? 1);
  for (const peer of peers) {
    if (!peer.reachable || peer.nofailover || peer.name === obs.name) continue;
    if ((peer.primaryLocation ?? 0) > 0 || isPrimaryRole(peer.role)) {
      return `primary (${peer.name}) is still alive`;
    }
    const theirs = peer.replicaLocation ?? 0;
    if (theirs > mine) return `${peer.name} has a higher WAL position (${theirs} > ${mine})`;
    if (theirs === mine && (peer.failoverPriority ?? 1) > myPriority) {
      return `${peer.name} has the same WAL position and a higher failover priority`;
    }
  }
  return undefined;
}
