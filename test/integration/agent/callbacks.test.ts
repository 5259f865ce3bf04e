/**
 * Callbacks, pre_promote and before_stop on a real 3-node cluster, and the same scenario on a real Patroni 3.0.2
 * cluster (Debian's `patroni`) to compare with: each member's callback script appends `<action> <role> <scope>` to
 * its own file. Scenario: bootstrap → switchover (REST) → kill -9 of the leader's agent and postgres, pre_promote
 * refusing on one survivor (`refused`), whose agent is the only one running until it was refused and gave the key
 * back (the other one's agent is stopped with SIGSTOP meanwhile, so the order is always the same): then the other
 * one (`allowed`) promotes and the refused one never does → the killed node rejoins → POST /restart on the leader →
 * POST /reload on every member. The calls of each phase are compared per member, members named by their part in the
 * phase, in order (one member's callbacks are started in order), after the two known differences (normalised()).
 * pgha only: before_stop (Patroni 3.0.2 has none) appends `before_stop` to the same file, so it is seen before the
 * stop's `on_stop` and before a restart's `on_restart`.
 */
import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinDir } from '../../../src/postgres/bin';
import { pghaAgentCommand, postgresOsUser, stopPostmaster, type AgentCommand } from '../../../src/demo/local-cluster';
import { sql, startTestCluster, type TestCluster } from '../../support/cluster';
import { tempDir, removeDir } from '../../support/tmp';
import { waitFor } from '../../support/wait';

const PATRONI = '/usr/bin/patroni';
const SCOPE = 'hooks';

/** Per phase, per member (named by its part in the phase): the lines its callback script recorded, in order. */
type Calls = { [phase: string]: { [part: string]: string[] } };

const scripts = tempDir('hooks-scripts');
chmodSync(scripts, 0o755);
after(() => removeDir(scripts));

