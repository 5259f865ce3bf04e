/**
 * What a reload of the YAML changes (Patroni 3.0.2's SIGHUP / `POST /reload`: `Config.reload_local_configuration`,
 * then `Patroni.reload_config`). Pure: the running configuration and the newly read one in, the configuration to
 * run with and one sentence per changed setting out. The CLI applies the result; postgres then gets its files
 * rewritten and `pg_ctl reload`, and a changed parameter that only a postmaster restart applies shows as
 * `pending_restart` (postgres' own `pg_settings.pending_restart`), as in Patroni.
 *
 * Settings the running agent holds in open sockets or processes (listen addresses, certificates, etcd endpoints,
 * the data directory, the member name) are not swapped under it: they are kept, and the plan names them with the
 * fix (restart the agent). Patroni re-creates some of these in place (the REST server on a new listen address,
 * the etcd client); pgha does not (docs/configuration.md lists them).
 */
import { isDeepStrictEqual } from 'node:util';
import type { AgentConfig, PostgresLocalConfig, RestApiConfig } from './types';

export interface ReloadPlan {
  /** The configuration to run with: the running one with every reloadable change taken over. */
  config: AgentConfig;
  /** YAML names of the settings changed and applied now, e.g. `tags`, `postgresql.pg_hba`. */
  applied: string[];
  /** YAML names of the settings changed but kept at their running value until the agent restarts. */
  needAgentRestart: string[];
  /** One sentence for the log and the REST answer. */
  reason: string;
}

type Field<T> = { yaml: string; key: keyof T; reloadable: boolean };

/** Top-level settings, by whether a running agent can take them over (postgresql and restapi are split below). */
const TOP: Field<AgentConfig>[] = [
  { yaml: 'tags', key: 'tags', reloadable: true },
  { yaml: 'bootstrap', key: 'bootstrap', reloadable: true },
  // The level only (pgha's log section has nothing else): every child logger follows the root's level.
  { yaml: 'log', key: 'log', reloadable: true },
  { yaml: 'scope', key: 'scope', reloadable: false },
  { yaml: 'namespace', key: 'namespace', reloadable: false },
  { yaml: 'name', key: 'name', reloadable: false },
  { yaml: 'etcd3', key: 'etcd', reloadable: false },
  { yaml: 'router', key: 'router', reloadable: false },
  { yaml: 'ctl', key: 'memberTls', reloadable: false },
  // The executor keeps the configuration it started with.
  { yaml: 'switchover_drain', key: 'switchoverDrain', reloadable: false },
];

/** Read where they are used (each tick, each conf-file write, each REST request): safe to take over. */
const POSTGRESQL: Field<PostgresLocalConfig>[] = [
  { yaml: 'postgresql.parameters', key: 'parameters', reloadable: true },
  { yaml: 'postgresql.pg_hba', key: 'pgHba', reloadable: true },
  { yaml: 'postgresql.recovery_conf', key: 'recoveryConf', reloadable: true },
  { yaml: 'postgresql.authentication', key: 'authentication', reloadable: true },
  { yaml: 'postgresql.use_pg_rewind', key: 'usePgRewind', reloadable: true },
  { yaml: 'postgresql.remove_data_directory_on_rewind_failure', key: 'removeDataDirectoryOnRewindFailure', reloadable: true },
  { yaml: 'postgresql.remove_data_directory_on_diverged_timelines', key: 'removeDataDirectoryOnDivergedTimelines', reloadable: true },
  { yaml: 'postgresql.pg_ctl_timeout', key: 'pgCtlTimeoutSeconds', reloadable: true },
  { yaml: 'postgresql.basebackup', key: 'basebackupArgs', reloadable: true },
  { yaml: 'postgresql.listen', key: 'listen', reloadable: false },
  { yaml: 'postgresql.connect_address', key: 'connectAddress', reloadable: false },
  { yaml: 'postgresql.data_dir', key: 'dataDir', reloadable: false },
  { yaml: 'postgresql.bin_dir', key: 'binDir', reloadable: false },
  { yaml: 'postgresql.pgpass', key: 'pgpass', reloadable: false },
  { yaml: 'postgresql.database', key: 'database', reloadable: false },
];

/** The REST server reads these per request; the listening socket and its certificates stay as started. */
const RESTAPI: Field<RestApiConfig>[] = [
  { yaml: 'restapi.authentication', key: 'authentication', reloadable: true },
  { yaml: 'restapi.allowlist', key: 'allowlist', reloadable: true },
  { yaml: 'restapi.allowlist_include_members', key: 'allowlistIncludeMembers', reloadable: true },
  { yaml: 'restapi.http_extra_headers', key: 'httpExtraHeaders', reloadable: true },
  { yaml: 'restapi.https_extra_headers', key: 'httpsExtraHeaders', reloadable: true },
  { yaml: 'restapi.listen', key: 'listen', reloadable: false },
  { yaml: 'restapi.connect_address', key: 'connectAddress', reloadable: false },
  { yaml: 'restapi.certfile', key: 'certfile', reloadable: false },
  { yaml: 'restapi.keyfile', key: 'keyfile', reloadable: false },
  { yaml: 'restapi.keyfile_password', key: 'keyfilePassword', reloadable: false },
  { yaml: 'restapi.cafile', key: 'cafile', reloadable: false },
  { yaml: 'restapi.verify_client', key: 'verifyClient', reloadable: false },
];

/**
 * Compares field by field. A setting that cannot be taken over keeps its running value (so the agent never runs
 * half on the old and half on the new value); a later reload after the restart sees no change.
 */
export function planReload(running: AgentConfig, next: AgentConfig): ReloadPlan {
  const applied: string[] = [];
  const needAgentRestart: string[] = [];
  const merge = <T extends object>(fields: Field<T>[], from: T, to: T): T => {
    const out = { ...from };
    for (const f of fields) {
      if (isDeepStrictEqual(from[f.key], to[f.key])) continue;
      if (!f.reloadable) {
        needAgentRestart.push(f.yaml);
        continue;
      }
      applied.push(f.yaml);
      if (to[f.key] === undefined) delete out[f.key];
      else out[f.key] = structuredClone(to[f.key]);
    }
    return out;
  };
  const config = merge(TOP, running, next);
  config.postgresql = merge(POSTGRESQL, running.postgresql, next.postgresql);
  config.restapi = merge(RESTAPI, running.restapi, next.restapi);
  config.warnings = next.warnings ?? [];
  return { config, applied, needAgentRestart, reason: reloadReason(applied, needAgentRestart) };
}

function reloadReason(applied: string[], needAgentRestart: string[]): string {
  if (applied.length === 0 && needAgentRestart.length === 0) return 'no local configuration items changed';
  const parts: string[] = [];
  if (applied.length > 0) parts.push(`applied ${applied.join(', ')}`);
  if (needAgentRestart.length > 0) parts.push(`kept the running ${needAgentRestart.join(', ')} until the agent restarts`);
  return parts.join('; ');
}

/**
 * Applies a plan to the configuration object every component holds a reference to (runner, executor, postgres
 * operations read `config.x` where they use it), field by field, so no component keeps a stale copy.
 */
export function applyReloadPlan(shared: AgentConfig, plan: ReloadPlan): void {
  for (const key of Object.keys(shared) as (keyof AgentConfig)[]) {
    if (!(key in plan.config)) delete shared[key];
  }
  Object.assign(shared, plan.config);
}
