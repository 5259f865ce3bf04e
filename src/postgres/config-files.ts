/**
 * Renderers for the files pgha owns in the data directory (reference §6.3): postgresql.conf with its
 * `# recovery.conf` section, and pg_hba.conf. Pure: strings in, strings out; writing them is data-dir.ts.
 */
import { isValidSlotName } from './names';
import { isValidParameterName, gucText, type GucValue } from './parameters';

export { effectiveParameters, type EffectiveParameters, type ServerContext, type ParameterNote } from './parameters';

/** The file the original postgresql.conf is renamed to, and included from the one pgha writes. */
export const BASE_CONF = 'postgresql.base.conf';

/**
 * Quotes a value as a postgresql.conf string literal. The conf lexer reads `''` as a quote and a backslash as
 * an escape (`\\`, `\n`, ...), so both are escaped; newlines would end the line and are written as `\n`.
 */
export function quoteConfValue(value: GucValue): string {
  const text = gucText(value)
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "''")
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
  return `'${text}'`;
}

function confLine(name: string, value: GucValue): string {
  if (!isValidParameterName(name)) throw new Error(`not a parameter name: ${JSON.stringify(name)}`);
  return `${name} = ${quoteConfValue(value)}\n`;
}

/** Patroni writes these two after the sorted parameters. */
const WRITTEN_LAST = ['hba_file', 'ident_file'];

export interface PostgresqlConfOptions {
  /** File included first; null to include nothing. Default `postgresql.base.conf`. */
  include?: string | null;
  /** The `# recovery.conf` section (renderRecoverySettings), for a replica. */
  recovery?: string;
}

/**
 * postgresql.conf as Patroni writes it: `include 'postgresql.base.conf'`, then every effective parameter in
 * sorted order (all values quoted, which PostgreSQL accepts for every type), hba_file/ident_file last, then
 * the recovery section.
 */
export function renderPostgresqlConf(parameters: Record<string, GucValue>, options: PostgresqlConfOptions = {}): string {
  const include = options.include === undefined ? BASE_CONF : options.include;
  let out = include === null ? '' : `include ${quoteConfValue(include)}\n`;
  out += '# Written by pgha, and rewritten whenever the configuration changes: do not edit.\n';
  out += '# Change parameters in the dynamic configuration (pgha ctl edit-config) or postgresql.parameters.\n\n';
  const names = Object.keys(parameters).sort();
  for (const name of names) if (!WRITTEN_LAST.includes(name)) out += confLine(name, parameters[name]!);
  for (const name of WRITTEN_LAST) if (parameters[name] !== undefined) out += confLine(name, parameters[name]!);
  if (options.recovery) out += `\n${options.recovery}`;
  return out;
}

/** Names owned by the recovery section: never taken from user `recovery_conf`, removed from postgresql.auto.conf. */
export const RECOVERY_PARAMETERS: ReadonlySet<string> = new Set([
  'primary_conninfo', 'primary_slot_name', 'recovery_target', 'recovery_target_lsn', 'recovery_target_name',
  'recovery_target_time', 'recovery_target_xid', 'recovery_target_timeline', 'recovery_target_inclusive',
  'recovery_target_action', 'restore_command', 'archive_cleanup_command', 'recovery_end_command',
  'recovery_min_apply_delay', 'promote_trigger_file', 'standby_mode',
]);

export interface RecoverySettings {
  /** libpq string from primaryConninfo(); absent for an archive-only replica (`nostream`). */
  primaryConninfo?: string;
  /** Usually slotNameFromMemberName(own name); absent when slots are off. */
  primarySlotName?: string;
  /** Default `latest`, so a replica follows a promoted primary onto its new timeline. */
  recoveryTargetTimeline?: string;
  /** `postgresql.recovery_conf` (restore_command, recovery_min_apply_delay, ...). */
  extra?: Record<string, GucValue>;
}

/**
 * The `# recovery.conf` section appended to postgresql.conf on PG12+ (the standby itself is requested by
 * standby.signal), as Patroni 3.0.2 builds it (config.py build_recovery_params): the user's `recovery_conf`
 * (restore_command, archive_cleanup_command, recovery_min_apply_delay, ...) but its recovery_target*,
 * primary_conninfo and primary_slot_name, which pgha sets itself. All recovery_target* are set empty so targets
 * inherited from a backup cannot stop replay.
 */
