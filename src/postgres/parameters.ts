/**
 * The effective GUC set of a member: dynamic parameters (the `config` key), then local ones (local wins key
 * by key), then Patroni's protected command-line GUCs (reference §6.3). Pure: no I/O.
 *
 * Protected GUCs are the ones Patroni passes on the postmaster's command line, so they beat `ALTER SYSTEM`.
 * Like Patroni, they are taken from the dynamic config only (all nodes must agree on them: a replica with
 * fewer max_connections than its primary refuses to start), validated against a minimum, and replaced by
 * the default when invalid. Local values for them are ignored; each such decision is returned as a note
 * so the caller can log it.
 */

export type GucValue = string | number | boolean;
export type GucMap = Record<string, GucValue>;

/** Why a value did not go through unchanged: for logs, never thrown. */
export interface ParameterNote {
  name: string;
  kind: 'ignored-local-protected' | 'invalid-using-default' | 'converted' | 'unknown-dropped' | 'breaks-pg-rewind';
  given?: string;
  used?: string;
}

export interface EffectiveParameters {
  /** Every parameter to write into postgresql.conf, names lower-cased, values rendered as PostgreSQL text. */
  parameters: Record<string, string>;
  /** The protected subset, to pass on the postmaster command line (`-c name=value`). */
  commandLine: Record<string, string>;
  notes: ParameterNote[];
}

export interface ServerContext {
  /** `listen_addresses` (comma-separated, from `postgresql.listen`). */
  listenAddresses: string;
  port: number;
  /** `scope`: becomes cluster_name. */
  scope: string;
  /**
   * Parameter names the server knows (from `postgres --describe-config`, see bin.ts). When given, unknown
   * names without a `.` (extension placeholders) are dropped with a note instead of failing the start.
   */
  knownParameters?: ReadonlySet<string>;
  /** The data dir, to spot absolute socket directories inside it (relative ones always are). */
  dataDir?: string;
}

interface IntRule {
  kind: 'int';
  default: number;
  min: number;
}
interface FixedRule {
  kind: 'fixed';
  value: string;
}
interface BoolRule {
  kind: 'bool';
  default: 'on' | 'off';
}

/** Patroni's CMDLINE_OPTIONS for PG13+ (defaults and minimums of postgresql/config.py). */
const INT_RULES: Record<string, IntRule> = {
  max_connections: { kind: 'int', default: 100, min: 25 },
  max_wal_senders: { kind: 'int', default: 10, min: 3 },
  max_replication_slots: { kind: 'int', default: 10, min: 4 },
  max_worker_processes: { kind: 'int', default: 8, min: 2 },
  max_locks_per_transaction: { kind: 'int', default: 64, min: 32 },
  max_prepared_transactions: { kind: 'int', default: 0, min: 0 },
};
const BOOL_RULES: Record<string, BoolRule | FixedRule> = {
  hot_standby: { kind: 'fixed', value: 'on' },
  wal_log_hints: { kind: 'bool', default: 'on' },
  track_commit_timestamp: { kind: 'bool', default: 'off' },
};
const WAL_LEVELS = new Set(['hot_standby', 'replica', 'logical']);
const DEFAULT_WAL_KEEP_SEGMENTS = 8;
const WAL_SEGMENT_MB = 16;
const MIN_WAL_KEEP_SIZE_MB = 16;

/** Every name Patroni treats as protected: set from dynamic config or context, never from local parameters. */
export const PROTECTED_PARAMETERS: ReadonlySet<string> = new Set([
  ...Object.keys(INT_RULES),
  ...Object.keys(BOOL_RULES),
  'wal_level',
  'wal_keep_size',
  'wal_keep_segments',
  'listen_addresses',
  'port',
  'cluster_name',
]);

/** Renders a YAML/JSON scalar the way PostgreSQL reads it: booleans as on/off. */
export function gucText(value: GucValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value);
}

function lowerKeys(map: GucMap): Map<string, GucValue> {
  const out = new Map<string, GucValue>();
  for (const [k, v] of Object.entries(map)) out.set(k.toLowerCase(), v);
  return out;
}

function parseIntStrict(value: GucValue | undefined): number | undefined {
  if (value === undefined || typeof value === 'boolean') return undefined;
  const text = String(value).trim();
  return /^-?\d+$/.test(text) ? Number(text) : undefined;
}

/** Parses a size in MB as PostgreSQL would for wal_keep_size (base unit MB): `128`, `128MB`, `1GB`, `1024kB`. */
export function parseSizeMb(value: GucValue | undefined): number | undefined {
  if (value === undefined || typeof value === 'boolean') return undefined;
  const m = /^\s*(\d+)\s*(kB|MB|GB|TB)?\s*$/.exec(String(value));
  if (!m) return undefined;
  const factor = { kB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 }[m[2] ?? 'MB']!;
  return Number(m[1]) * factor;
}

function parseBool(value: GucValue | undefined): 'on' | 'off' | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  const text = String(value).trim().toLowerCase();
  if (['on', 'true', 'yes', '1', 't', 'y'].includes(text)) return 'on';
  if (['off', 'false', 'no', '0', 'f', 'n'].includes(text)) return 'off';
  return undefined;
}

