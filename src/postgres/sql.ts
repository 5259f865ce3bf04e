/**
 * Statements the agent runs: roles at bootstrap (reference §5.3), physical slots (§6.4), CHECKPOINT after
 * promote (§6.5), replay pause/resume. Identifiers and literals are quoted here, never concatenated raw.
 */
import type { Client } from 'pg';
import { ConfigError } from '../lib/errors';
import { withConnection, type PgConnection } from './connection';
import { isValidSlotName } from './names';

/** `"name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier holds a NUL byte');
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A string literal that means the same whatever standard_conforming_strings says: quotes doubled, and when
 * a backslash is present the E'' form with backslashes doubled (what PostgreSQL's quote_literal does).
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('literal holds a NUL byte');
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

/** Role attribute keywords CREATE/ALTER ROLE accept without an argument. */
const ROLE_FLAGS = new Set([
  'SUPERUSER', 'NOSUPERUSER', 'CREATEDB', 'NOCREATEDB', 'CREATEROLE', 'NOCREATEROLE', 'INHERIT', 'NOINHERIT',
  'LOGIN', 'NOLOGIN', 'REPLICATION', 'NOREPLICATION', 'BYPASSRLS', 'NOBYPASSRLS',
]);

/**
 * Patroni's option handling: upper-case each, add LOGIN unless NOLOGIN/LOGIN is given. Unlike Patroni, an
 * option is checked against the attribute keywords (plus `CONNECTION LIMIT n`) instead of being pasted in.
 */
export function roleOptions(options: readonly string[], field = 'bootstrap.users'): string[] {
  const out: string[] = [];
  for (const raw of options) {
    const option = raw.trim().toUpperCase().replace(/\s+/g, ' ');
    if (!ROLE_FLAGS.has(option) && !/^CONNECTION LIMIT -?\d+$/.test(option)) {
      throw new ConfigError(field, `unknown role option ${JSON.stringify(raw)}`, `use role attributes such as ${[...ROLE_FLAGS].slice(0, 6).join(', ')}`);
    }
    out.push(option);
  }
  if (!out.includes('LOGIN') && !out.includes('NOLOGIN')) out.push('LOGIN');
  return out;
}

/** Picks a dollar-quote tag that the body does not contain. */
function dollarQuote(body: string): string {
  let tag = '$pgha$';
  for (let i = 0; body.includes(tag); i++) tag = `$pgha${i}$`;
  return `${tag}${body}${tag}`;
}

/** The DO block Patroni runs: ALTER ROLE when it exists, else CREATE ROLE. Exported for unit tests. */
export function createOrAlterRoleSql(name: string, password: string | undefined, options: readonly string[]): string {
  const attributes = [...options];
  if (password !== undefined && password !== '') attributes.push('PASSWORD', quoteLiteral(password));
  const clause = `${quoteIdent(name)} WITH ${attributes.join(' ')}`;
  const body = `
BEGIN
  PERFORM 1 FROM pg_catalog.pg_authid WHERE rolname = ${quoteLiteral(name)};
  IF FOUND THEN
    ALTER ROLE ${clause};
  ELSE
    CREATE ROLE ${clause};
  END IF;
END;`;
  return `DO ${dollarQuote(body)}`;
}

/**
 * Settings that keep a statement holding a password out of the server log and stats, set before that
 * statement is sent: log_statement is checked when a query string arrives, so it cannot be set in the
 * same string. synchronous_commit=local keeps bootstrap from waiting on standbys that do not exist yet.
 */
const QUIET_SETTINGS = [
  'SET LOCAL synchronous_commit = local',
  'SET LOCAL log_statement = none',
  'SET LOCAL log_min_duration_statement = -1',
  'SET LOCAL log_min_error_statement = panic',
  'SET LOCAL pg_stat_statements.track_utility = off',
  'SET LOCAL pgaudit.log = none',
];

