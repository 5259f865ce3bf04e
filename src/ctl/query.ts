/**
 * `pgha ctl query` and `pgha ctl dsn` (patronictl 3.0.2 `query`, `dsn`): pick a member by role or name from the
 * cluster in etcd, then print its `host=… port=…`, or run SQL on it and print the result as patronictl does
 * (tsv by default, with `--delimiter`; pretty, json, yaml). As in patronictl:
 * - the member comes from its `conn_url`; user, password and database are libpq's defaults (PGUSER, PGPASSWORD,
 *   the pgpass file, the user name as database) unless `-U`, `--password` (a prompt) or `-d` say otherwise;
 * - a role other than leader/any is checked on the server (`pg_is_in_recovery()`), not trusted from etcd;
 * - a failed query or connection is a row `<timestamp> ERROR, SQLSTATE: <code or message>` and exit code 0; a
 *   statement with no result set (DDL, DML) prints `ERROR, SQLSTATE: no results to fetch` (psycopg's fetchall), but
 *   its effect stays (autocommit);
 * - `-W`/`-w N` repeats the query on the same connection, reconnecting after an error.
 * Deviation: json and yaml output of an error row, which patronictl cannot render (it fails with a Python
 * traceback), is printed as `Error: <message>` with exit code 1.
 */
import type { ClusterView } from '../model/cluster';
import type { Member } from '../model/member';
import { hostPortFromConnUrl, isPrimaryRole } from '../model/member';
import { pythonJson, pythonStr } from '../lib/python-format';
import type { MemberRole } from './args';
import { formatYaml } from './history';
import { prettyTable } from './list';
import { membersWithRole } from './members';
import { CtlError, readView, timestamp, type CtlSession } from './session';

export type QueryFormat = 'tsv' | 'pretty' | 'json' | 'yaml';

/** Where and how to connect: patronictl's conn_kwargs plus the -U/-d/--password parameters. */
export interface ConnectTarget {
  host: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
}

export interface SqlResult {
  columns: string[];
  /** Values as psycopg hands them to Python: numbers, booleans, null, parsed JSON, text. */
  rows: unknown[][];
}

/** One open connection (autocommit). `run` resolves undefined for a statement without a result set. */
export interface SqlConnection {
  run(sql: string): Promise<SqlResult | undefined>;
  close(): Promise<void>;
}

/** Opening connections; failures reject with an Error whose `code` is the SQLSTATE when the server sent one. */
export type SqlConnector = (target: ConnectTarget) => Promise<SqlConnection>;

export interface QueryOptions {
  role?: MemberRole;
  member?: string;
  command?: string;
  /** SQL read from a file (-f), already loaded by the CLI. */
  fileText?: string;
  format: QueryFormat;
  delimiter: string;
  username?: string;
  /** `--password`: ask for it. */
  askPassword: boolean;
  dbname?: string;
  refreshSeconds: number;
  /** Stops the refresh loop (tests). */
  rounds?: number;
}

export function queryFormat(value: string | undefined): QueryFormat {
  const f = value ?? 'tsv';
  if (f === 'yml') return 'yaml';
  if (f === 'tsv' || f === 'pretty' || f === 'json' || f === 'yaml') return f;
  throw new CtlError(`--format ${f}: expected pretty, tsv, json or yaml`);
}

/** patronictl's option rules: --member means role any; neither means the leader. */
export function targetRole(role: MemberRole | undefined, member: string | undefined): MemberRole {
  if (member !== undefined) {
    if (role !== undefined) throw new CtlError('--role and --member are mutually exclusive options');
    return 'any';
  }
  return role ?? 'leader';
}

/** get_any_member: the first member with the role (and the name, when given). Pure. */
export function pickMember(view: ClusterView, role: MemberRole, name: string | undefined): Member | undefined {
  return membersWithRole(view, role).find((m) => name === undefined || m.name === name);
}

/** `dsn`: `host=H port=P` of the chosen member (the leader by default). */
export async function runDsn(s: CtlSession, o: { role?: MemberRole; member?: string }): Promise<number> {
  const role = targetRole(o.role, o.member);
  const m = pickMember(await readView(s), role, o.member);
  const hp = hostPortFromConnUrl(m?.doc.conn_url);
  if (!m || hp.host === undefined) throw new CtlError('Can not find a suitable member');
  s.io.out(`host=${hp.host} port=${hp.port ?? 5432}`);
  return 0;
}

