/**
 * Building a replica's data directory with the configured methods in order (Patroni's create_replica): the first
 * that succeeds wins; a failed one is logged and the next is tried. A command method starts from an empty data
 * directory unless `keep_data`; basebackup always does. When every method failed the directory is emptied.
 */
import { PghaError } from '../lib/errors';
import type { AgentConfig } from '../config/types';
import type { Logger } from '../log/logger';
import type { MethodOps } from './method-ops';
import type { PostgresOps, Upstream } from './postgres-ops';
import { replicaMethodArgv, replicaMethodChain } from './replica-methods';

/** A restore from a backup repository may take as long as a pg_basebackup. */
const METHOD_TIMEOUT_MS = 6 * 3600 * 1000;

export interface ReplicaBuilderDeps {
  config: AgentConfig;
  ops: PostgresOps;
  methods?: MethodOps;
  logger: Logger;
}

/** Returns the name of the method that built the data directory. `upstream` undefined: the cluster has no leader. */
export async function buildReplica(d: ReplicaBuilderDeps, upstream: Upstream | undefined, basebackup: (from: Upstream) => Promise<void>): Promise<string> {
  const { config, ops, methods, logger } = d;
  const configured = methods ? config.postgresql.replicaMethods : undefined;
  const chain = replicaMethodChain(configured, upstream !== undefined);
  if (chain.length === 0) throw new PghaError('no_replica_method', 'no configured replica method can work without a leader', true);
  let lastError: unknown;
  for (const method of chain) {
    try {
      if (method.builtin) {
        await ops.wipeDataDir();
        await basebackup(upstream!);
      } else {
        if (!methods) throw new PghaError('internal', 'command replica methods need MethodOps');
        if (method.keepData) logger.info({ method: method.name }, 'leaving data directory uncleaned');
        else await ops.wipeDataDir();
        await methods.ensureDataDir();
        const connstring = upstream ? methods.replicationDsn(upstream) : '';
        const argv = replicaMethodArgv(method, { scope: config.scope, dataDir: config.postgresql.dataDir, connstring });
        logger.info({ method: method.name, command: argv[0], ...(upstream ? { source: upstream.name } : {}) }, 'creating replica with a method');
        const result = await methods.runCommand(argv, await methods.pgpassEnv(), METHOD_TIMEOUT_MS);
        if (result.code !== 0) {
          const how = result.error ?? `exited with code ${result.code}`;
          throw new PghaError('replica_method_failed', `replica method ${method.name}: ${argv[0]} ${how}${result.output ? `: ${result.output}` : ''}`, true);
        }
      }
      logger.info({ method: method.name }, 'replica created');
      return method.name;
    } catch (err) {
      logger.error({ method: method.name, err }, 'replica method failed');
      lastError = err;
    }
  }
  // The methods' failure is what the caller must see; a failed wipe is retried before the next attempt's copy.
  await ops.wipeDataDir().catch((err: unknown) => logger.warn({ err }, 'wiping the data directory after the replica methods failed did not work'));
  throw lastError;
}
