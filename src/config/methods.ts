/**
 * `postgresql.create_replica_methods` with each method's `postgresql.<method>` section, and a custom
 * `bootstrap.method` with its `bootstrap.<method>` section (reference §5, Patroni 3.0.2 bootstrap.py). The keys
 * are kept as Patroni reads them: a command method's other keys become `--key=value` arguments, in file order.
 */
import { ConfigError } from '../lib/errors';
import { shlexSplit } from '../lib/shlex';
import { parseRecoveryConf } from './recovery-conf';
import { type ParseContext, type YamlMap, join, kindOf, optionalBool, optionalMap } from './values';

/** The built-in method (pg_basebackup, with `postgresql.basebackup` options) or a command. */
export type ReplicaMethodConfig =
  | { name: 'basebackup'; builtin: true }
  | {
      name: string;
      builtin: false;
      /** `command`, or the method name when there is none (as in Patroni). */
      command: string;
      /** Leave the data directory as it is before the command (e.g. for `pgbackrest --delta restore`). */
      keepData: boolean;
      /** `no_leader` (or legacy `no_master`): the method can build a replica when the cluster has no leader. */
      noLeader: boolean;
      /** Pass none of pgha's arguments (scope, role, datadir, connstring) nor the section's other keys. */
      noParams: boolean;
      /** Every key of the section but `command`, in file order, as Python's str() writes the value. */
      options: Array<[string, string]>;
    };

export interface CustomBootstrapConfig {
  /** The `bootstrap.method` name. */
  name: string;
  command: string;
  noParams: boolean;
  keepExistingRecoveryConf: boolean;
  /** Written as the recovery settings (PG12+: postgresql.conf and recovery.signal) before the first start. */
  recoveryConf?: Record<string, string>;
}

/**
 * `create_replica_methods` (legacy: `create_replica_method`), empty or absent meaning `[basebackup]` as in Patroni.
 * Deviation (friendlier): a single method may be written as a string.
 */
export function parseReplicaMethods(map: YamlMap, ctx: ParseContext): ReplicaMethodConfig[] {
  const key = map.create_replica_methods !== undefined && map.create_replica_methods !== null && !isEmptyList(map.create_replica_methods)
    ? 'create_replica_methods' : 'create_replica_method';
  const field = join('postgresql', key);
  const raw = map[key];
  const names = raw === null || raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(names)) throw new ConfigError(field, `got ${kindOf(raw)}, expected a list of method names`, `write e.g. ${key}: [pgbackrest, basebackup]`);
  const methods = names.map((name, i): ReplicaMethodConfig => {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new ConfigError(`${field}[${i}]`, `got ${kindOf(name)}, expected a method name`, 'write basebackup or the name of a postgresql.<method> section');
    }
    return name === 'basebackup' ? { name, builtin: true } : commandMethod(map, name, ctx);
  });
  return methods.length > 0 ? methods : [{ name: 'basebackup', builtin: true }];
}

function isEmptyList(value: unknown): boolean {
  return Array.isArray(value) && value.length === 0;
}

function commandMethod(map: YamlMap, name: string, ctx: ParseContext): ReplicaMethodConfig {
  const field = join('postgresql', name);
  const section = optionalMap(map[name], field, ctx) ?? {};
  const command = section.command === undefined || section.command === null ? name : section.command;
  if (typeof command !== 'string' || command.trim() === '') {
    throw new ConfigError(join(field, 'command'), `got ${kindOf(command)}, expected the command to run`, `write ${name}: {command: "..."}`);
  }
  splitOrRefuse(command, join(field, 'command'));
  const options: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(section)) {
    if (key === 'command') continue;
    options.push([key, pythonStr(value, join(field, key))]);
  }
  const flag = (k: string): boolean => optionalBool(section, k, field, ctx) ?? false;
  return {
    name, builtin: false, command, keepData: flag('keep_data'), noLeader: flag('no_leader') || flag('no_master'), noParams: flag('no_params'), options,
  };
}

/** `bootstrap.method` other than initdb: its `bootstrap.<method>` section must give a command. */
export function parseCustomBootstrap(map: YamlMap, method: string, ctx: ParseContext): CustomBootstrapConfig {
  const field = join('bootstrap', method);
  const section = optionalMap(map[method], field, ctx);
  // Patroni silently runs initdb when the section or its command is missing; pgha says so instead.
  if (!section || typeof section.command !== 'string' || section.command.trim() === '') {
    throw new ConfigError(join(field, 'command'), 'is missing', `add bootstrap.${method}: {command: "..."} or remove bootstrap.method to use initdb`);
  }
  splitOrRefuse(section.command, join(field, 'command'));
  const config: CustomBootstrapConfig = {
    name: method,
    command: section.command,
    noParams: optionalBool(section, 'no_params', field, ctx) ?? false,
    keepExistingRecoveryConf: optionalBool(section, 'keep_existing_recovery_conf', field, ctx) ?? false,
  };
  const recovery = parseRecoveryConf(section.recovery_conf, join(field, 'recovery_conf'), ctx);
  if (recovery) config.recoveryConf = recovery;
  return config;
}

function splitOrRefuse(command: string, field: string): void {
  try {
    if (shlexSplit(command).length === 0) throw new Error('it is blank');
  } catch (err) {
    throw new ConfigError(field, `cannot be split into arguments: ${(err as Error).message}`, 'close the quotes in the command');
  }
}

/**
 * A value as Python's str() writes it, which is how Patroni renders `--key=value`: True/False, None, numbers.
 * Lists and maps are refused (Patroni would pass their Python repr, which no script can read reliably).
 */
function pythonStr(value: unknown, field: string): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'number' || typeof value === 'string') return String(value);
  throw new ConfigError(field, `got ${kindOf(value)}, expected a single value`, 'write one value; a script argument is --key=value');
}

/** Whether a list of methods can build a replica without a leader (Patroni's can_create_replica_without_replication_connection). */
export function canCreateReplicaWithoutLeader(methods: readonly ReplicaMethodConfig[]): boolean {
  return methods.some((m) => !m.builtin && m.noLeader);
}

