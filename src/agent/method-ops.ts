/**
 * The effects replica methods and custom bootstraps need beyond PostgresOps (implemented by LocalPostgresOps).
 * Optional in the executor: without them (the simulator) replicas are cloned with pg_basebackup and new clusters
 * made with initdb.
 */
import type { CommandResult } from '../postgres/command';
import type { Upstream } from './postgres-ops';
import type { RestorePlan } from './replica-methods';

export interface MethodOps {
  /** Runs a configured command (no shell) with `env` added to the agent's environment. */
  runCommand(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<CommandResult>;
  /** Writes the pgpass file and returns PGPASSFILE for a command's environment (Patroni's write_pgpass). */
  pgpassEnv(): Promise<Record<string, string>>;
  /** `--connstring` of a replica method: the replication user to `upstream`, Patroni's format. */
  replicationDsn(upstream: Upstream): string;
  /** The argument of post_bootstrap: the superuser to the local server, Patroni's format. */
  superuserDsn(): Promise<string>;
  /** While set, configure() writes a restored data directory's files (recovery section, signal, trusted superuser). */
  setRestorePlan(plan: RestorePlan | undefined): void;
  removePromoteTrigger(): Promise<void>;
  /** Creates the data directory (0700) if it is missing: a restore tool may insist that it exists. */
  ensureDataDir(): Promise<void>;
}
