/**
 * Short-lived SQL connections for the agent (node-postgres). Every connection has a connect timeout and a
 * server-side statement_timeout, so a stuck postgres costs a bounded time, never a stuck HA loop.
 */
import { Client, type QueryResultRow } from 'pg';
import { PostgresQueryError } from './errors';

export interface PgConnection {
  /** Host name, IP, or a unix-socket directory (absolute path). */
  host: string;
  port: number;
  user: string;
  /** Given to the driver directly; when absent node-postgres reads PGPASSFILE / ~/.pgpass. */
  password?: string;
  database: string;
  /** Default 5000 ms. node-postgres counts in whole seconds, so the minimum effective value is 1 s. */
  connectTimeoutMs?: number;
  /** Server-side statement_timeout. Default 10000 ms; 0 disables it (CHECKPOINT, long DDL). */
  statementTimeoutMs?: number;
  applicationName?: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;
/** Client-side bound on top of statement_timeout: catches a server that stopped answering altogether. */
const QUERY_TIMEOUT_SLACK_MS = 5_000;

export function describeTarget(conn: Pick<PgConnection, 'host' | 'port' | 'user'>): string {
  return `${conn.user}@${conn.host}:${conn.port}`;
}

function clientFor(conn: PgConnection): Client {
  const statementTimeoutMs = conn.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  return new Client({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database,
    application_name: conn.applicationName ?? 'pgha',
    connectionTimeoutMillis: Math.max(1000, conn.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
    // node-postgres leaves a 0 timeout out of the startup packet, so 0 goes in `options` instead.
    ...(statementTimeoutMs > 0
      ? { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + QUERY_TIMEOUT_SLACK_MS }
      : { options: '-c statement_timeout=0' }),
  });
}

/** The SQLSTATE of a server error (five characters); socket errors have codes like ECONNREFUSED instead. */
export function sqlStateOf(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Opens a connection, runs `fn`, and always closes it. Errors carry the target and the SQLSTATE. */
export async function withConnection<T>(conn: PgConnection, fn: (client: Client) => Promise<T>, what = 'query'): Promise<T> {
  const client = clientFor(conn);
  // A connection dropped between queries is reported through the pending query; without a listener it would crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } catch (err) {
    throw new PostgresQueryError(what, describeTarget(conn), err, sqlStateOf(err));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One statement on its own connection; returns the rows. */
export async function query<R extends QueryResultRow = QueryResultRow>(
  conn: PgConnection,
  sql: string,
  params: unknown[] = [],
  what = 'query',
): Promise<R[]> {
  return withConnection(conn, async (client) => (await client.query<R>(sql, params)).rows, what);
}
