/**
 * The faults, one function each: inject, wait (on a condition, with a deadline) for the fault to take effect,
 * clear it. The harness then waits for the cluster to heal and checks the ledger.
 */
import { DCS, processesMatching, signal, type ScenarioCluster } from './harness';
import { waitFor } from '../../support/wait';
import { sql } from '../../support/cluster';
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

const killPostgres = (role: 'leader' | 'replica'): Fault => async (s) => {
  const i = role === 'leader' ? (await leaderIndex(s)).i : await replicaIndex(s);
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
  s.relays[i]!.cut();
  try {
    await newLeader(s, name);
    await waitFor(`${name} demoted (in recovery or stopped)`, () => isNotPrimary(s, i), { timeoutMs: 60_000, intervalMs: 200 });
  } finally {
    s.relays[i]!.heal();
  }
};

const restartEtcd: Fault = async (s) => {
  await s.c.stopEtcd();
  await s.c.startEtcd();
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
  'kill-agent-leader': killAgent('leader', false),
  'kill-agent-replica': killAgent('replica', false),
  'kill-both-leader': killAgent('leader', true),
  'kill-both-replica': killAgent('replica', true),
  'freeze-agent-leader': freezeLeaderAgent,
  'freeze-postgres-leader': freezeLeaderPostgres,
  'partition-leader-from-etcd': partitionLeaderFromEtcd,
  'restart-etcd': restartEtcd,
  'restart-router': restartRouter,
  'kill-replica-during-basebackup': killReplicaDuringBasebackup,
};

/** What CI runs (`PGHA_SCENARIOS` unset): the three that prove the fencing rules, and a router restart. */
export const CI_SUBSET = ['kill-both-leader', 'partition-leader-from-etcd', 'freeze-agent-leader', 'restart-router'];

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
