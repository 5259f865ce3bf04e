import { parseArgs } from 'node:util';
import { FenceKeeper } from '../fence/keeper';
import { fenceDirFor } from '../fence/files';
import { statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { loadAgentConfig } from '../config/load';
import type { AgentConfig } from '../config/types';
import { createLogger, type Logger } from '../log/logger';
import { EtcdStore } from '../dcs/etcd/etcd-store';
import { ClusterCache } from '../dcs/cluster-cache';
import { AgentRunner } from '../agent/runner';
import { LocalPostgresOps } from '../agent/local-postgres';
import { withHooks } from '../agent/hooks-wiring';
import { startRestApi, type RestApiTls } from '../api/server';
import { operationHandlers } from '../api/operations';
import { askMember, peerFetcher } from '../agent/peers';
import { failsafePoster } from '../agent/failsafe-post';
import { clientTls } from '../lib/json-get';
import { RequestQueue } from '../agent/requests';
import { AgentMetrics } from '../metrics/agent-metrics';
import { readCluster } from '../dcs/read';
import { liveV2Agents, v2Refusal } from '../dcs/etcd/v2-agents';
import { PGHA_VERSION } from './version';
import { withPostgresCheckedNow } from '../agent/status-live';
import { postmasterAliveNow } from '../postgres/postmaster-now';
import { configReloader, restApiSettings } from './config-reload';
import { realScheduler } from '../lib/clock';

const HELP = `Usage: pgha agent -c FILE

Runs the HA agent for one PostgreSQL node. FILE is a Patroni YAML file (scope, name, restapi, etcd3 or etcd,
bootstrap, postgresql, tags; an optional router: section runs the router in this process). PATRONI_* environment
variables override the file as in Patroni. Run it as the operating-system user that owns the data directory
(usually postgres): PostgreSQL refuses to run as root.

Options:
  -c, --config FILE   the configuration file (or set PATRONI_CONFIGURATION to the YAML text)
  -h, --help          this help
`;

export async function runAgentCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = values.config ?? positionals[0];
  let config: AgentConfig;
  try {
    config = loadAgentConfig(file, process.env);
  } catch (err) {
    throw new Error(`${file ?? 'PATRONI_CONFIGURATION'}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const logger = createLogger({ level: config.log.level, base: { scope: config.scope, member: config.name } });
  refuseRoot(config);
  for (const warning of config.warnings ?? []) logger.warn({ warning }, 'configuration setting ignored');
  if (config.etcd.section === 'etcd') {
    logger.info({ section: 'etcd' }, 'the etcd: section is served over the etcd v3 API; --enable-v2 is not needed');
  }
  await refuseLiveV2Cluster(config);
  return runAgent(config, logger, { file, env: process.env });
}

/** PostgreSQL refuses to run as root: say so before anything starts, with the command that works. */
function refuseRoot(config: AgentConfig): void {
  if (process.getuid?.() !== 0) return;
  let owner = 'postgres';
  try {
    const uid = statSync(config.postgresql.dataDir).uid;
    owner = execFileSync('id', ['-nu', String(uid)]).toString().trim() || owner;
    if (owner === 'root') owner = 'postgres';
  } catch {
    // data directory does not exist yet: the usual owner is postgres
  }
  throw new Error(
    `refusing to run as root: PostgreSQL cannot run as root. Run the agent as the data directory's owner, e.g.\n` +
      `  sudo -u ${owner} ${process.argv[0]} ${process.argv[1]} agent -c ${config.source}\n` +
      `(the data directory ${config.postgresql.dataDir} and its parent must be owned by ${owner}).`,
  );
}

/**
 * Patroni agents of this scope still running on etcd's v2 API (an `etcd:` section) live in a keyspace pgha cannot
 * see: joining them would start a second cluster with its own leader (src/dcs/etcd/v2-agents.ts). Refuse instead.
 */
async function refuseLiveV2Cluster(config: AgentConfig): Promise<void> {
  const prefix = `/${config.namespace}/${config.scope}`.replace(/\/+/g, '/').replace(/\/$/, '');
  const e = config.etcd;
  const found = await liveV2Agents({
    hosts: e.hosts, protocol: e.protocol, prefix,
    ...(e.username !== undefined ? { username: e.username } : {}),
    ...(e.password !== undefined ? { password: e.password } : {}),
    ...(e.cacert ? { cacert: e.cacert } : {}),
    ...(e.cert ? { cert: e.cert } : {}),
    ...(e.key ? { key: e.key } : {}),
  });
  const refusal = v2Refusal(found, prefix);
  if (refusal) throw new Error(refusal);
}

/** restapi.certfile (and friends) → the HTTPS settings of the REST API; undefined: plain HTTP. */
function restApiTls(config: AgentConfig): RestApiTls | undefined {
  const r = config.restapi;
  if (!r.certfile) return undefined;
  return {
    certfile: r.certfile,
    ...(r.keyfile ? { keyfile: r.keyfile } : {}),
    ...(r.keyfilePassword !== undefined ? { keyfilePassword: r.keyfilePassword } : {}),
    ...(r.cafile ? { cafile: r.cafile } : {}),
    ...(r.verifyClient ? { verifyClient: r.verifyClient } : {}),
  };
}

/** The exact commands that fix a data directory belonging to another cluster (the seed article's trap). */
export function systemIdFix(config: AgentConfig): string {
  const dir = config.postgresql.dataDir;
  const etcd = config.etcd.hosts.map((h) => `${h.host}:${h.port}`).join(',');
  const prefix = `/${config.namespace}/${config.scope}/`.replace(/\/+/g, '/');
  return [
    'To rebuild this node as a replica of the cluster registered in etcd (keeps the old data aside):',
    `  mv '${dir}' '${dir}.other-cluster' && mkdir -m 700 '${dir}'   # as the postgres user, then start the agent again`,
    'If instead the etcd keys are leftovers of an old cluster and this data directory is the one to keep:',
    `  ETCDCTL_API=3 etcdctl --endpoints=${etcd} del --prefix ${prefix}   # then start the agents again`,
  ].join('\n');
}

/** The fence process' keeper (src/fence/): it runs `pgha fence` with this very node binary and script. */
function agentFence(config: AgentConfig, logger: Logger): FenceKeeper {
  const dataDir = config.postgresql.dataDir;
  return new FenceKeeper({
    dir: fenceDirFor(dataDir), dataDir, command: [process.execPath, process.argv[1]!], logger: logger.child({ component: 'fence' }),
    scheduler: realScheduler, monoNs: () => process.hrtime.bigint(),
  });
}

export async function runAgent(config: AgentConfig, logger: Logger, source?: { file: string | undefined; env: NodeJS.ProcessEnv }): Promise<number> {
  // Read once at start, like the YAML, before anything is opened: an unusable certificate stops the start, naming
  // its setting.
  const peerFetch = peerFetcher(clientTls(config.memberTls));
  // Every etcd call finishes within retry_timeout (Patroni's etcd read timeout): a hung etcd never stalls a tick longer.
  const deadlineMs = Math.max(1000, (config.bootstrap.dynamic?.retryTimeoutSeconds ?? 10) * 1000);
  const store = new EtcdStore({
    hosts: config.etcd.hosts, protocol: config.etcd.protocol, deadlineMs,
    ...(config.etcd.username ? { username: config.etcd.username } : {}),
    ...(config.etcd.password ? { password: config.etcd.password } : {}),
    ...(config.etcd.cacert ? { cacert: config.etcd.cacert } : {}),
    ...(config.etcd.cert ? { cert: config.etcd.cert } : {}),
    ...(config.etcd.key ? { key: config.etcd.key } : {}),
    logger: logger.child({ component: 'etcd' }),
  });
  const metrics = new AgentMetrics({ scope: config.scope, name: config.name, version: PGHA_VERSION });
  const localOps = new LocalPostgresOps(config, logger.child({ component: 'postgres' }));
  const ops = withHooks(localOps, config, logger, metrics);
  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  // eslint-disable-next-line prefer-const
  let cleanup: (stopPostgres: boolean) => Promise<void> = async () => finish();
  const shutdown = (stopPostgres: boolean) => (stopping ??= cleanup(stopPostgres));
  const requests = new RequestQueue();
  const stopOperations = new AbortController();
  const runner = new AgentRunner({
    config, store, ops, methods: localOps, logger, metrics, pghaVersion: PGHA_VERSION, requests, peerFetch, scheduler: realScheduler,
    ...(config.fence !== false ? { fence: agentFence(config, logger) } : {}),
    failsafePost: failsafePoster(clientTls(config.memberTls), config.restapi.authentication),
    exit: (code, message, why) => {
      const fix = why === 'system_id_mismatch' ? systemIdFix(config) : '';
      logger.fatal({ reason: message, fix }, 'CRITICAL: stopping the agent');
      process.stderr.write(`CRITICAL: ${message}\n${fix}\n`);
      exitCode = code;
      void shutdown(false);
    },
  });
  metrics.bindStatus(() => runner.status());
  const cache = new ClusterCache(store, runner.keys, { logger: logger.child({ component: 'watch' }), scheduler: realScheduler });
  cache.onChange((_view, changed) => {
    if (changed.some((k) => k === runner.keys.leader || k === runner.keys.config || k === runner.keys.failover)) runner.wakeUp();
  });
  const tls = restApiTls(config);
  const liveStatus = () => withPostgresCheckedNow(runner.status(), () => postmasterAliveNow(config.postgresql.dataDir));
  let reloadLocalConfig: (() => Promise<{ ok: boolean; message: string }>) | undefined;
  const api = await startRestApi({
    listen: config.restapi.listen,
    status: liveStatus,
    readCluster: () => readCluster(store, runner.keys),
    metrics: () => metrics.render(),
    logger: logger.child({ component: 'api' }),
    ...restApiSettings(config),
    ...(tls ? { tls } : {}),
    unsafe: operationHandlers({
      store, keys: runner.keys, status: () => runner.status(), requests,
      readCluster: () => readCluster(store, runner.keys),
      wakeUp: () => runner.wakeUp(),
      askMember: (m) => askMember(m, peerFetch),
      logger: logger.child({ component: 'api' }),
      signal: stopOperations.signal,
      failsafe: runner.failsafe,
      reloadLocalConfig: () => reloadLocalConfig?.() ?? Promise.resolve({ ok: true, message: '' }),
    }),
  });
  if (source) reloadLocalConfig = configReloader({ config, file: source.file, env: source.env, api, logger: logger.child({ component: 'config' }), setLogLevel: (level) => (logger.level = level) });
  const router = config.router ? await (await import('./router-command')).startEmbeddedRouter(config, logger) : undefined;
  void cache.start().catch((err) => logger.warn({ err }, 'watch did not start; relying on loop_wait'));
  runner.start();
  logger.info({ api: api.port, dataDir: config.postgresql.dataDir }, 'agent started');

  cleanup = async (stopPostgres: boolean) => {
    logger.info({ stopPostgres }, 'agent stopping');
    cache.stop();
    stopOperations.abort();
    // The agent stops anyway (postgres and the leader key matter more than the router's drain); say why it was cut.
    await router?.stop().catch((err: unknown) => logger.warn({ err }, 'embedded router did not stop cleanly'));
    await runner.stop({ stopPostgres });
    await api.close();
    await store.close();
    finish();
  };
  process.on('SIGTERM', () => void shutdown(true));
  process.on('SIGINT', () => void shutdown(true));
  // SIGHUP (systemd's ExecReload, `kill -HUP`) must never end the agent: it re-reads the YAML (a broken file is
  // refused and the running configuration stays), then rewrites postgres' configuration files and reloads postgres,
  // as POST /reload does.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the configuration');
    void (async () => {
      const local = await (reloadLocalConfig?.() ?? { ok: true, message: '' });
      if (!local.ok) return;
      // A request already in flight may have written postgres' files from the previous configuration: wait for it
      // rather than be refused as "already in progress", so the new file always reaches postgres.
      while (requests.busy) await requests.whenIdle();
      const pending = requests.submit({ type: 'reload' });
      runner.wakeUp();
      const o = await pending;
      logger.info({ ok: o.ok, message: o.message }, 'SIGHUP reload done');
    })();
  });
  await done;
  return exitCode;
}
