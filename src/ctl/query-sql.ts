/**
 * The SQL side of `pgha ctl query` (node-postgres): one autocommit connection per target, the simple query protocol
 * (several statements in one command, as psycopg allows; the last result is shown), and values turned into what
 * psycopg hands patronictl, so they print the same: integers and floats as numbers, booleans, NULL as None, json
 * parsed, timestamps as Python's str(datetime), everything else as PostgreSQL's text.
 */
import { Client, type FieldDef, type QueryArrayResult } from 'pg';
import type { ConnectTarget, SqlConnection, SqlConnector, SqlResult } from './query';

const INTEGER_OIDS = new Set([20, 21, 23, 26]);
const FLOAT_OIDS = new Set([700, 701]);
const BOOL_OID = 16;
const JSON_OIDS = new Set([114, 3802]);
const TIMESTAMP_OIDS = new Set([1114, 1184]);

/** Every value arrives as text; fromText converts by type. */
const RAW_TYPES = { getTypeParser: () => (text: string) => text };

export const pgConnector: SqlConnector = async (t: ConnectTarget): Promise<SqlConnection> => {
  const client = new Client({
    host: t.host, port: t.port, connectionTimeoutMillis: 5000,
    ...(t.user !== undefined ? { user: t.user } : {}),
    ...(t.password !== undefined ? { password: t.password } : {}),
    ...(t.database !== undefined ? { database: t.database } : {}),
    // patronictl's fallback_application_name.
    application_name: 'Patroni ctl',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(connectFailure(t, err));
  }
  return {
    async run(sql: string): Promise<SqlResult | undefined> {
      const raw = (await client.query({ text: sql, rowMode: 'array', types: RAW_TYPES })) as QueryArrayResult | QueryArrayResult[];
      const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
      if (!last || !last.fields || last.fields.length === 0) return undefined;
      return { columns: last.fields.map((f) => f.name), rows: last.rows.map((r) => r.map((v, i) => fromText(v, last.fields[i]!))) };
    },
    close: () => client.end(),
  };
};

export function fromText(value: unknown, field: Pick<FieldDef, 'dataTypeID'>): unknown {
  if (value === null || value === undefined) return null;
  const text = String(value);
  const oid = field.dataTypeID;
  if (oid === BOOL_OID) return text === 't';
  if (INTEGER_OIDS.has(oid)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (FLOAT_OIDS.has(oid)) return Number(text);
  if (JSON_OIDS.has(oid)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  if (TIMESTAMP_OIDS.has(oid)) return pythonDatetime(text);
  return text;
}

/** PostgreSQL `2026-12-07 09:00:00.12+00` → Python `2026-12-07 09:00:00.120000+00:00` (microseconds, ±HH:MM). */
export function pythonDatetime(text: string): string {
  const m = /^(\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{1,6}))?([+-]\d\d)?(?::(\d\d))?(?::(\d\d))?$/.exec(text);
  if (!m) return text;
  const [, base, fraction, offsetHours, offsetMinutes, offsetSeconds] = m;
  const micro = fraction ? `.${fraction.padEnd(6, '0')}` : '';
  const offset = offsetHours ? `${offsetHours}:${offsetMinutes ?? '00'}${offsetSeconds ? `:${offsetSeconds}` : ''}` : '';
  return `${base}${micro}${offset}`;
}

/**
 * libpq's words for a failed connection, which patronictl prints (psycopg has no SQLSTATE for them): `connection to
 * server at "H", port P failed: FATAL:  <message>` for a server refusal, the socket error otherwise.
 */
export function connectFailure(t: Pick<ConnectTarget, 'host' | 'port'>, err: unknown): string {
  const e = err as { severity?: unknown; message?: unknown; code?: unknown };
  const head = `connection to server at "${t.host}", port ${t.port} failed: `;
  if (typeof e.severity === 'string') return `${head}${e.severity}:  ${String(e.message)}\n`;
  if (e.code === 'ECONNREFUSED') return `${head}Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n`;
  return `${head}${String(e.message ?? err)}\n`;
}