function script(name: string, body: string): string {
  const file = join(scripts, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

// The member name is the script's own first argument (written in the YAML): Patroni passes none to pre_promote.
const CALLBACK = script('callback.sh', `echo "$2 $3 $4" >> ${scripts}/$1.calls`);
const PRE_PROMOTE = script('pre-promote.sh', `echo pre_promote >> ${scripts}/$1.prepromote\n[ ! -e ${scripts}/deny-$1 ]`);
const BEFORE_STOP = script('before-stop.sh', `echo before_stop >> ${scripts}/$1.calls`);

const callsOf = (member: string): string[] => {
  const f = join(scripts, `${member}.calls`);
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
};
const prePromotesOf = (member: string): number => {
  const f = join(scripts, `${member}.prepromote`);
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
};

/**
 * The daemon's command, with the scripts written into its YAML's postgresql section first (the generated YAML has
 * no hook for that section; done once per file).
 */
function withScripts(base: AgentCommand, beforeStop: boolean): AgentCommand {
  return (file) => {
    const text = readFileSync(file, 'utf8');
    if (!text.includes('callbacks:')) {
      const name = /^name: (\S+)$/m.exec(text)![1]!;
      const cb = `"${CALLBACK} ${name}"`;
      const hooks = [
        '  callbacks:',
        ...['on_start', 'on_stop', 'on_restart', 'on_reload', 'on_role_change'].map((a) => `    ${a}: ${cb}`),
        `  pre_promote: "${PRE_PROMOTE} ${name}"`,
        ...(beforeStop ? [`  before_stop: "${BEFORE_STOP} ${name}"`] : []),
      ];
      writeFileSync(file, text.replace(/^postgresql:\n/m, `postgresql:\n${hooks.join('\n')}\n`));
    }
    return base(file);
  };
}

const patroniCommand: AgentCommand = (file) => ({ file: PATRONI, args: [file], env: { PATRONI_POSTGRESQL_BIN_DIR: findBinDir() } });

async function post(port: number, path: string, body: unknown): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(90_000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Runs the scenario on a fresh cluster of `command` and returns what each member's scripts recorded, per phase. */
async function scenario(t: TestContext, command: AgentCommand, withBeforeStop: boolean): Promise<{ record: Calls; raw: { [member: string]: string[] } }> {
  for (const f of ['ty-db1', 'ty-db2', 'ty-db3'].flatMap((n) => [`${n}.calls`, `${n}.prepromote`, `deny-${n}`])) rmSync(join(scripts, f), { force: true });
  const owner = postgresOsUser();
  if (owner) chownSync(scripts, owner.uid, owner.gid);
  const c: TestCluster = await startTestCluster({ scope: SCOPE, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 4 }, socketDir: 'home', command: withScripts(command, withBeforeStop) });
  const names = c.nodes.map((n) => n.name);
  const idx = (name: string) => names.indexOf(name);
  const record: Calls = {};
  let seen = new Map(names.map((n) => [n, 0]));
  /** Waits until no script writes for 3 s, then files each member's new lines under its part in the phase. */
  const phase = async (name: string, parts: { [member: string]: string }) => {
    let last = '';
    let still = 0;
    await waitFor(`${name}: the callbacks to settle`, () => {
      const now = JSON.stringify(names.map(callsOf));
      still = now === last ? still + 1 : 0;
      last = now;
      return still >= 6;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    record[name] = {};
    for (const n of names) record[name]![parts[n] ?? n] = callsOf(n).slice(seen.get(n));
    seen = new Map(names.map((n) => [n, callsOf(n).length]));
    t.diagnostic(`${name}: ${JSON.stringify(record[name])}`);
  };
  /**
   * One leader key, every member key `running`, and every other member streaming from the leader (Patroni 3.0.2's
   * member keys lack replication_state; pg_basebackup's WAL stream alone shows as streaming too, hence both).
   */
  const healthy = (what: string, leader?: string) => waitFor(what, async () => {
    const v = await c.view();
    const l = v.leader?.name;
    if (!l || (leader && l !== leader)) return undefined;
    if (!names.every((n) => v.members.get(n)?.doc.state === 'running')) return undefined;
    const streaming = await sql<{ application_name: string }>(c.nodes[idx(l)]!.pgPort, "select application_name from pg_stat_replication where state = 'streaming' order by 1");
    return streaming.map((r) => r.application_name).join(',') === names.filter((n) => n !== l).sort().join(',') ? l : undefined;
  }, { timeoutMs: 180_000, intervalMs: 500 });
  try {
    // Bootstrap.
    const first = await healthy('bootstrap: a leader and two replicas streaming');
    const [candidate, other] = names.filter((n) => n !== first).sort() as [string, string];
    await phase('bootstrap', { [first]: 'leader', [candidate]: 'replica 1', [other]: 'replica 2' });

    // Switchover to the first replica by name.
    // Refused (503, nothing done) while the candidate's member key still shows it lagging: asked again then.
    await waitFor('the switchover to be accepted and done', async () => (await post(c.nodes[idx(first)]!.apiPort, '/switchover', { leader: first, candidate })) === 200, { timeoutMs: 90_000, intervalMs: 2000 });
    await healthy('switchover: the candidate leads, both others stream', candidate);
    await phase('switchover', { [first]: 'old leader', [candidate]: 'candidate', [other]: 'other' });

    // kill -9 of the leader's agent and postgres, while `first`'s agent is stopped and `other` is refused by pre_promote.
    writeFileSync(join(scripts, `deny-${other}`), '');
    const li = idx(candidate);
    const frozen = c.agents[idx(first)]!.child;
    frozen.kill('SIGSTOP');
    try {
      const pm = Number(readFileSync(join(c.nodes[li]!.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      c.agents[li]!.child.kill('SIGKILL');
      process.kill(pm, 'SIGKILL');
      await c.agents[li]!.exited;
      c.agents[li] = undefined;
      await waitFor(`${other} to be refused by pre_promote and give the leader key back`, async () => prePromotesOf(other) >= 1 && !(await c.view()).leader, { timeoutMs: 120_000, intervalMs: 200 });
    } finally {
      frozen.kill('SIGCONT');
    }
    await waitFor(`${first} to take the leader key and accept writes`, async () => {
      if ((await c.view()).leader?.name !== first) return false;
      return (await sql<{ r: boolean }>(c.nodes[idx(first)]!.pgPort, 'select pg_is_in_recovery() as r'))[0]!.r === false;
    }, { timeoutMs: 120_000, intervalMs: 200 });
    await stopPostmaster(c.nodes[li]!.dataDir);
    c.startAgent(li);
    await healthy('failover: the killed leader rejoined', first);
    await phase('failover', { [first]: 'allowed', [other]: 'refused', [candidate]: 'killed leader' });
    assert.equal(prePromotesOf(first), 1, 'the allowed member ran pre_promote once');

    // Restart of the leader.
    assert.equal(await post(c.nodes[idx(first)]!.apiPort, '/restart', {}), 200);
    await healthy('restart: the leader is back', first);
    await phase('restart', { [first]: 'leader', [candidate]: 'replica 1', [other]: 'replica 2' });

    // Reload of every member.
    for (const n of names) assert.ok([200, 202].includes(await post(c.nodes[idx(n)]!.apiPort, '/reload', {})), `POST /reload on ${n}`);
    await waitFor('reload: every member ran on_reload', () => names.every((n) => callsOf(n).slice(seen.get(n)).some((l) => l.startsWith('on_reload'))), { timeoutMs: 60_000, intervalMs: 200 });
    await phase('reload', { [first]: 'leader', [candidate]: 'replica 1', [other]: 'replica 2' });
    return { record, raw: Object.fromEntries(names.map((n) => [n, callsOf(n)])) };
  } catch (err) {
    throw new Error(`${String(err)}\nrecorded so far: ${JSON.stringify(record)}\n${names.map((n, i) => `--- ${n}\n${c.logTail(i, 25)}`).join('\n')}`);
  } finally {
    await c.close();
  }
}

/**
 * The known differences taken out, so that the rest must be equal (docs/configuration.md §3.3 lists them):
 * - pgha's `before_stop` lines (Patroni 3.0.2 has no before_stop);
 * - after a graceful demotion pgha starts the old primary as a replica at once and points it at the new leader by a
 *   reload once its key is there: an `on_reload replica` Patroni does not fire (it waits 2 s for the new leader and
 *   starts following it);
 * - Patroni starts a crashed primary as a replica, finds it diverged, stops it and rewinds it (`on_start replica`,
 *   `on_stop replica`, then `on_start replica`; not on every run); pgha rewinds it before starting it;
 * - while the cluster has no leader Patroni points its replicas at nobody (an `on_reload replica` more, seen on the
 *   refused member); pgha leaves them on the old upstream until there is a new leader: repeated `on_reload replica`
 *   lines count as one.
 */
function normalised(r: Calls, by: 'pgha' | 'patroni'): Calls {
  const out: Calls = JSON.parse(JSON.stringify(r)) as Calls;
  const reload = `on_reload replica ${SCOPE}`;
  for (const parts of Object.values(out)) {
    for (const k of Object.keys(parts)) parts[k] = parts[k]!.filter((l, i, all) => l !== 'before_stop' && !(l === reload && all[i - 1] === reload));
  }
  const old = out.switchover?.['old leader'];
  if (by === 'pgha' && old && old[old.length - 1] === `on_reload replica ${SCOPE}`) old.pop();
  const killed = out.failover?.['killed leader'];
  if (by === 'patroni' && killed && killed[0] === `on_start replica ${SCOPE}` && killed[1] === `on_stop replica ${SCOPE}`) killed.splice(0, 2);
  return out;
}

describe('callbacks, pre_promote and before_stop, compared with Patroni 3.0.2', { timeout: 900_000 }, () => {
  let pgha: Calls | undefined;
  let patroni: Calls | undefined;

  it('pgha: the callbacks of each transition; a refused pre_promote never promotes; before_stop before each stop', async (t) => {
    const { record } = await scenario(t, pghaAgentCommand, true);
    pgha = record;
    const m = `${SCOPE}`;
    assert.deepEqual(record.bootstrap, { leader: [`on_start master ${m}`], 'replica 1': [`on_start replica ${m}`], 'replica 2': [`on_start replica ${m}`] });
    assert.deepEqual(record.switchover, {
      'old leader': ['before_stop', `on_stop demoted ${m}`, `on_role_change replica ${m}`, `on_reload replica ${m}`],
      candidate: [`on_role_change master ${m}`],
      other: [`on_reload replica ${m}`],
    });
    assert.deepEqual(record.failover, {
      allowed: [`on_role_change master ${m}`],
      refused: [`on_reload replica ${m}`],
      'killed leader': [`on_start replica ${m}`],
    });
    assert.deepEqual(record.restart, { leader: ['before_stop', `on_restart master ${m}`], 'replica 1': [], 'replica 2': [] });
    assert.deepEqual(record.reload, { leader: [`on_reload master ${m}`], 'replica 1': [`on_reload replica ${m}`], 'replica 2': [`on_reload replica ${m}`] });
  });

  it('Patroni 3.0.2 on the same scenario records the same calls (before_stop aside)', { skip: !existsSync(PATRONI) && 'patroni is not installed' }, async (t) => {
    patroni = (await scenario(t, patroniCommand, false)).record;
    assert.ok(pgha, 'the pgha run passed');
    assert.deepEqual(normalised(pgha, 'pgha'), normalised(patroni, 'patroni'));
  });
});
