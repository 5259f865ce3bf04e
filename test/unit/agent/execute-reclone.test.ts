import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Executor } from '../../../src/agent/execute';
import type { LeaseKeeper } from '../../../src/agent/lease-keeper';
import type { MethodOps } from '../../../src/agent/method-ops';
import type { PostgresOps } from '../../../src/agent/postgres-ops';
import type { AgentConfig } from '../../../src/config/types';
import { MemoryStore } from '../../../src/dcs/memory/memory-store';
import type { ClusterView } from '../../../src/model/cluster';
import { clusterKeys } from '../../../src/model/keys';
import { silentLogger } from '../../../src/log/logger';
import { parseEdited, section } from '../config/helpers';

const PGBACKREST = {
  use_pg_rewind: true,
  remove_data_directory_on_rewind_failure: true,
  create_replica_methods: ['pgbackrest', 'basebackup'],
  pgbackrest: { command: 'pgbackrest --stanza=main --delta restore', keep_data: true, no_params: true },
};

/** A diverged replica of ty-db1 whose pg_rewind fails; `steps` lists what the executor did, in order. */
function setUp(pgSection: Record<string, unknown>, restoreExit = 0) {
  const config: AgentConfig = parseEdited((d) => Object.assign(section(d, 'postgresql'), pgSection));
  const steps: string[] = [];
  const ops = new Proxy({} as PostgresOps, {
    get: (_t, name: string) => {
      if (name === 'upstreamIsPrimary') return async () => true;
      if (name === 'rewind') return async () => (steps.push('rewind'), false);
      if (name === 'basebackup') return async () => void steps.push('basebackup');
      if (name === 'intend') return () => undefined;
      return async () => void steps.push(name);
    },
  });
  const methods: MethodOps = {
    runCommand: async (argv) => (steps.push(`run ${argv.join(' ')}`), { code: restoreExit, output: '' }),
    pgpassEnv: async () => ({}),
    replicationDsn: () => '',
    superuserDsn: async () => '',
    setRestorePlan: () => undefined,
    removePromoteTrigger: async () => undefined,
    ensureDataDir: async () => undefined,
  };
  const exec = new Executor({
    config, keys: clusterKeys('/service', 'batman'), store: new MemoryStore({ now: () => 0 }), ops, methods,
    logger: silentLogger(), lease: {} as LeaseKeeper, exit: () => undefined,
  });
  const view = { members: new Map([['ty-db1', { name: 'ty-db1', host: '10.0.0.1', port: 5432, doc: {} }]]) } as unknown as ClusterView;
  const rewind = () => exec.runLong({ type: 'rewind', leader: 'ty-db1' } as never, { view, dynamic: { postgresql: { usePgRewind: true } } as never });
  return { steps, rewind };
}

describe('executor: a failed pg_rewind re-clones through create_replica_methods (Patroni reinitialize → create_replica)', () => {
  it('the pgBackRest restore rebuilds the data directory, not pg_basebackup', async () => {
    const h = setUp(PGBACKREST);
    await h.rewind();
    assert.deepEqual(h.steps, ['stop', 'rewind', 'wipeDataDir', 'run pgbackrest --stanza=main --delta restore', 'configure', 'start']);
  });

  it('a failed restore falls back to basebackup, the next method of the chain', async () => {
    const h = setUp(PGBACKREST, 1);
    await h.rewind();
    assert.deepEqual(h.steps, ['stop', 'rewind', 'wipeDataDir', 'run pgbackrest --stanza=main --delta restore', 'wipeDataDir', 'basebackup', 'configure', 'start']);
  });

  it('without configured methods it is pg_basebackup, as before', async () => {
    const h = setUp({ use_pg_rewind: true, remove_data_directory_on_rewind_failure: true });
    await h.rewind();
    assert.deepEqual(h.steps, ['stop', 'rewind', 'wipeDataDir', 'wipeDataDir', 'basebackup', 'configure', 'start']);
  });
});
