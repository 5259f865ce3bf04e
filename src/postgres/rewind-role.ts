/**
 * The `postgresql.authentication.rewind` role, as Patroni's post_bootstrap creates it (PostgreSQL 11+): a LOGIN role
 * without superuser, allowed to run the four functions pg_rewind calls on the source server. Without it pg_rewind
 * cannot log in, and a former primary that needs a rewind is re-cloned instead (losing its unmanaged slots).
 */
import type { RoleSpec } from './sql';
import { quoteIdent } from './sql';

/** The functions pg_rewind calls on the source (Patroni's list, fully qualified with their argument types). */
export const REWIND_FUNCTIONS = [
  'pg_ls_dir(text, boolean, boolean)',
  'pg_stat_file(text, boolean)',
  'pg_read_binary_file(text)',
  'pg_read_binary_file(text, bigint, bigint, boolean)',
] as const;

export function rewindRole(credentials: { username: string; password?: string }): RoleSpec {
  return { name: credentials.username, password: credentials.password, options: ['LOGIN'] };
}

/** The GRANTs, run in the role's transaction (which already sets synchronous_commit = local, as Patroni's DO does). */
export function rewindGrantsSql(username: string): string[] {
  return REWIND_FUNCTIONS.map((f) => `GRANT EXECUTE ON FUNCTION pg_catalog.${f} TO ${quoteIdent(username)}`);
}
