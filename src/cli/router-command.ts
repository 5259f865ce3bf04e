import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { createLogger, type Logger } from '../log/logger';
import type { AgentConfig } from '../config/types';
import { loadRouterConfig } from '../config/router';
import { parseRouterFlags } from '../config/router-flags';
import { startRouter, type RouterConfig } from '../router/index';
import { isPauseCommand, runPauseCommand } from './router-pause';

const HELP = `Usage: pgha router -c router.yml
       pgha router --etcd HOST:PORT --scope NAME [--namespace /service/] [--write ADDR:PORT] [--read ADDR:PORT] [--metrics ADDR:PORT]
       pgha router --pause|--resume [--member NAME] (--metrics ADDR:PORT | -c router.yml)

Runs the HA-aware PostgreSQL router: a write port that follows the leader and a read port over the qualified
replicas, driven by etcd and the agents' health. SIGHUP reloads the configuration file; SIGTERM drains and stops.

Options:
  -c, --config FILE            the router's YAML (every setting: docs/router.md, config/router.yml)
  --etcd HOST:PORT[,HOST:PORT] etcd v3 endpoints (the short form: no file)
  --scope NAME                 the cluster's scope
  --namespace PATH             the keys' namespace (default /service/)
  --write ADDR:PORT            the write listener, role primary (default 0.0.0.0:5000)
  --read ADDR:PORT             the read listener, role replica (default 0.0.0.0:5001, max lag 16MB)
  --metrics ADDR:PORT          /metrics, /status, /health and the status page (not served without it)
  --read-max-lag SIZE          replicas further behind leave the read pool (e.g. 16MB)
  --read-max-lag-seconds N     the same, in seconds
  --read-fallback-to-leader    reads go to the leader when no replica qualifies
  --hold-timeout DURATION      how long a new connection waits for a backend to qualify (e.g. 30s)
  --max-connections N          client connections per listener; the next gets SQLSTATE 53300 (default 10000, 0 = none)
  --workers N|auto             processes serving the listeners (default 1; auto = one per core): this process
                               then follows etcd and the agents and feeds every worker the same routing table
  --proxy-protocol CIDR[,CIDR] every listener expects a PROXY v1/v2 header from these networks (the client's
                               address for logs, limits, /status); other sources are closed at once
  --pool-mode MODE             passthrough (default: bytes spliced, authentication end to end), session or
                               transaction (the router pools server connections: docs/router.md "Pool modes")
  --pool-size N                server connections per pool (user, database, member; default 20; per worker)
  --auth-file FILE             PgBouncer-format userlist ("user" "password-or-SCRAM-secret" per line): checks
                               clients of pooled listeners and logs in to PostgreSQL (never a password in a flag)
  --auth-user USER             the role auth_query runs as (its password from --auth-file)
  --auth-query SQL             looks up users the file lacks, $1 = user (default: PgBouncer's pg_authid query)
  --pause, --resume            tell the running router at --metrics (or -c's metrics address) to pause or resume
                               new transactions on its pooled listeners (PgBouncer's PAUSE/RESUME); with
                               --member NAME only those on that member
  --tls-cert FILE --tls-key FILE
                               TLS terminated at the router with this certificate and key (PEM), so clients can
                               use sslmode=verify-full and cancels sent inside TLS reach their session; the router
                               then speaks TLS to PostgreSQL when it offers it (tls.server_mode: prefer). Without
                               them, TLS runs end to end as before
  -h, --help                   this text
See docs/router.md.
`;

function loadFile(file: string): RouterConfig {
  return loadRouterConfig(parseYaml(readFileSync(file, 'utf8')) as unknown, file);
}

export async function runRouterCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (isPauseCommand(argv)) return runPauseCommand(argv, (text) => process.stdout.write(text));
  const fileIdx = argv.findIndex((a) => a === '-c' || a === '--config');
  const file = fileIdx >= 0 ? argv[fileIdx + 1] : undefined;
  if (fileIdx >= 0 && !file) throw new Error('-c needs a file');
  const config = file ? loadFile(file) : parseRouterFlags(argv);
  const logger = createLogger({ base: { component: 'router' } });
  logWarnings(config, logger);
  const router = await startRouter(config, { logger });
  logger.info({ ports: router.ports }, 'router started');
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void router.stop().finally(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      if (!file) return;
      const refused = (err: unknown) => logger.error({ err }, 'reload refused: keeping the running configuration');
      try {
        router.reload(loadFile(file)).then(() => logger.info({ file }, 'configuration reloaded'), refused);
      } catch (err) {
        refused(err);
      }
    });
  });
  return 0;
}

/** Settings accepted but not used (e.g. etcd `hosts` beside `url`): said once, as the agent does for its file. */
function logWarnings(config: RouterConfig, logger: Logger): void {
  for (const warning of config.warnings ?? []) logger.warn({ source: config.source, warning }, 'router configuration accepted with a warning');
}

/**
 * The embedded router's health section: its own settings, with the CA and client certificate of the agent's member
 * calls (`ctl.*`, else `restapi.cafile`/`certfile`/`keyfile`/`keyfile_password`) where it sets none of its own, so
 * agents with a private CA and `verify_client: required` answer their own routers.
 */
function inheritedHealth(config: AgentConfig): unknown {
  const own = config.router?.health;
  if (own !== undefined && own !== null && (typeof own !== 'object' || Array.isArray(own))) return own;
  const health = { ...(own as Record<string, unknown> | undefined) };
  const tls = config.memberTls;
  const set = (k: string) => health[k] !== undefined && health[k] !== null;
  const verify = health.verify_tls !== false && !/^(false|no|off)$/i.test(String(health.verify_tls));
  if (tls?.ca && !set('cacert') && verify) health.cacert = tls.ca.file;
  if (tls?.cert && !set('cert') && !set('key')) {
    health.cert = tls.cert.file;
    if (tls.key) health.key = tls.key.file;
    if (tls.passphrase !== undefined && !set('key_password')) health.key_password = tls.passphrase;
  }
  return health;
}

/** The agent YAML's `router:` section: the router runs inside the agent, on the agent's etcd and scope. */
export async function startEmbeddedRouter(config: AgentConfig, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const doc = {
    ...config.router,
    scope: config.scope,
    namespace: config.namespace,
    // The agent's own etcd settings: credentials and TLS too (an etcd with auth or TLS refuses hosts alone).
    etcd: {
      hosts: config.etcd.hosts.map((h) => `${h.host}:${h.port}`),
      protocol: config.etcd.protocol,
      ...(config.etcd.username ? { username: config.etcd.username } : {}),
      ...(config.etcd.password ? { password: config.etcd.password } : {}),
      ...(config.etcd.cacert ? { cacert: config.etcd.cacert } : {}),
      ...(config.etcd.cert ? { cert: config.etcd.cert } : {}),
      ...(config.etcd.key ? { key: config.etcd.key } : {}),
    },
  };
  const routerConfig = loadRouterConfig({ ...doc, health: inheritedHealth(config) }, `${config.source} (router:)`);
  const routerLogger = logger.child({ component: 'router' });
  logWarnings(routerConfig, routerLogger);
  return startRouter(routerConfig, { logger: routerLogger });
}
