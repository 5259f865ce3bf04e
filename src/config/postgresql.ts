import { isAbsolute, join as joinPath, resolve } from 'node:path';
import { ConfigError } from '../lib/errors';
import { parseHostPort, parseListenList } from './address';
import { type BinDirProbe, resolveBinDir } from './bin-dir';
import { parseParameters } from './dynamic';
import { AUTH_PARAMETERS } from './env';
import { POSTGRESQL_KEYS, checkSectionKeys } from './known-keys';
import { parseReplicaMethods } from './methods';
import { renderBasebackupArgs } from './options-list';
import { defaultConnectAddress, refuseWildcardConnectAddress } from './restapi';
import { parseHooks } from './hooks';
import { parseRecoveryConf } from './recovery-conf';
import type { Credentials, HostPort, PostgresLocalConfig } from './types';
import {
  type ParseContext,
  type YamlMap,
  join,
  optionalBool,
  optionalMap,
  optionalString,
  optionalStringList,
  optionalText,
  optionalWholeNumber,
  requiredString,
} from './values';

export interface PostgresEnvironment {
  probe: BinDirProbe;
  /** Check (or detect) bin_dir now. Off for tools such as `pgha ctl` that never run PostgreSQL. */
  requireBinDir: boolean;
  /** Home directory of the user the agent runs as: `pgpass` defaults to `<home>/pgpass`. */
  homeDir: string;
  /** Relative data_dir and pgpass paths are made absolute against this directory. */
  cwd: string;
}

/**
 * GUCs Patroni passes on the postgres command line (reference §6.3). They are taken from the dynamic config only;
 * Patroni ignores them in the local `postgresql.parameters`, and so does pgha, with a warning saying where they go.
 */
export const PROTECTED_PARAMETERS = [
  'listen_addresses', 'port', 'cluster_name', 'wal_level', 'hot_standby', 'max_connections', 'max_wal_senders',
  'wal_keep_segments', 'wal_keep_size', 'max_prepared_transactions', 'max_locks_per_transaction',
  'track_commit_timestamp', 'max_replication_slots', 'max_worker_processes', 'wal_log_hints',
] as const;

const IGNORED_KEYS = ['config_dir', 'custom_conf', 'bin_name', 'pg_ident', 'use_unix_socket', 'use_unix_socket_repl',
  'proxy_address', 'rewind'];

export function parsePostgresql(doc: YamlMap, ctx: ParseContext, env: PostgresEnvironment): PostgresLocalConfig {
  const field = 'postgresql';
  const map = optionalMap(doc.postgresql, field, ctx);
  if (!map) throw new ConfigError(field, 'is missing', 'add a postgresql: section with listen, data_dir and authentication');
  const replicaMethods = parseReplicaMethods(map, ctx);
  checkSectionKeys(map, field, POSTGRESQL_KEYS, ctx, replicaMethods.map((m) => m.name));
  const hooks = parseHooks(map, ctx);

  if (map.listen === undefined || map.listen === null) {
    throw new ConfigError('postgresql.listen', 'is missing', 'set it to addr:port, e.g. listen: 127.0.0.1:5432 (or PATRONI_POSTGRESQL_LISTEN)');
  }
  const listen = parseListenList(map.listen, 'postgresql.listen', { example: '127.0.0.1:5432' }, ctx);
  const connectAddress = parseConnectAddress(map, listen, ctx);
  const dataDir = absolute(requiredString(map, 'data_dir', field, ctx, '/var/lib/postgresql/15/main'), env.cwd);
  const configuredBinDir = optionalString(map, 'bin_dir', field, ctx);
  const binDir = env.requireBinDir ? resolveBinDir(configuredBinDir, env.probe) : (configuredBinDir ?? '');
  const pgpass = absolute(optionalString(map, 'pgpass', field, ctx) || joinPath(env.homeDir, 'pgpass'), env.cwd);
  const { authentication, legacyRewind } = parseAuthentication(map, ctx);
  const usePgRewind = optionalBool(map, 'use_pg_rewind', field, ctx) ?? (legacyRewind ? true : undefined);
  const pgHba = optionalStringList(map, 'pg_hba', field, ctx);
  const pgCtlTimeoutSeconds = optionalWholeNumber(map, 'pg_ctl_timeout', field, 'seconds', ctx) ?? 60;
  if (pgCtlTimeoutSeconds < 1) throw new ConfigError('postgresql.pg_ctl_timeout', `got ${pgCtlTimeoutSeconds}, which is below the minimum of 1 second`, 'set it to 1 or more (default 60)');

  const config: PostgresLocalConfig = {
    listen,
    connectAddress,
    dataDir,
    binDir,
    pgpass,
    database: optionalString(map, 'database', field, ctx) ?? 'postgres',
    authentication,
    parameters: localParameters(map.parameters, ctx),
    removeDataDirectoryOnRewindFailure: optionalBool(map, 'remove_data_directory_on_rewind_failure', field, ctx) ?? false,
    removeDataDirectoryOnDivergedTimelines: optionalBool(map, 'remove_data_directory_on_diverged_timelines', field, ctx) ?? false,
    pgCtlTimeoutSeconds,
    basebackupArgs: renderBasebackupArgs(map.basebackup),
    replicaMethods,
  };
  if (pgHba) config.pgHba = pgHba;
  const recoveryConf = parseRecoveryConf(map.recovery_conf, 'postgresql.recovery_conf', ctx);
  if (recoveryConf) config.recoveryConf = recoveryConf;
  if (Object.keys(hooks).length) config.hooks = hooks;
  if (usePgRewind !== undefined) config.usePgRewind = usePgRewind;
  const sockets = String(config.parameters.unix_socket_directories ?? '').split(',').map((d) => d.trim());
  if (sockets.some((d) => d === '.' || d === dataDir)) {
    ctx.warnings.push(
      'postgresql.parameters.unix_socket_directories puts the socket in the data directory: pg_rewind cannot copy a ' +
      'data directory that holds a socket, so a returning primary is re-cloned instead of rewound; use a directory ' +
      'outside the data directory, e.g. /var/run/postgresql',
    );
  }
  if (map.use_slots !== undefined) {
    ctx.warnings.push('postgresql.use_slots is ignored in the local file (as in Patroni): set it in bootstrap.dcs.postgresql or with pgha ctl edit-config');
  }
  for (const key of IGNORED_KEYS) {
    if (map[key] !== undefined) ctx.warnings.push(`postgresql.${key} is not supported by pgha; it is ignored`);
  }
  return config;
}

