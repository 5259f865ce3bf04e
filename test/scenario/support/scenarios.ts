/**
 * The faults, one function each: inject, wait (on a condition, with a deadline) for the fault to take effect,
 * clear it. The harness then waits for the cluster to heal and checks the ledger.
 */
import { execFile } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { DCS, processesMatching, signal, type HarnessOptions, type ScenarioCluster } from './harness';
import { waitFor } from '../../support/wait';
import { PASSWORD, sql } from '../../support/cluster';
import type { EtcdCluster, EtcdServer } from '../../support/etcd';
import { pidAlive } from '../../support/postgres';
import { Rng } from '../../support/sim/rng';

export type Fault = (s: ScenarioCluster) => Promise<void>;

const TTL_MS = DCS.ttl * 1000;

async function leaderIndex(s: ScenarioCluster): Promise<{ i: number; name: string }> {
  const v = await s.view();
  const i = s.c.leaderIndex(v);
  if (i < 0) throw new Error('no leader to inject the fault into');
  return { i, name: v.leader!.name };
}

async function replicaIndex(s: ScenarioCluster): Promise<number> {
  return ((await leaderIndex(s)).i + 1) % s.c.nodes.length;
}

/** Another member holds the leader key. */
function newLeader(s: ScenarioCluster, old: string, timeoutMs = 4 * TTL_MS): Promise<string> {
  return waitFor(`a leader other than ${old}`, async () => {
    const l = (await s.view()).leader?.name;
    return l && l !== old ? l : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

function gone(what: string, pids: number[]): Promise<boolean> {
  return waitFor(`${what} gone`, () => pids.every((pid) => !pidAlive(pid)), { timeoutMs: 30_000, intervalMs: 50 });
}

/** The member the sync key names synchronous standby. */
async function syncStandbyIndex(s: ScenarioCluster): Promise<number> {
  const sync = (await s.view()).sync;
  const i = s.c.nodes.findIndex((n) => n.name === sync?.syncStandby[0]);
  if (i < 0) throw new Error(`no synchronous standby in the sync key (${JSON.stringify(sync)})`);
  return i;
}

const killPostgres = (role: 'leader' | 'replica' | 'sync-standby'): Fault => async (s) => {
  const i = role === 'leader' ? (await leaderIndex(s)).i : role === 'sync-standby' ? await syncStandbyIndex(s) : await replicaIndex(s);
  const pids = s.postgresPids(i);
  signal(pids[0]!, 'SIGKILL');
  await gone('the postmaster', pids.slice(0, 1));
  // The agent restarts it (or, for the leader, a replica takes over first): wait for a new postmaster.
  await waitFor('postgres running again', () => (s.postmasterPid(i) ?? pids[0]) !== pids[0], { timeoutMs: 60_000, intervalMs: 100 });
};

const killAgent = (role: 'leader' | 'replica', withPostgres: boolean): Fault => async (s) => {
  const { i: li, name } = await leaderIndex(s);
  const i = role === 'leader' ? li : (li + 1) % s.c.nodes.length;
  const pg = s.postgresPids(i);
  await s.killAgent(i);
  if (withPostgres) {
    signal(pg[0]!, 'SIGKILL');
    await gone('the postmaster', pg.slice(0, 1));
  }
  if (role === 'leader') await newLeader(s, name);
  s.startAgent(i);
};

/** SIGSTOP of the leader's agent for longer than ttl: a frozen agent whose primary keeps running, then wakes up. */
const freezeLeaderAgent: Fault = async (s) => {
  const { i, name } = await leaderIndex(s);
  const pid = s.agentPid(i)!;
  signal(pid, 'SIGSTOP');
  try {
    await newLeader(s, name);
  } finally {
    signal(pid, 'SIGCONT');
  }
};

/** How long a dead or frozen agent stays so after the new leader appears (issue 14's acceptance). */
const KEPT_DOWN_MS = 30_000;

/**
 * Issue 14: the leader's agent killed (kill -9) or frozen (SIGSTOP), its postgres left running, while writers also
 * write straight to every node. Only the fence process can stop that postgres: it must do so before the lease can
 * expire, so no direct writer is acknowledged by the old primary once a replica may promote. The agent stays down
 * 30 s after the new leader appears, then comes back and the node rejoins.
 */
const agentDownDirect = (how: 'kill' | 'freeze'): Fault => async (s) => {
  const { i, name } = await leaderIndex(s);
  const pid = s.agentPid(i)!;
  const pm = s.postmasterPid(i);
  const downAt = Date.now();
  if (how === 'kill') await s.killAgent(i);
  else signal(pid, 'SIGSTOP');
  try {
    const next = await newLeader(s, name);
    const leaderAt = Date.now();
    s.note(`${next} leader ${((leaderAt - downAt) / 1000).toFixed(1)} s after ${how === 'kill' ? 'kill -9' : 'SIGSTOP'} of ${name}'s agent; ${name}'s postgres ${s.postmasterPid(i) === pm ? 'still running' : 'stopped'} then`);
    await waitFor(`${KEPT_DOWN_MS / 1000} s with ${name}'s agent down`, () => Date.now() - leaderAt >= KEPT_DOWN_MS, { timeoutMs: 2 * KEPT_DOWN_MS, intervalMs: 200 });
  } finally {
    if (how === 'freeze') signal(pid, 'SIGCONT');
  }
  if (how === 'kill') s.startAgent(i);
};

/** The leader's whole node killed as a host crash (fence, agent, postgres); it comes back once another member leads. */
const killLeaderNode: Fault = async (s) => {
  const { i, name } = await leaderIndex(s);
  const killed = await s.killNode(i);
  const next = await newLeader(s, name);
  s.note(`${next} leader ${((performance.now() - killed.deadAt) / 1000).toFixed(1)} s (at most) after ${name}'s node died`);
  s.startAgent(i);
};

/** SIGSTOP of every process of the leader's postgres: its agent sees a primary that does not answer. */
const freezeLeaderPostgres: Fault = async (s) => {
  const { i, name } = await leaderIndex(s);
  const pids = s.postgresPids(i);
  for (const pid of pids) signal(pid, 'SIGSTOP');
  try {
    // Either a failover, or the agent keeps the lock over a stalled primary: resume after 2 × ttl at most.
    await newLeader(s, name, 2 * TTL_MS).catch(() => undefined);
  } finally {
    for (const pid of pids) signal(pid, 'SIGCONT');
  }
};

/** The leader's agent cut off from etcd (not from clients): it must demote itself before its lease runs out. */
const partitionLeaderFromEtcd: Fault = async (s) => {
  const { i, name } = await leaderIndex(s);
  for (const r of s.relays[i]!) r.cut();
  try {
    await newLeader(s, name);
    await waitFor(`${name} demoted (in recovery or stopped)`, () => isNotPrimary(s, i), { timeoutMs: 60_000, intervalMs: 200 });
  } finally {
    for (const r of s.relays[i]!) r.heal();
  }
};

/** The whole of etcd down and up again (every member, when it has three). */
const restartEtcd: Fault = async (s) => {
  if (s.etcdCluster) {
    await Promise.all(s.etcdCluster.members.map((m) => m.stop()));
    await Promise.all(s.etcdCluster.members.map((m) => m.restart()));
    return;
  }
  await s.c.stopEtcd();
  await s.c.startEtcd();
};

/**
 * One etcd member of three lost: the one the leader's agent talks to, made the raft leader first, so etcd also
 * elects a new leader. The agent renews its lease through another member in time: the leader stays (no failover)
 * and writes go on for 2 × ttl without that member; then it is started again.
 */
const loseEtcdMember: Fault = async (s) => {
  if (!s.etcdCluster) throw new Error('lose-etcd-member needs a 3-member etcd (HarnessOptions.etcdMembers)');
  const { i, name } = await leaderIndex(s);
  const member = await etcdMemberUsedBy(s, i);
  await moveEtcdLeadership(s.etcdCluster, member);
  s.note(`stopping etcd member ${member.name}: it carries ${name}'s calls, raft leader: ${await isRaftLeader(member)}`);
  const acked = s.ledger?.count() ?? 0;
  const lostAt = Date.now();
  await member.stop();
  try {
    const outcome = await waitFor(`writes going on with ${name} the leader for 2 × ttl without etcd member ${member.name}`, async () => {
      const leader = (await s.view()).leader?.name;
      if (leader !== undefined && leader !== name) return `the leader changed from ${name} to ${leader}`;
      return Date.now() - lostAt > 2 * TTL_MS && leader === name && (s.ledger?.count() ?? 0) >= acked + 20 ? 'ok' : undefined;
    }, { timeoutMs: 6 * TTL_MS, intervalMs: 250 });
    if (outcome !== 'ok') throw new Error(`${outcome} after losing one etcd member of three`);
    s.note(`${name} kept the lock for ${((Date.now() - lostAt) / 1000).toFixed(1)} s without ${member.name}; ${(s.ledger?.count() ?? 0) - acked} writes acknowledged meanwhile`);
  } finally {
    await member.restart();
  }
};

/** The etcd member carrying agent i's calls: the one of its relays that forwards the most over two seconds. */
async function etcdMemberUsedBy(s: ScenarioCluster, i: number): Promise<EtcdServer> {
  const relays = s.relays[i]!;
  const from = relays.map((r) => r.forwarded);
  const since = Date.now();
  const busiest = await waitFor(`agent ${i + 1}'s traffic to etcd`, () => {
    if (Date.now() - since < 2000) return undefined;
    const deltas = relays.map((r, k) => r.forwarded - from[k]!);
    const most = Math.max(...deltas);
    return most > 0 ? relays[deltas.indexOf(most)]! : undefined;
  }, { timeoutMs: 30_000, intervalMs: 250 });
  return s.etcdCluster!.members.find((m) => m.clientPort === busiest.targetPort)!;
}

const execFileP = promisify(execFile);

async function isRaftLeader(m: EtcdServer): Promise<boolean | 'unknown'> {
  try {
    // "127.0.0.1:2379, 8e9e05c52164694d, 3.4.23, 20 kB, true, false, …": the fifth field says whether it leads.
    const { stdout } = await execFileP('etcdctl', [`--endpoints=${m.endpoint}`, 'endpoint', 'status'], { timeout: 15_000 });
    return stdout.split(', ')[4] === 'true';
  } catch {
    return 'unknown';
  }
}

/** Best effort (etcdctl move-leader): a member that already leads, or a failed transfer, leaves raft as it is. */
async function moveEtcdLeadership(etcd: EtcdCluster, to: EtcdServer): Promise<void> {
  const endpoints = `--endpoints=${etcd.endpoints.join(',')}`;
  try {
    const { stdout } = await execFileP('etcdctl', [endpoints, 'member', 'list'], { timeout: 15_000 });
    // "8e9e05c52164694d, started, etcd0, http://…, http://…, false"
    const id = stdout.split('\n').map((l) => l.split(', ')).find((f) => f[2] === to.name)?.[0];
    if (id) await execFileP('etcdctl', [endpoints, 'move-leader', id], { timeout: 15_000 });
  } catch {
    // already the leader, or an election under way: the member is stopped all the same
  }
}

/**
 * The leader's disk fills up: a ballast file takes every free byte of its tmpfs, and WAL is written until postgres
 * needs a segment it cannot create (until then it writes into the segments it has). The leader cannot write, and
 * cannot start again while the disk is full: the cluster must fail over to the synchronous standby. Then the
 * ballast is removed and the harness waits for the old leader to rejoin as a streaming replica.
 */
const fillLeaderDisk: Fault = async (s) => {
  const { i, name } = await leaderIndex(s);
  const disk = s.disks[i];
  if (!disk) throw new Error('fill-leader-disk needs a disk per node (HarnessOptions.diskMb)');
  const ballast = join(disk, 'ballast');
  fillFileSystem(ballast);
  const fullAt = Date.now();
  try {
    const mib = await writeWalUntilRefused(s.c.nodes[i]!.pgPort);
    s.note(`${name}'s disk full; postgres refused WAL after ${mib} MiB more`);
    const next = await newLeader(s, name);
    s.note(`${next} leader ${((Date.now() - fullAt) / 1000).toFixed(1)} s after ${name}'s disk filled up`);
  } finally {
    rmSync(ballast, { force: true });
  }
};

/** Writes `file` until the file system holding it has no byte left (1 MiB blocks, then 4 KiB ones). */
function fillFileSystem(file: string): void {
  const fd = openSync(file, 'w', 0o600);
  try {
    for (const size of [1 << 20, 1 << 12]) {
      const block = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, block);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** 4 MiB WAL records (logical messages: no table grows) until postgres refuses one (ERROR, or PANIC and a broken connection). */
async function writeWalUntilRefused(port: number): Promise<number> {
  const client = new Client({ host: '127.0.0.1', port, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 10_000, query_timeout: 30_000 });
  client.on('error', () => undefined);
  await client.connect();
  let mib = 0;
  try {
    for (; mib < 1024; mib += 4) await client.query(`select pg_logical_emit_message(false, 'pgha-scenario', repeat('x', 4 << 20))`);
  } catch {
    return mib;
  } finally {
    void client.end().catch(() => undefined);
  }
  throw new Error(`postgres on port ${port} took 1 GiB of WAL on a full disk`);
}

/**
 * The synchronous standby cut off from the leader's postgres (its replication connections are held and get no bytes,
 * as in a partition) while it still reaches etcd, and the router and the other replica still reach the leader. The
 * leader must name the other replica synchronous standby (writes wait for the cut one until the walsender times out),
 * and after healing the cut replica streams again.
 */
const cutReplicaFromLeader: Fault = async (s) => {
  const { i, name } = await leaderIndex(s);
  const relay = s.pgRelays[i];
  if (!relay) throw new Error('cut-replica-from-leader needs relays in front of postgres (HarnessOptions.postgresRelays)');
  const standby = (await s.view()).sync?.syncStandby[0];
  if (!standby) throw new Error('no synchronous standby to cut off');
  relay.cut(standby);
  const cutAt = Date.now();
  try {
    const moved = await waitFor(`${name} naming a synchronous standby other than ${standby}`, async () => {
      const sync = (await s.view()).sync;
      return sync?.leader === name && sync.syncStandby.length > 0 && !sync.syncStandby.includes(standby) ? sync.syncStandby : undefined;
    }, { timeoutMs: 180_000, intervalMs: 250 });
    s.note(`${standby} cut off from ${name}; the sync key named ${moved.join(',')} ${((Date.now() - cutAt) / 1000).toFixed(1)} s later`);
    const acked = s.ledger?.count() ?? 0;
    await waitFor(`writes acknowledged while ${standby} is cut off`, () => (s.ledger?.count() ?? 0) >= acked + 20, { timeoutMs: 60_000, intervalMs: 100 });
  } finally {
    relay.heal();
  }
};

const restartRouter: Fault = async (s) => {
  await s.stopRouter();
  await s.startRouter();
};

/** A replica rebuilt by reinitialize, its agent and pg_basebackup killed mid-copy, then the agent restarted. */
const killReplicaDuringBasebackup: Fault = async (s) => {
  const i = await replicaIndex(s);
  const node = s.c.nodes[i]!;
  const res = await fetch(`http://127.0.0.1:${node.apiPort}/reinitialize`, { method: 'POST', body: '{"force": true}', signal: AbortSignal.timeout(30_000) });
  if (res.status >= 300) throw new Error(`POST /reinitialize answered ${res.status}: ${await res.text()}`);
  const copying = await waitFor('pg_basebackup running', () => {
    const pids = processesMatching(new RegExp(`pg_basebackup.*${node.dataDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    return pids.length ? pids : undefined;
  }, { timeoutMs: 60_000, intervalMs: 20 }).catch(() => [] as number[]);
  await s.killAgent(i);
  for (const pid of copying) signal(pid, 'SIGKILL');
  const pm = s.postmasterPid(i);
  if (pm) signal(pm, 'SIGKILL');
  s.startAgent(i);
};

async function isNotPrimary(s: ScenarioCluster, i: number): Promise<boolean> {
  if (!s.postmasterPid(i)) return true;
  try {
    const [row] = await sql<{ rec: boolean }>(s.c.nodes[i]!.pgPort, 'select pg_is_in_recovery() as rec');
    return row!.rec;
  } catch {
    return false;
  }
}

export const SCENARIOS: Record<string, Fault> = {
  'kill-postgres-leader': killPostgres('leader'),
  'kill-postgres-replica': killPostgres('replica'),
  // Commits wait for the synchronous standby: the leader must name the other replica and release them at once.
  'kill-postgres-sync-standby': killPostgres('sync-standby'),
  'kill-agent-leader': killAgent('leader', false),
  'kill-agent-replica': killAgent('replica', false),
  'kill-both-leader': killAgent('leader', true),
  'kill-both-replica': killAgent('replica', true),
  'freeze-agent-leader': freezeLeaderAgent,
  'kill-agent-leader-direct': agentDownDirect('kill'),
  'freeze-agent-leader-direct': agentDownDirect('freeze'),
  'freeze-postgres-leader': freezeLeaderPostgres,
  'kill-leader-node-fast': killLeaderNode, // the fast profile's failover figure (docs/fast-profile.md); not in CI
  'partition-leader-from-etcd': partitionLeaderFromEtcd,
  'restart-etcd': restartEtcd,
  'restart-router': restartRouter,
  'kill-replica-during-basebackup': killReplicaDuringBasebackup,
  'fill-leader-disk': fillLeaderDisk,
  'lose-etcd-member': loseEtcdMember,
  'cut-replica-from-leader': cutReplicaFromLeader,
};

/** Scenarios that need more than the default cluster; the suite starts one cluster per distinct set of needs. */
export const NEEDS: Partial<Record<string, HarnessOptions>> = {
  // Room for the data dir and a few hundred MiB of WAL (replicas receive what the leader writes until it PANICs).
  'fill-leader-disk': { diskMb: 512 },
  'lose-etcd-member': { etcdMembers: 3 },
  'cut-replica-from-leader': { postgresRelays: true },
  // Without synchronous mode, so that a primary nobody stops would acknowledge its direct writers' commits alone.
  'kill-agent-leader-direct': { asyncReplication: true },
  'freeze-agent-leader-direct': { asyncReplication: true },
  'kill-leader-node-fast': { fast: true },
};

/**
 * What CI runs (`PGHA_SCENARIOS` unset): the three that prove the fencing rules, a router restart, and the fence
 * process under direct writers (its own asynchronous cluster: about 2 minutes with the cluster's start).
 */
export const CI_SUBSET = ['kill-both-leader', 'partition-leader-from-etcd', 'freeze-agent-leader', 'restart-router', 'kill-agent-leader-direct'];

/** A seeded random sequence of the kill faults, applied back to back (each waits for its own effect). */
export function randomSequence(seed: number, length = 3): { name: string; fault: Fault } {
  const pool = ['kill-postgres-leader', 'kill-agent-leader', 'kill-both-leader', 'kill-both-replica', 'restart-etcd', 'freeze-agent-leader'];
  const rng = new Rng(seed);
  const names = Array.from({ length }, () => rng.pick(pool));
  return {
    name: `random-${seed}: ${names.join(' → ')}`,
    fault: async (s) => {
      for (const n of names) {
        await SCENARIOS[n]!(s);
        await s.waitHealed();
      }
    },
  };
}
