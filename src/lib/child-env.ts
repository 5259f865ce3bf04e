/**
 * The environment child processes (initdb, pg_basebackup, pg_rewind…) inherit. The one place outside src/cli that
 * reads process.env, on purpose: children need PATH, locale and the like. PATRONI_* variables are left out, as
 * Patroni does, so configuration secrets never reach postgres or its tools.
 */
export function inheritedEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PATRONI_')) env[k] = v;
  return { ...env, ...extra };
}