/** The protected values, from the dynamic parameters only. */
function protectedValues(dynamic: Map<string, GucValue>, ctx: ServerContext, notes: ParameterNote[]): Record<string, string> {
  const out: Record<string, string> = {};
  const invalid = (name: string, given: GucValue, used: string): void => {
    notes.push({ name, kind: 'invalid-using-default', given: gucText(given), used });
  };

  for (const [name, rule] of Object.entries(INT_RULES)) {
    const given = dynamic.get(name);
    const n = parseIntStrict(given);
    const ok = n !== undefined && n >= rule.min;
    out[name] = String(ok ? n : rule.default);
    if (given !== undefined && !ok) invalid(name, given, out[name]!);
  }
  for (const [name, rule] of Object.entries(BOOL_RULES)) {
    const given = dynamic.get(name);
    if (rule.kind === 'fixed') {
      out[name] = rule.value;
      if (given !== undefined && parseBool(given) !== rule.value) invalid(name, given, rule.value);
      continue;
    }
    const b = parseBool(given);
    out[name] = b ?? rule.default;
    if (given !== undefined && b === undefined) invalid(name, given, rule.default);
  }

  const walLevel = dynamic.get('wal_level');
  const level = walLevel === undefined ? 'replica' : gucText(walLevel).trim().toLowerCase();
  // PG 9.6 merged archive/hot_standby into `replica`; PG15 refuses the old name.
  out.wal_level = WAL_LEVELS.has(level) ? (level === 'hot_standby' ? 'replica' : level) : 'replica';
  if (walLevel !== undefined && !WAL_LEVELS.has(level)) invalid('wal_level', walLevel, 'replica');
  else if (level === 'hot_standby') notes.push({ name: 'wal_level', kind: 'converted', given: 'hot_standby', used: 'replica' });

  out.wal_keep_size = walKeepSize(dynamic, notes);
  out.listen_addresses = ctx.listenAddresses;
  out.port = String(ctx.port);
  out.cluster_name = ctx.scope;
  return out;
}

/**
 * wal_keep_size for PG13+. PG13 replaced wal_keep_segments (16 MB segments) with wal_keep_size and PG15
 * refuses the old name, so a given wal_keep_segments is converted and never passed on. Minimums as Patroni:
 * 1 segment / 16 MB; an invalid value (the seed's `"0"`) falls back to the default 8 segments = 128MB.
 */
function walKeepSize(dynamic: Map<string, GucValue>, notes: ParameterNote[]): string {
  const size = dynamic.get('wal_keep_size');
  if (size !== undefined) {
    const mb = parseSizeMb(size);
    if (mb !== undefined && mb >= MIN_WAL_KEEP_SIZE_MB) return gucText(size).trim().match(/^\d+$/) ? `${mb}MB` : gucText(size).trim();
    notes.push({ name: 'wal_keep_size', kind: 'invalid-using-default', given: gucText(size), used: '128MB' });
    return `${DEFAULT_WAL_KEEP_SEGMENTS * WAL_SEGMENT_MB}MB`;
  }
  const segments = dynamic.get('wal_keep_segments');
  if (segments === undefined) return `${DEFAULT_WAL_KEEP_SEGMENTS * WAL_SEGMENT_MB}MB`;
  const n = parseIntStrict(segments);
  const used = `${(n !== undefined && n >= 1 ? n : DEFAULT_WAL_KEEP_SEGMENTS) * WAL_SEGMENT_MB}MB`;
  notes.push({
    name: 'wal_keep_segments',
    kind: n !== undefined && n >= 1 ? 'converted' : 'invalid-using-default',
    given: gucText(segments),
    used: `wal_keep_size=${used}`,
  });
  return used;
}

/** Checks that a parameter name is something postgresql.conf can hold (and so cannot inject lines). */
export function isValidParameterName(name: string): boolean {
  return /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)*$/i.test(name);
}

/**
 * True when a socket directory lies in the data dir (the seed's `'.'`). pg_rewind then fails on every rewind
 * from this server: it lists the source's data dir and tries to read the socket as a file (`could not open
 * file ".s.PGSQL.5432" for reading: No such device or address`; patroni#1456, patroni#2299).
 */
export function socketDirInsideDataDir(setting: string, dataDir?: string): boolean {
  return setting.split(',').some((raw) => {
    const entry = raw.trim().replace(/^"(.*)"$/, '$1');
    if (entry === '' || entry.startsWith('@')) return false;
    if (!entry.startsWith('/')) return true;
    if (dataDir === undefined) return false;
    const [dir, path] = [dataDir, entry].map((p) => p.replace(/\/+$/, ''));
    return path === dir || path!.startsWith(`${dir}/`);
  });
}

/**
 * Merges dynamic and local parameters into the set postgres runs with. Throws on a parameter name that
 * could not be written to postgresql.conf; everything else is decided and reported in `notes`.
 */
export function effectiveParameters(localParameters: GucMap, dynamicParameters: GucMap, ctx: ServerContext): EffectiveParameters {
  const notes: ParameterNote[] = [];
  const dynamic = lowerKeys(dynamicParameters);
  const local = lowerKeys(localParameters);
  const parameters: Record<string, string> = {};

  for (const [source, map] of [['dynamic', dynamic], ['local', local]] as const) {
    for (const [name, value] of map) {
      if (!isValidParameterName(name)) throw new Error(`postgresql.parameters: ${JSON.stringify(name)} is not a parameter name`);
      if (PROTECTED_PARAMETERS.has(name)) {
        if (source === 'local') notes.push({ name, kind: 'ignored-local-protected', given: gucText(value) });
        continue;
      }
      if (ctx.knownParameters && !name.includes('.') && !ctx.knownParameters.has(name)) {
        notes.push({ name, kind: 'unknown-dropped', given: gucText(value) });
        continue;
      }
      parameters[name] = gucText(value);
    }
  }
  const socketDirs = parameters.unix_socket_directories;
  if (socketDirs !== undefined && socketDirInsideDataDir(socketDirs, ctx.dataDir)) {
    notes.push({ name: 'unix_socket_directories', kind: 'breaks-pg-rewind', given: socketDirs });
  }
  const commandLine = protectedValues(dynamic, ctx, notes);
  return { parameters: { ...parameters, ...commandLine }, commandLine, notes };
}
