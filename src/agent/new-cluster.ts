/**
 * Making the data directory of a new cluster (Patroni's Bootstrap.bootstrap and post_bootstrap): initdb, or the
 * configured `bootstrap.method` command (a restore, a clone) followed by recovery to its end; then the roles and
 * `post_bootstrap`. The caller holds the initialize key and publishes the cluster afterwards.
 */
import { PghaError } from '../lib/errors';
import type { AgentConfig } from '../config/types';
import type { Logger } from '../log/logger';
import type { MethodOps } from './method-ops';
import type { PostgresOps } from './postgres-ops';
import { type RestorePlan, customBootstrapArgv, postBootstrapArgv, restoreRecoveryPlan } from './replica-methods';

/** A restore can take hours; the loop keeps ticking and nobody holds the leader key meanwhile. */
const COMMAND_TIMEOUT_MS = 24 * 3600 * 1000;
const POLL_MS = 1000;
const LOG_EVERY_MS = 30_000;

export interface NewClusterDeps {
  config: AgentConfig;
  ops: PostgresOps;
  methods?: MethodOps;
  logger: Logger;
}

/** Leaves postgres running as a primary with the configured roles, post_bootstrap done. */
export async function makeNewCluster(d: NewClusterDeps): Promise<void> {
  const { config, ops, methods } = d;
  const custom = config.bootstrap.custom;
  if (custom && methods) {
    const plan = await runCustomBootstrap(d, methods);
    await ops.createRoles();
    // Back to pgha's own files: no recovery section, no trusted superuser, hot_standby as configured.
    methods.setRestorePlan(undefined);
    await ops.configure({ role: 'primary' });
    if (plan.hotStandbyOff) {
      await ops.stop('fast', 60_000);
      await ops.start();
    } else {
      await ops.reload();
    }
  } else {
    if (custom) throw new PghaError('internal', 'a custom bootstrap needs MethodOps');
    await ops.initdb();
    await ops.configure({ role: 'primary' });
    await ops.start();
    await ops.createRoles();
  }
  if (config.bootstrap.postBootstrap && methods) await runPostBootstrap(d, methods, config.bootstrap.postBootstrap);
}

async function runCustomBootstrap(d: NewClusterDeps, methods: MethodOps): Promise<RestorePlan> {
  const { config, ops, logger } = d;
  const custom = config.bootstrap.custom!;
  const argv = customBootstrapArgv(custom, { scope: config.scope, dataDir: config.postgresql.dataDir });
  logger.info({ method: custom.name, command: argv[0] }, 'running custom bootstrap script');
  await methods.ensureDataDir();
  const result = await methods.runCommand(argv, await methods.pgpassEnv(), COMMAND_TIMEOUT_MS);
  if (result.code !== 0) {
    const how = result.error ?? `exited with code ${result.code}`;
    throw new PghaError('bootstrap_failed', `custom bootstrap ${custom.name}: ${argv[0]} ${how}${result.output ? `: ${result.output}` : ''}`);
  }
  if ((await ops.dataDirState()) !== 'initialized') {
    throw new PghaError('bootstrap_failed', `custom bootstrap ${custom.name} succeeded but left no cluster in ${config.postgresql.dataDir}`);
  }
  await methods.removePromoteTrigger();
  const plan = restoreRecoveryPlan(custom);
  methods.setRestorePlan(plan);
  await ops.configure({ role: 'primary' });
  await ops.start();
  await waitForEndOfRecovery(d);
  logger.info({ method: custom.name }, 'custom bootstrap finished: recovery ended');
  return plan;
}

/**
 * As Patroni ("waiting for end of recovery after bootstrap"), without a deadline: a restore replays as much WAL as
 * it must. Fails when postgres stops (a recovery target that cannot be reached, a failed restore_command).
 */
async function waitForEndOfRecovery(d: NewClusterDeps): Promise<void> {
  let lastLog = Date.now();
  for (;;) {
    const probe = await d.ops.probe().catch(() => ({ reachable: false as const }));
    if (probe.reachable && probe.inRecovery === false) return;
    if (!(await d.ops.isRunning())) throw new PghaError('bootstrap_failed', 'postgres stopped before the end of recovery after the custom bootstrap');
    if (Date.now() - lastLog >= LOG_EVERY_MS) {
      d.logger.info('waiting for end of recovery after bootstrap');
      lastLog = Date.now();
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Patroni's call_post_bootstrap: the command gets the superuser's DSN; a failure cancels the bootstrap. */
async function runPostBootstrap(d: NewClusterDeps, methods: MethodOps, command: string): Promise<void> {
  const argv = postBootstrapArgv(command, await methods.superuserDsn());
  d.logger.info({ command: argv[0] }, 'running post_bootstrap');
  const env = { ...(await methods.pgpassEnv()), PGOPTIONS: '-c synchronous_commit=local' };
  const result = await methods.runCommand(argv, env, COMMAND_TIMEOUT_MS);
  if (result.code !== 0) {
    throw new PghaError('bootstrap_failed', `post_bootstrap ${argv[0]} ${result.error ?? `returned non-zero code ${result.code}`}${result.output ? `: ${result.output}` : ''}`);
  }
}