function absolute(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

function parseConnectAddress(map: YamlMap, listen: { hosts: string[]; port: number }, ctx: ParseContext): HostPort {
  const field = 'postgresql.connect_address';
  if (map.connect_address === undefined || map.connect_address === null) {
    const wildcard = listen.hosts.find((h) => h === '*' || h === '0.0.0.0' || h === '::');
    return defaultConnectAddress({ host: wildcard ?? listen.hosts[0] ?? '', port: listen.port }, field, 'postgresql.listen');
  }
  const address = parseHostPort(map.connect_address, field, { example: '10.0.0.1:5432' }, ctx);
  refuseWildcardConnectAddress(address, field);
  return address;
}

function localParameters(value: unknown, ctx: ParseContext): Record<string, string | number | boolean> {
  const parameters = parseParameters(value, 'postgresql.parameters');
  const protectedNames: readonly string[] = PROTECTED_PARAMETERS;
  for (const name of Object.keys(parameters)) {
    if (!protectedNames.includes(name.toLowerCase())) continue;
    delete parameters[name];
    ctx.warnings.push(
      `postgresql.parameters.${name} is ignored in the local file (as in Patroni): set it in bootstrap.dcs.postgresql.parameters or with pgha ctl edit-config`,
    );
  }
  return parameters;
}

/**
 * `postgresql.authentication.{superuser,replication,rewind}`, or the legacy form without `authentication:`
 * (`postgresql.superuser`, `postgresql.replication`, `postgresql.pg_rewind`). When both are present the
 * `authentication:` values win field by field (Patroni would drop the legacy ones entirely, so an env override
 * of one user could lose the other). A legacy `pg_rewind` user stands in for a missing superuser and turns on
 * `use_pg_rewind`, as in Patroni.
 */
function parseAuthentication(map: YamlMap, ctx: ParseContext): { authentication: PostgresLocalConfig['authentication']; legacyRewind: boolean } {
  const auth = optionalMap(map.authentication, 'postgresql.authentication', ctx) ?? {};
  const legacy = (key: string): YamlMap | undefined => optionalMap(map[key], join('postgresql', key), ctx);
  const legacyRewind = legacy('pg_rewind');
  const merged = (user: 'superuser' | 'replication' | 'rewind'): YamlMap | undefined => {
    const fromAuth = optionalMap(auth[user], join('postgresql.authentication', user), ctx);
    const fromLegacy = user === 'rewind' ? undefined : legacy(user) ?? (user === 'superuser' ? legacyRewind : undefined);
    if (!fromAuth && !fromLegacy) return undefined;
    return { ...(fromLegacy ?? {}), ...(fromAuth ?? {}) };
  };
  const superuser = requiredCredentials(merged('superuser'), 'superuser', 'postgres', ctx);
  const replication = requiredCredentials(merged('replication'), 'replication', 'replicator', ctx);
  const rewindMap = merged('rewind');
  const authentication: PostgresLocalConfig['authentication'] = { superuser, replication };
  if (rewindMap) authentication.rewind = credentials(rewindMap, 'postgresql.authentication.rewind', ctx);
  return { authentication, legacyRewind: legacyRewind !== undefined };
}

function requiredCredentials(map: YamlMap | undefined, user: string, example: string, ctx: ParseContext): Credentials {
  const field = `postgresql.authentication.${user}`;
  if (!map) {
    throw new ConfigError(field, 'is missing', `add ${field}: {username: ${example}, password: ...} (or PATRONI_${user.toUpperCase()}_USERNAME and _PASSWORD)`);
  }
  return credentials(map, field, ctx);
}

function credentials(map: YamlMap, field: string, ctx: ParseContext): Credentials {
  const username = optionalText(map, 'username', field, ctx);
  if (username === undefined || username === '') {
    throw new ConfigError(join(field, 'username'), 'is missing', `set ${join(field, 'username')}`);
  }
  const result: Credentials = { username };
  const password = optionalText(map, 'password', field, ctx);
  if (password !== undefined) result.password = password;
  const libpq: Record<string, string> = {};
  for (const key of AUTH_PARAMETERS) {
    if (key === 'username' || key === 'password') continue;
    const value = optionalText(map, key, field, ctx);
    if (value !== undefined) libpq[key] = value;
  }
  if (Object.keys(libpq).length > 0) result.libpq = libpq;
  return result;
}
