/** The router's authentication settings, as the `auth:` section gives them (src/config/router-auth.ts). */

export type AuthType = 'scram-sha-256' | 'md5' | 'plain' | 'trust';
export const AUTH_TYPES: readonly AuthType[] = ['scram-sha-256', 'md5', 'plain', 'trust'];

/** PgBouncer's default auth_query: an expired password counts as none. */
export const DEFAULT_AUTH_QUERY = 'SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname=$1 AND rolcanlogin';

export interface AuthConfig {
  /** The userlist file (PgBouncer's auth_file format), read at start and on reload. */
  file?: string;
  /** How clients authenticate to the router (client-auth.ts). */
  type: AuthType;
  /** auth_user: the role auth_query runs as, with its password from `file`; absent = no auth_query. */
  user?: string;
  /** auth_query, with the user name as $1 (runs only with `user`). */
  query: string;
}