/** patronictl's print_output for a query: no title, every column left-aligned; without columns, rows alone. */
export function renderQueryOutput(columns: string[] | undefined, rows: unknown[][], format: QueryFormat, delimiter: string): string {
  if (format === 'json' || format === 'yaml') {
    if (!columns) throw new CtlError(rows.map((r) => r.map(pythonStr).join(' ')).join('\n'));
    const objects = rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])));
    // click.echo adds a newline after the YAML's own.
    return format === 'json' ? `${pythonJson(objects)}\n` : `${formatYaml(objects)}\n`;
  }
  if (format === 'tsv') return [...(columns ? [columns] : []), ...rows].map((r) => `${r.map(pythonStr).join(delimiter)}\n`).join('');
  const names = columns ?? (rows[0] ?? []).map((_, i) => `Field ${i + 1}`);
  return `${prettyTable('', names, rows, new Set())}\n`;
}

/** `query`: runs the SQL on the chosen member, once or every refresh. */
export async function runQuery(s: CtlSession, o: QueryOptions, connect: SqlConnector): Promise<number> {
  const role = targetRole(o.role, o.member);
  if (o.fileText !== undefined && o.command !== undefined) throw new CtlError('--file and --command are mutually exclusive options');
  const sql = o.command ?? o.fileText;
  if (sql === undefined) throw new CtlError('You need to specify either --command or --file');
  const password = o.askPassword ? await s.io.prompter.ask('Password', { piped: true }) : undefined;
  const extra = {
    ...(o.username !== undefined ? { user: o.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(o.dbname !== undefined ? { database: o.dbname } : {}),
  };
  let conn: SqlConnection | undefined;
  const errorRow = (message: string): { columns: undefined; rows: unknown[][] } =>
    ({ columns: undefined, rows: [[timestamp(s.io.now(), 0), message]] });
  const once = async (): Promise<{ columns: string[] | undefined; rows: unknown[][] }> => {
    try {
      conn ??= await openFor(await readView(s), role, o.member, extra, connect);
      if (!conn) {
        return errorRow(o.member !== undefined ? `No connection to member ${o.member} is available` : `No connection to role=${role} is available`);
      }
      const result = await conn.run(sql);
      if (!result) return errorRow('ERROR, SQLSTATE: no results to fetch');
      return result;
    } catch (err) {
      await conn?.close().catch(() => undefined);
      conn = undefined;
      const e = err as { code?: unknown; message?: unknown };
      const what = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : String(e.message ?? err);
      return errorRow(`ERROR, SQLSTATE: ${what.replace(/\n/g, ' ')}`);
    }
  };
  try {
    for (let round = 1; ; round++) {
      const { columns, rows } = await once();
      s.io.write(renderQueryOutput(columns, rows, o.format, o.delimiter));
      if (!o.refreshSeconds || (o.rounds !== undefined && round >= o.rounds)) return 0;
      await s.io.sleep(o.refreshSeconds * 1000);
    }
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

/** get_cursor: connect to the member, and for a role other than leader/any check it on the server. */
async function openFor(
  view: ClusterView, role: MemberRole, name: string | undefined, extra: Omit<ConnectTarget, 'host' | 'port'>, connect: SqlConnector,
): Promise<SqlConnection | undefined> {
  const m = pickMember(view, role, name);
  const hp = hostPortFromConnUrl(m?.doc.conn_url);
  if (!m || hp.host === undefined) return undefined;
  const conn = await connect({ host: hp.host, port: hp.port ?? 5432, ...extra });
  if (role === 'any' || role === 'leader') return conn;
  const r = await conn.run('SELECT pg_catalog.pg_is_in_recovery()');
  const inRecovery = r?.rows[0]?.[0] === true;
  const fits = inRecovery ? ['replica', 'standby', 'standby-leader'].includes(role) : isPrimaryRole(role);
  if (fits) return conn;
  await conn.close();
  return undefined;
}
