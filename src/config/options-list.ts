import { ConfigError } from '../lib/errors';
import { describeValue, isMap } from './values';

/** Options pgha sets itself, with the reason shown when a user sets one (Patroni refuses the same ones, §5.2). */
const INITDB_REFUSED: Record<string, string> = {
  pgdata: 'pgha passes postgresql.data_dir',
  D: 'pgha passes postgresql.data_dir',
  username: 'pgha passes postgresql.authentication.superuser.username',
  U: 'pgha passes postgresql.authentication.superuser.username',
  pwfile: 'pgha writes the superuser password to a temporary file',
  pwprompt: 'pgha runs initdb without a terminal; it passes the superuser password itself',
  W: 'pgha runs initdb without a terminal; it passes the superuser password itself',
  nosync: 'a cluster created without fsync can lose data',
  'no-sync': 'a cluster created without fsync can lose data',
  N: 'a cluster created without fsync can lose data',
  'sync-only': 'it does not create a cluster',
  S: 'it does not create a cluster',
  version: 'it does not create a cluster',
  V: 'it does not create a cluster',
  help: 'it does not create a cluster',
};

/** Patroni's refused pg_basebackup options (bootstrap.py): pgha builds the connection and the format itself. */
const BASEBACKUP_REFUSED: Record<string, string> = Object.fromEntries(
  ['pgdata', 'format', 'wal-method', 'xlog-method', 'gzip', 'version', 'compress', 'dbname', 'host', 'port', 'username', 'password']
    .map((o) => [o, 'pgha sets it (data directory, plain format, streamed WAL, the leader connection)']),
);

export function renderInitdbArgs(value: unknown, field = 'bootstrap.initdb'): string[] {
  return renderToolOptions(value, field, 'initdb', INITDB_REFUSED);
}

export function renderBasebackupArgs(value: unknown, field = 'postgresql.basebackup'): string[] {
  return renderToolOptions(value, field, 'pg_basebackup', BASEBACKUP_REFUSED);
}

/**
 * Patroni's option format (reference §5.2): a list of `- flag` (→ `--flag`) and single-key `- key: value`
 * (→ `--key=value`) items, or a plain map `{key: value}`. Surrounding quotes on values are removed. Deviations,
 * all friendlier: leading dashes written by the user are dropped (`- --data-checksums` works), numbers are
 * accepted as values (`- wal-segsize: 32`), and `key: true` renders as the flag `--key` (`false` leaves it out).
 */
export function renderToolOptions(value: unknown, field: string, tool: string, refused: Record<string, string>): string[] {
  if (value === null || value === undefined) return [];
  const items: Array<[string, unknown]> = [];
  if (Array.isArray(value)) {
    value.forEach((item, i) => items.push(listItem(item, `${field}[${i}]`, tool)));
  } else if (isMap(value)) {
    items.push(...Object.entries(value));
  } else {
    throw new ConfigError(field, `got ${describeValue(value, field)}, expected a list of ${tool} options`, 'write e.g.\n  - encoding: UTF8\n  - data-checksums');
  }
  const args: string[] = [];
  for (const [rawName, optionValue] of items) {
    const name = rawName.replace(/^-+/, '');
    const reason = refused[name];
    if (reason !== undefined) {
      throw new ConfigError(field, `option ${JSON.stringify(name)} cannot be set for ${tool}: ${reason}`, `remove ${name} from ${field}`);
    }
    const arg = renderOne(name, optionValue, field, tool);
    if (arg !== undefined) args.push(arg);
  }
  return args;
}

function listItem(item: unknown, field: string, tool: string): [string, unknown] {
  if (typeof item === 'string') return [item, true];
  if (isMap(item)) {
    const keys = Object.keys(item);
    if (keys.length !== 1) {
      throw new ConfigError(field, `is a map with ${keys.length} keys; each ${tool} option must be its own list item`, 'write one "- key: value" per line');
    }
    const key = keys[0] as string;
    return [key, item[key]];
  }
  throw new ConfigError(field, `got ${describeValue(item, field)}, expected an option name or a single "key: value"`, 'write e.g. - data-checksums or - encoding: UTF8');
}

function renderOne(name: string, value: unknown, field: string, tool: string): string | undefined {
  if (name === '') throw new ConfigError(field, `has an empty ${tool} option name`, 'remove the empty item');
  if (value === true) return `--${name}`;
  if (value === false || value === null || value === undefined || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new ConfigError(field, `option ${name}: got ${describeValue(value, field)}, expected a string value`, `write - ${name}: value`);
  }
  return `--${name}=${unquote(String(value))}`;
}

function unquote(text: string): string {
  const quoted = /^(['"])(.*)\1$/s.exec(text);
  return quoted ? (quoted[2] ?? '') : text;
}
