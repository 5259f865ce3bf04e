/**
 * Pure parts of replica creation and custom bootstrap (Patroni 3.0.2 bootstrap.py: create_replica,
 * _custom_bootstrap, call_post_bootstrap): which methods to try, and the exact command lines Patroni runs.
 */
import type { CustomBootstrapConfig, ReplicaMethodConfig } from '../config/methods';
import { shlexSplit } from '../lib/shlex';

/**
 * The methods to try, in order. Without a member to clone from only command methods marked `no_leader`
 * (or `no_master`) remain, as in Patroni: basebackup and the others need a replication connection.
 */
export function replicaMethodChain(methods: readonly ReplicaMethodConfig[] | undefined, hasSource: boolean): ReplicaMethodConfig[] {
  const all = methods && methods.length > 0 ? methods : [{ name: 'basebackup', builtin: true } as const];
  return hasSource ? [...all] : all.filter((m) => !m.builtin && m.noLeader);
}

/**
 * argv of a command method: the command split as by shlex, then `--key=value` for each key of its section but
 * `command` (in file order), then scope, role, datadir and connstring; a key the section also has keeps its place
 * and takes pgha's value (Python's dict.update). With `no_params` only the section's own keys are passed, without
 * no_params, no_master, no_leader and keep_data.
 */
export function replicaMethodArgv(
  method: Extract<ReplicaMethodConfig, { builtin: false }>,
  ctx: { scope: string; dataDir: string; connstring: string },
): string[] {
  const params = new Map(method.options);
  if (method.noParams) {
    for (const k of ['no_params', 'no_master', 'no_leader', 'keep_data']) params.delete(k);
  } else {
    params.set('scope', ctx.scope).set('role', 'replica').set('datadir', ctx.dataDir).set('connstring', ctx.connstring);
  }
  return [...shlexSplit(method.command), ...[...params].map(([k, v]) => `--${k}=${v}`)];
}

/** argv of a custom bootstrap: the command, then `--scope=` and `--datadir=` unless `no_params`. */
export function customBootstrapArgv(config: CustomBootstrapConfig, ctx: { scope: string; dataDir: string }): string[] {
  return [...shlexSplit(config.command), ...(config.noParams ? [] : [`--scope=${ctx.scope}`, `--datadir=${ctx.dataDir}`])];
}

/** argv of post_bootstrap (post_init): the command, then the superuser's connection string as its last argument. */
export function postBootstrapArgv(command: string, connstring: string): string[] {
  return [...shlexSplit(command), connstring];
}

/** The libpq keywords Patroni's format_dsn writes, in its order (password and passfile left out: PGPASSFILE has them). */
const DSN_KEYWORDS = [
  'dbname', 'user', 'host', 'port', 'sslmode', 'sslcompression', 'sslcert', 'sslkey', 'sslpassword', 'sslrootcert', 'sslcrl',
  'sslcrldir', 'application_name', 'krbsrvname', 'gssencmode', 'channel_binding', 'target_session_attrs',
] as const;

/**
 * Patroni's format_dsn(params, include_dbname=True): `key=value` in its keyword order, a backslash before each quote,
 * backslash and space. Used for `--connstring` of replica methods and the post_bootstrap argument.
 */
export function patroniDsn(params: Partial<Record<(typeof DSN_KEYWORDS)[number], string | number>>): string {
  return DSN_KEYWORDS.filter((k) => params[k] !== undefined && params[k] !== null)
    .map((k) => `${k}=${String(params[k]).replace(/(['\\ ])/g, '\\$1')}`)
    .join(' ');
}

/**
 * Recovery settings after a custom bootstrap (Patroni's write_recovery_conf on PG12+): the `recovery_conf` map
 * goes into postgresql.conf; `standby_mode: on` asks for standby.signal, anything else for recovery.signal.
 * `hotStandbyOff`: Patroni turns hot_standby off when recovery ends with a promotion (recovery_target_action
 * promote, the default when pause_at_recovery_target is false) or the tool's own recovery settings are kept:
 * a restored server whose max_connections and the like exceed this node's could not start as a hot standby.
 */
export interface RestorePlan {
  /** Written as the `# recovery.conf` section of postgresql.conf. */
  settings: Record<string, string>;
  /** The signal file to leave: none means both removed (unless keepExisting). */
  signal: 'recovery' | 'standby' | 'none';
  hotStandbyOff: boolean;
  /** keep_existing_recovery_conf: the tool's recovery settings in postgresql.auto.conf and its signal files stay. */
  keepExisting: boolean;
}

export function restoreRecoveryPlan(config: CustomBootstrapConfig): RestorePlan {
  const given = config.recoveryConf;
  const keepExisting = config.keepExistingRecoveryConf;
  if (!given) return { settings: {}, signal: 'none', hotStandbyOff: keepExisting, keepExisting };
  const settings: Record<string, string> = {};
  let standbyMode = false;
  let pauseAtTarget: boolean | undefined;
  for (const [name, value] of Object.entries(given)) {
    const key = name.toLowerCase();
    if (key === 'standby_mode') standbyMode = /^(on|true|yes|1)$/i.test(value);
    else if (key === 'pause_at_recovery_target') pauseAtTarget = /^(on|true|yes|1)$/i.test(value);
    else settings[key] = value;
  }
  // pause_at_recovery_target is gone since PG 9.5; Patroni maps false to recovery_target_action = promote.
  if (pauseAtTarget !== undefined && settings.recovery_target_action === undefined) {
    settings.recovery_target_action = pauseAtTarget ? 'pause' : 'promote';
  }
  const action = settings.recovery_target_action ?? 'pause';
  return { settings, signal: standbyMode ? 'standby' : 'recovery', hotStandbyOff: keepExisting || action === 'promote', keepExisting };
}