export function renderRecoverySettings(settings: RecoverySettings): string {
  const values: Record<string, GucValue> = {};
  for (const [name, value] of Object.entries(settings.extra ?? {})) {
    const key = name.toLowerCase();
    if (key.startsWith('recovery_target') || key === 'primary_conninfo' || key === 'primary_slot_name') continue;
    // PG12+ has no standby_mode (standby.signal says it; a replica is always a standby) and no trigger_file.
    if (key === 'standby_mode') continue;
    if (key === 'trigger_file') {
      if (!Object.keys(settings.extra ?? {}).some((n) => n.toLowerCase() === 'promote_trigger_file')) values.promote_trigger_file = value;
      continue;
    }
    values[key] = value;
  }
  for (const target of ['', '_lsn', '_name', '_time', '_xid']) values[`recovery_target${target}`] = '';
  values.recovery_target_timeline = settings.recoveryTargetTimeline ?? 'latest';
  if (settings.primaryConninfo !== undefined) values.primary_conninfo = settings.primaryConninfo;
  if (settings.primarySlotName !== undefined) {
    if (!isValidSlotName(settings.primarySlotName)) {
      throw new Error(`primary_slot_name ${JSON.stringify(settings.primarySlotName)} is not a valid slot name`);
    }
    values.primary_slot_name = settings.primarySlotName;
  }
  let out = '# recovery.conf\n';
  for (const name of Object.keys(values).sort()) out += confLine(name, values[name]!);
  return out;
}

/** pg_hba keywords that a role name must not be mistaken for. */
const HBA_KEYWORDS = new Set(['all', 'sameuser', 'samerole', 'samegroup', 'replication']);

/** Quotes a role name for pg_hba.conf when it is not a plain lower-case identifier or is a keyword. */
export function hbaRole(name: string): string {
  if (/["\r\n]/.test(name) || name === '') throw new Error(`role name ${JSON.stringify(name)} cannot be written to pg_hba.conf`);
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !HBA_KEYWORDS.has(name) ? name : `"${name}"`;
}

export interface PgHbaInput {
  /** `postgresql.pg_hba`, else `bootstrap.pg_hba` (+ dynamic pg_hba), verbatim. */
  userLines: readonly string[];
  superuser: { username: string; password?: string };
  replication: { username: string };
  rewind?: { username: string };
  /**
   * Networks (CIDR) the other members connect from, for streaming, pg_basebackup and pg_rewind. Default:
   * none beyond loopback, because the user's lines normally say this (the seed's `host replication rep ...`).
   */
  memberNetworks?: readonly string[];
}

/** Loopback in both families: where the agent and co-located replicas connect from. */
const LOOPBACK = ['127.0.0.1/32', '::1/128'];

/**
 * pg_hba.conf: the access pgha itself needs, first (pg_hba is first-match), then the user's lines.
 *
 * Choices:
 * - Nothing is `trust`: the agent logs in as the superuser WITH its password (given to the driver; tools get
 *   it from the pgpass file), over the unix socket (`local`) or loopback TCP, whichever the local connection
 *   uses (see local-connection.ts). Without a superuser password the socket falls back to `peer`, which
 *   needs the agent's OS user to carry the superuser's name (the usual `postgres`/`postgres`).
 * - The method is `md5`, not `scram-sha-256`: on PG10+ an `md5` line authenticates with SCRAM whenever the
 *   stored password is a SCRAM secret (the PG14+ default password_encryption), and still accepts roles whose
 *   password was stored as md5, e.g. when password_encryption=md5 was configured. A scram line would lock
 *   those roles out. The seed's own lines are md5 too.
 * - Replication is allowed from loopback for the replication user, so members on one host (tests, demos)
 *   replicate with any user lines; remote members are the user's lines' job, or `memberNetworks`.
 */
export function renderPgHba(input: PgHbaInput): string {
  const su = hbaRole(input.superuser.username);
  const rep = hbaRole(input.replication.username);
  const rewinder = hbaRole((input.rewind ?? input.superuser).username);
  const method = 'md5';
  const lines: string[] = [
    '# Written by pgha. First match wins: pgha\'s own access comes first, then the configured lines.',
    '# TYPE  DATABASE     USER                     ADDRESS           METHOD',
    '# The agent: superuser over the unix socket and loopback, with its password.',
    row('local', 'all', su, '', input.superuser.password ? method : 'peer'),
    ...LOOPBACK.map((net) => row('host', 'all', su, net, method)),
    '# Streaming replication and pg_basebackup from members on this host.',
    row('local', 'replication', rep, '', method),
    ...LOOPBACK.map((net) => row('host', 'replication', rep, net, method)),
  ];
  if (input.rewind && input.rewind.username !== input.superuser.username) {
    lines.push('# pg_rewind from members on this host.', ...LOOPBACK.map((net) => row('host', 'all', rewinder, net, method)));
  }
  if (input.memberNetworks?.length) {
    lines.push('# Other members: streaming, pg_basebackup and pg_rewind.');
    for (const net of input.memberNetworks) {
      lines.push(row('host', 'replication', rep, net, method), row('host', 'all', rewinder, net, method));
    }
  }
  lines.push('# Configured lines (postgresql.pg_hba / bootstrap.pg_hba).');
  for (const line of input.userLines) {
    if (/[\r\n]/.test(line)) throw new Error(`pg_hba line holds a line break: ${JSON.stringify(line)}`);
    lines.push(line.trim());
  }
  return `${lines.join('\n')}\n`;
}

function row(type: string, database: string, user: string, address: string, method: string): string {
  return `${type.padEnd(7)} ${database.padEnd(12)} ${user.padEnd(24)} ${address.padEnd(17)} ${method}`.replace(/ +$/, '');
}
