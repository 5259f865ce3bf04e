/**
 * The router's `auth:` section (pooled listeners, where the router is the server for its clients and logs in to
 * PostgreSQL itself; passthrough listeners leave authentication end to end):
 *
 *   auth:
 *     file: /etc/pgha/userlist.txt   # PgBouncer's auth_file format: "user" "password-or-secret"
 *     type: scram-sha-256            # scram-sha-256 (default) | md5 | plain | trust
 *     user: pgha_auth                # auth_user: its password comes from `file`
 *     query: SELECT ...              # auth_query, $1 = the user name (PgBouncer's default)
 *
 * Only file names and the user's name live here: no password is ever written in the YAML or on the command line
 * (`ps` would show it). The file itself is read when the router starts and on reload (auth-source.ts), where a
 * broken line is refused with its line number.
 */
import { ConfigError } from '../lib/errors';
import { AUTH_TYPES, DEFAULT_AUTH_QUERY, type AuthConfig, type AuthType } from '../router/auth/types';
import { checkKeys, section, str } from './router-values';
import { describeValue, isMap } from './values';

const AUTH_KEYS = ['file', 'type', 'user', 'query'];

export function parseAuth(value: unknown, field = 'auth'): AuthConfig | undefined {
  if (value === undefined || value === null) return undefined;
  // Not the generic "got <value>" message: a value here may be a password written in the wrong place.
  if (!isMap(value)) throw new ConfigError(field, 'is not a map of settings', 'indent file, type, user, query under auth:');
  const map = section(value, field);
  checkKeys(map, AUTH_KEYS, field);
  const typeText = map.type === undefined || map.type === null ? 'scram-sha-256' : String(map.type).trim().toLowerCase();
  if (!(AUTH_TYPES as readonly string[]).includes(typeText)) {
    throw new ConfigError(`${field}.type`, `got ${describeValue(map.type, `${field}.type`)}`, `use one of: ${AUTH_TYPES.join(', ')}`);
  }
  const type = typeText as AuthType;
  const file = str(map, 'file', field);
  const user = str(map, 'user', field);
  const query = str(map, 'query', field);
  if (user !== undefined && file === undefined) {
    throw new ConfigError(`${field}.user`, 'is set without auth.file', "the auth user's password is read from the userlist: set auth.file to a file listing it");
  }
  if (query !== undefined && user === undefined) {
    throw new ConfigError(`${field}.query`, 'is set without auth.user', 'auth.query runs as auth.user: set it (its password goes in auth.file)');
  }
  if (query !== undefined && !query.includes('$1')) {
    throw new ConfigError(`${field}.query`, 'does not use $1', 'the user name is passed as $1, e.g. ... WHERE rolname = $1');
  }
  if (type !== 'trust' && file === undefined) {
    throw new ConfigError(`${field}.file`, `is missing (auth.type is ${type})`, 'set auth.file to a userlist, or auth.type: trust to let every client in');
  }
  return { ...(file !== undefined ? { file } : {}), type, ...(user !== undefined ? { user } : {}), query: query ?? DEFAULT_AUTH_QUERY };
}
