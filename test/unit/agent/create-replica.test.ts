import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildReplica } from '../../../src/agent/create-replica';
import type { MethodOps } from '../../../src/agent/method-ops';
import type { PostgresOps, Upstream } from '../../../src/agent/postgres-ops';
import type { AgentConfig } from '../../../src/config/types';
import { silentLogger } from '../../../src/log/logger';
import { parseEdited, section } from '../config/helpers';

const LEADER: Upstream = { name: 'ty-db1', host: '10.0.0.1', port: 5432 };

/** What the executor did, in order: wipes, mkdirs, basebackups, commands. build(null): the cluster has no leader. */
function harness(pgSection: Record<string, unknown>, exitCodes: Record<string, number>, basebackupFails = false) {
  const config: AgentConfig = parseEdited((d) => Object.assign(section(d, 'postgresql'), pgSection));
  const steps: string[] = [];
  const ops = {
    wipeDataDir: async () => void steps.push('wipe'),
  } as unknown as PostgresOps;
  const methods: MethodOps = {
    runCommand: async (argv) => {
      steps.push(`run ${argv.join(' ')}`);
      return { code: exitCodes[argv[0]!] ?? 0, output: 'tool output' };
    },
    pgpassEnv: async () => ({ PGPASSFILE: '/pgpass' }),
    replicationDsn: (u) => `host=${u.host} port=${u.port}`,
    superuserDsn: async () => '',
    setRestorePlan: () => undefined,
    removePromoteTrigger: async () => undefined,
    ensureDataDir: async () => void steps.push('mkdir'),
  };
  const basebackup = async (from: Upstream) => {
    steps.push(`basebackup ${from.name}`);
    if (basebackupFails) throw new Error('pg_basebackup exited with code 1');
  };
  return { steps, build: (upstream: Upstream | null = LEADER) => buildReplica({ config, ops, methods, logger: silentLogger() }, upstream ?? undefined, basebackup) };
}

const PGBACKREST = { create_replica_methods: ['pgbackrest', 'basebackup'], pgbackrest: { command: 'pgbackrest --stanza=main --delta restore', keep_data: true, no_params: true } };

describe('buildReplica: methods in order with fallbacks (Patroni create_replica)', () => {
  it('the first method that succeeds builds the replica; keep_data leaves the directory as it is', async () => {
    const h = harness(PGBACKREST, {});
    assert.equal(await h.build(), 'pgbackrest');
    assert.deepEqual(h.steps, ['mkdir', 'run pgbackrest --stanza=main --delta restore']);
  });

  it('a failed method falls back to basebackup, which starts from an empty directory', async () => {
    const h = harness(PGBACKREST, { pgbackrest: 75 });
    assert.equal(await h.build(), 'basebackup');
    assert.deepEqual(h.steps, ['mkdir', 'run pgbackrest --stanza=main --delta restore', 'wipe', 'basebackup ty-db1']);
  });

  it('a command method without keep_data gets an empty directory and pgha\'s arguments', async () => {
    const h = harness({ create_replica_methods: ['clone'], clone: { command: '/bin/clone' } }, {});
    await h.build();
    assert.deepEqual(h.steps, ['wipe', 'mkdir', 'run /bin/clone --scope=pgcluster --role=replica --datadir=/var/lib/postgresql/pgha/node1 --connstring=host=10.0.0.1 port=5432']);
  });

  it('when every method fails the directory is emptied and the last error is thrown', async () => {
    const h = harness(PGBACKREST, { pgbackrest: 1 }, true);
    await assert.rejects(h.build(), /pg_basebackup exited with code 1/);
    assert.deepEqual(h.steps.at(-1), 'wipe');
  });

  it('without a leader only no_leader methods run, with an empty connstring', async () => {
    const h = harness({ create_replica_methods: ['archive', 'basebackup'], archive: { command: 'restore-archive', no_leader: true } }, {});
    assert.equal(await h.build(null), 'archive');
    assert.deepEqual(h.steps, ['wipe', 'mkdir', 'run restore-archive --no_leader=True --scope=pgcluster --role=replica --datadir=/var/lib/postgresql/pgha/node1 --connstring=']);
    await assert.rejects(harness({}, {}).build(null), /no configured replica method can work without a leader/);
  });
});
