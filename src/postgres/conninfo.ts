/**
 * Connection strings in the three forms PostgreSQL tools read, built so that any password (`test%123`,
 * `it's`, `a\b c`) survives each of them unchanged. Pure: no I/O.
 *
 * - libpq keyword/value strings (`host=… port=…`): primary_conninfo, pg_basebackup --dbname, pg_rewind
 *   --source-server, post_bootstrap DSNs.
 * - pgpass lines (`host:port:db:user:password`).
 * - postgres:// URLs (conn_url in member keys, node-postgres connection strings).
 */

/** A libpq keyword/value pair; undefined values are left out. */
export type ConninfoParams = Record<string, string | number | undefined>;

/**
 * Quotes one libpq value. libpq accepts a bare value unless it is empty or holds whitespace, `'` or `\`;
 * those are written in single quotes with `\` and `'` escaped by a backslash (libpq's conninfo_parse).
 */
export function quoteConninfoValue(value: string | number): string {
  const text = String(value);
  if (text !== '' && !/[\s'\\]/.test(text)) return text;
  return `'${text.replace(/[\\']/g, (ch) => `\\${ch}`)}'`;
}

/** Builds `k1=v1 k2=v2` in the given key order, skipping undefined values. */
export function buildConninfo(params: ConninfoParams): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (!/^[a-z_]+$/.test(key)) throw new Error(`not a libpq connection keyword: ${JSON.stringify(key)}`);
    parts.push(`${key}=${quoteConninfoValue(value)}`);
  }
  return parts.join(' ');
}

/**
 * Parses a libpq keyword/value string (the inverse of buildConninfo), following libpq's rules: values may
 * be bare or single-quoted, and a backslash escapes the next character in both forms.
 */
export function parseConninfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const skipSpaces = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  for (;;) {
    skipSpaces();
    if (i >= text.length) return out;
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`conninfo: missing "=" after ${JSON.stringify(text.slice(i))}`);
    const key = text.slice(i, eq).trim();
    i = eq + 1;
    skipSpaces();
    let value = '';
    if (text[i] === "'") {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`conninfo: unterminated quoted value for ${key}`);
        const ch = text[i++]!;
        if (ch === "'") break;
        if (ch === '\\' && i < text.length) value += text[i++]!;
        else value += ch;
      }
    } else {
      while (i < text.length && !/\s/.test(text[i]!)) {
        const ch = text[i++]!;
        if (ch === '\\' && i < text.length) value += text[i++]!;
        else value += ch;
      }
    }
    out[key] = value;
  }
}

/** libpq settings a replication connection may carry (reference §9.5 `authentication.*`). */
export interface LibpqSslOptions {
  sslmode?: string;
  sslcompression?: string;
  sslcert?: string;
  sslkey?: string;
  sslpassword?: string;
  sslrootcert?: string;
  sslcrl?: string;
  sslcrldir?: string;
  krbsrvname?: string;
  gssencmode?: string;
  channel_binding?: string;
  target_session_attrs?: string;
  sslnegotiation?: string;
}

export interface PrimaryConninfoInput extends LibpqSslOptions {
  host: string;
  port: number;
  user: string;
  /** Path of the pgpass file holding the password (PG10+ form, preferred: no secret in postgresql.conf). */
  passfile?: string;
  /** Only when no passfile is used. */
  password?: string;
  dbname?: string;
  /** This member's name: it becomes pg_stat_replication.application_name on the upstream. */
  applicationName: string;
  /** PG_VERSION_NUM of the local server; gates the version-specific defaults. Default 150000. */
  serverVersion?: number;
}

/**
 * primary_conninfo the way Patroni writes it (reference §6.3): keys in Patroni's order, with its defaults
 * `sslmode=prefer`, `gssencmode=prefer` (12+), `channel_binding=prefer` (13+), `sslnegotiation=postgres` (17+).
 */
export function primaryConninfo(input: PrimaryConninfoInput): string {
  const version = input.serverVersion ?? 150000;
  return buildConninfo({
    dbname: input.dbname ?? 'postgres',
    user: input.user,
    passfile: input.passfile,
    password: input.passfile === undefined ? input.password : undefined,
    host: input.host,
    port: input.port,
    sslmode: input.sslmode ?? 'prefer',
    sslcompression: input.sslcompression,
    sslcert: input.sslcert,
    sslkey: input.sslkey,
    sslpassword: input.sslpassword,
    sslrootcert: input.sslrootcert,
    sslcrl: input.sslcrl,
    sslcrldir: input.sslcrldir,
    application_name: input.applicationName,
    krbsrvname: input.krbsrvname,
    gssencmode: version >= 120000 ? (input.gssencmode ?? 'prefer') : undefined,
    channel_binding: version >= 130000 ? (input.channel_binding ?? 'prefer') : undefined,
    target_session_attrs: input.target_session_attrs,
    sslnegotiation: version >= 170000 ? (input.sslnegotiation ?? 'postgres') : undefined,
  });
}

/** Escapes one pgpass field: `:` and `\` take a backslash (libpq's passwordFromFile). */
export function escapePgpassField(value: string | number): string {
  return String(value).replace(/[\\:]/g, (ch) => `\\${ch}`);
}

/**
 * One pgpass line. `*` in any of the first four fields is a wildcard. For a unix-socket connection libpq
 * matches the host field against `localhost`, not the socket directory (see pgpassHost).
 */
export function pgpassLine(host: string, port: number | '*', database: string, user: string, password: string): string {
  return [host, port, database, user, password].map(escapePgpassField).join(':');
}

/** The host field libpq compares a pgpass line with: `localhost` for unix-socket paths. */
export function pgpassHost(host: string): string {
  return host.startsWith('/') || host === '' ? 'localhost' : host;
}

/** A whole pgpass file: one line per entry, newline-terminated. */
export function renderPgpass(
  entries: ReadonlyArray<{ host: string; port: number | '*'; database?: string; user: string; password: string }>,
): string {
  return entries.map((e) => `${pgpassLine(pgpassHost(e.host), e.port, e.database ?? '*', e.user, e.password)}\n`).join('');
}

export interface PostgresUrlInput {
  host: string;
  port: number;
  user?: string;
  password?: string;
  database?: string;
  params?: Record<string, string | number | undefined>;
}

/**
 * `postgres://user:password@host:port/db?k=v`, every part percent-encoded (`test%123` → `test%25123`).
 * IPv6 hosts are bracketed; a unix-socket directory is percent-encoded into the host part, as libpq allows.
 */
export function postgresUrl(input: PostgresUrlInput): string {
  let auth = '';
  if (input.user !== undefined) {
    auth = encodeURIComponent(input.user);
    if (input.password !== undefined) auth += `:${encodeURIComponent(input.password)}`;
    auth += '@';
  }
  const host = input.host.includes(':') && !input.host.startsWith('/') ? `[${input.host}]` : encodeURIComponent(input.host);
  const db = input.database === undefined ? '' : `/${encodeURIComponent(input.database)}`;
  const query = Object.entries(input.params ?? {})
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return `postgres://${auth}${host}:${input.port}${db}${query ? `?${query}` : ''}`;
}