/** Runs statements in one transaction with statement logging suppressed. */
async function runQuietly(client: Client, statements: readonly string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(QUIET_SETTINGS.join('; '));
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface RoleSpec {
  name: string;
  password?: string;
  options: readonly string[];
}

/** Creates or alters roles, then runs `after` (grants), quietly, in one transaction. Options are already validated. */
export async function createOrAlterRoles(conn: PgConnection, roles: readonly RoleSpec[], after: readonly string[] = []): Promise<void> {
  if (roles.length === 0) return;
  const statements = [...roles.map((r) => createOrAlterRoleSql(r.name, r.password, r.options)), ...after];
  await withConnection(conn, (client) => runQuietly(client, statements), `creating roles ${roles.map((r) => r.name).join(', ')}`);
}

/** post_bootstrap step 1: the superuser (SUPERUSER LOGIN, password). */
export function superuserRole(credentials: { username: string; password?: string }): RoleSpec {
  return { name: credentials.username, password: credentials.password, options: ['SUPERUSER', 'LOGIN'] };
}

/** post_bootstrap step 3: the replication role (REPLICATION LOGIN). */
export function replicationRole(credentials: { username: string; password?: string }): RoleSpec {
  return { name: credentials.username, password: credentials.password, options: ['REPLICATION', 'LOGIN'] };
}

/**
 * post_bootstrap step 4: `bootstrap.users` (Patroni ≤ 3.x). Entries named like one of `skip` (the superuser,
 * replication and rewind users) are left out, as Patroni does.
 */
export function bootstrapUserRoles(
  users: Record<string, { password?: string; options: readonly string[] }>,
  skip: readonly string[],
): RoleSpec[] {
  return Object.entries(users)
    .filter(([name]) => !skip.includes(name))
    .map(([name, spec]) => ({ name, password: spec.password, options: roleOptions(spec.options, `bootstrap.users.${name}.options`) }));
}

/**
 * Creates the missing physical slots, reserving WAL at once (so a replica cloned before it first connects
 * finds its WAL kept). Returns the names it created.
 */
export async function ensurePhysicalSlots(conn: PgConnection, names: readonly string[]): Promise<string[]> {
  for (const name of names) if (!isValidSlotName(name)) throw new Error(`not a valid slot name: ${JSON.stringify(name)}`);
  if (names.length === 0) return [];
  const rows = await withConnection(
    conn,
    async (client) =>
      (
        await client.query<{ slot_name: string }>(
          `SELECT (pg_catalog.pg_create_physical_replication_slot(n, true)).slot_name
             FROM pg_catalog.unnest($1::text[]) AS n
            WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = n)`,
          [names],
        )
      ).rows,
    'creating replication slots',
  );
  return rows.map((r) => r.slot_name);
}

/**
 * Drops the named slots that exist and are not in use. Returns what was dropped and what was busy (an
 * active slot cannot be dropped; the caller retries once its walsender has gone).
 */
export async function dropSlots(conn: PgConnection, names: readonly string[]): Promise<{ dropped: string[]; busy: string[] }> {
  if (names.length === 0) return { dropped: [], busy: [] };
  const rows = await withConnection(
    conn,
    async (client) =>
      (
        await client.query<{ slot_name: string; active: boolean }>(
          `SELECT slot_name, active,
                  CASE WHEN NOT active THEN pg_catalog.pg_drop_replication_slot(slot_name) END
             FROM pg_catalog.pg_replication_slots WHERE slot_name = ANY($1::text[])`,
          [names],
        )
      ).rows,
    'dropping replication slots',
  );
  return { dropped: rows.filter((r) => !r.active).map((r) => r.slot_name), busy: rows.filter((r) => r.active).map((r) => r.slot_name) };
}

/** CHECKPOINT, with no statement timeout (it can take as long as the dirty buffers need). */
export async function checkpoint(conn: PgConnection): Promise<void> {
  await withConnection({ ...conn, statementTimeoutMs: 0 }, (client) => client.query('CHECKPOINT'), 'checkpoint');
}

/**
 * After `synchronous_standby_names` named another standby, commits already waiting are released only by that
 * standby's next reply; one with nothing new to flush replies only every `wal_receiver_status_interval` (10 s).
 * Waits (up to `timeoutMs`) until a walsender counts as synchronous, then writes a tiny non-transactional WAL
 * record (no commit, so it waits for nobody): the standby flushes it and replies at once. False: none became
 * synchronous in time, nothing written.
 */
export async function nudgeSyncStandby(conn: PgConnection, timeoutMs: number): Promise<boolean> {
  return withConnection(conn, async (client) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_catalog.pg_stat_replication WHERE sync_state IN ('sync', 'quorum')");
      if (r.rows[0]!.n > 0) break;
      if (Date.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await client.query("SELECT pg_catalog.pg_logical_emit_message(false, 'pgha', 'synchronous standby changed')");
    return true;
  }, 'nudging the synchronous standby');
}

/** Pauses WAL replay on a replica (tests, maintenance). */
export async function pauseReplay(conn: PgConnection): Promise<void> {
  await withConnection(conn, (client) => client.query('SELECT pg_catalog.pg_wal_replay_pause()'), 'pausing replay');
}

export async function resumeReplay(conn: PgConnection): Promise<void> {
  await withConnection(conn, (client) => client.query('SELECT pg_catalog.pg_wal_replay_resume()'), 'resuming replay');
}

/** One line of a timeline history file: the parent timeline, where it was left (LSN), and why. */
export type TimelineHistoryLine = [number, number, string];

/** pg_wal/<timeline>.history as PostgreSQL names it (`%08X.history`). */
export function timelineHistoryFile(timeline: number): string {
  return `pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** Parses a timeline history file (`<parent tli>\t<X/Y>\t<reason>` lines; blank lines and `#` comments skipped). */
export function parseTimelineHistory(text: string): TimelineHistoryLine[] {
  const out: TimelineHistoryLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push([Number(m[1]), parseInt(m[2]!, 16) * 2 ** 32 + parseInt(m[3]!, 16), m[4]!.trim()]);
  }
  return out;
}

/**
 * The history of `timeline` on this server (Patroni's get_history): every timeline switch that led to it. Read with
 * pg_read_file, so a superuser connection; timeline 1 has none.
 */
export async function timelineHistory(conn: PgConnection, timeline: number): Promise<TimelineHistoryLine[]> {
  if (timeline <= 1) return [];
  const file = timelineHistoryFile(timeline);
  const r = await withConnection(conn, (client) => client.query<{ content: string }>('SELECT pg_catalog.pg_read_file($1) AS content', [file]), 'reading timeline history');
  return parseTimelineHistory(r.rows[0]?.content ?? '');
}

/**
 * The newest timeline history file in this server's pg_wal that it holds WAL segments for, parsed: on a replica it
 * leads to the timeline it replays (the one a non-streaming replica's checkpoint timeline may still lag behind).
 * A history file alone proves nothing: a replica past a fork point fetches the new timeline's history from the new
 * leader but cannot switch to it ("new timeline forked off … before current recovery point"), and gets no segment of
 * it. Undefined: none (timeline 1).
 */
export async function newestTimelineHistory(conn: PgConnection): Promise<{ timeline: number; lines: TimelineHistoryLine[] } | undefined> {
  const r = await withConnection(conn, (client) => client.query<{ name: string; content: string }>(
    "WITH seg AS (SELECT max(substr(name, 1, 8)) AS tli FROM pg_catalog.pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$') " +
    "SELECT name, pg_catalog.pg_read_file('pg_wal/' || name) AS content FROM pg_catalog.pg_ls_waldir(), seg " +
    "WHERE name ~ '^[0-9A-F]{8}\\.history$' AND substr(name, 1, 8) <= seg.tli ORDER BY name DESC LIMIT 1"), 'reading the newest timeline history');
  const row = r.rows[0];
  return row ? { timeline: parseInt(row.name.slice(0, 8), 16), lines: parseTimelineHistory(row.content) } : undefined;
}

/** Whether the server at `conn` answers as a primary (Patroni's check_leader_is_not_in_recovery before a rewind). */
export async function answersAsPrimary(conn: PgConnection): Promise<boolean> {
  const r = await withConnection(conn, (client) => client.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r'), 'asking the leader');
  return r.rows[0]?.r === false;
}
