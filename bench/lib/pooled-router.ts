/**
 * A pooling router for the benchmark: `node dist/bench/lib/pooled-router.js <router.yml> <userlist>`.
 *
 * The router's YAML has no `auth:` section yet (lane auth's config is not on this branch), and `pgha router`
 * then logs in to PostgreSQL with no secret, which a server asking for a password refuses. So this entry point
 * does what `pgha router -c` does (load the file, start, stop on SIGTERM) and hands startRouter the secrets of a
 * PgBouncer-format userlist (startRouter's poolAuth), as the integration tests do. Clients authenticate with trust
 * at the router, as the bench's PgBouncer takes any client (auth_type = any): the bench prints that beside the rows.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadRouterConfig } from '../../src/config/router';
import { createLogger } from '../../src/log/logger';
import { parseUserlist } from '../../src/router/auth/userlist';
import { startRouter } from '../../src/router/index';

async function main(): Promise<void> {
  const [file, userlist] = process.argv.slice(2);
  if (!file || !userlist) throw new Error('usage: pooled-router.js <router.yml> <userlist>');
  const config = loadRouterConfig(parseYaml(readFileSync(file, 'utf8')) as unknown, file);
  const secrets = parseUserlist(readFileSync(userlist, 'utf8'), userlist);
  const logger = createLogger({ base: { component: 'router' } });
  const router = await startRouter(config, { logger, poolAuth: { secrets: { lookup: async (user) => secrets.get(user) }, type: 'trust' } });
  logger.info({ ports: router.ports }, 'router started');
  await new Promise<void>((resolve) => {
    const stop = () => void router.stop().finally(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
