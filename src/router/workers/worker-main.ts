/**
 * A router worker process (forked by workers/control-plane.ts through node:cluster, entry src/cli/router-worker.ts):
 * it serves the listeners on
 * sockets shared with its sibling workers, routes with the control plane's tables (RemoteTopology), and reports
 * its figures. It never talks to etcd or the agents. When the control plane goes away, the worker ends its
 * sessions and exits: without tables it could not keep its fencing promises for long, and a new control plane
 * starts new workers.
 */
import { createLogger, type Logger } from '../../log/logger';
import { RouterMetrics } from '../../metrics/router-metrics';
import { realScheduler } from '../../lib/clock';
import { Router } from '../router';
import { PoolAuth } from '../auth/pool-auth';
import { poolMessage } from './worker-pools';
import { hostMonotonicMs, type FromWorker, type ToWorker, type WorkerStats } from './messages';
import { RemoteTopology } from './remote-topology';

const STATS_EVERY_MS = 1000;

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

function stats(router: Router, topology: RemoteTopology): WorkerStats {
  return {
    pid: process.pid,
    ports: router.ports(),
    sessions: router.sessionCounts(),
    byBackend: router.connectionsByBackend(),
    byClient: router.clientsByListener(100),
    held: router.heldCounts(),
    generation: topology.table().generation,
    pools: router.pool.pools.stats(),
    clients: router.pool.clientStats(),
  };
}

/** Set once started: how a signal handler (src/cli/router-worker.ts) stops this worker. */
let stopWorker: ((drain: boolean) => Promise<void>) | undefined;

async function start(init: Extract<ToWorker, { t: 'init' }>): Promise<void> {
  const log: Logger = createLogger({ level: init.logLevel, base: { worker: init.index } });
  const metrics = new RouterMetrics();
  let router: Router | undefined;
  const topology = new RemoteTopology({
    scheduler: realScheduler,
    hostNow: hostMonotonicMs,
    initial: init.table,
    onTable: (table, prev) => router?.onTable(table, prev),
    checkNow: (member) => send({ t: 'check', member }),
  });
  // Pooled listeners: this worker reads the auth: section itself (secrets never travel over the channel); its keys
  // carry index + 1 (0 is the single-process router's), so a sibling forwards a cancel for them here.
  const auth = await PoolAuth.start(init.config, { scheduler: realScheduler, logger: log.child({ component: 'router-auth' }), leader: () => topology.table().leader });
  router = new Router(init.config, { topology, metrics, logger: log.child({ component: 'router-proxy' }), scheduler: realScheduler }, {
    secrets: auth,
    get authType() {
      return auth.type;
    },
    workerIndex: init.index + 1,
    forwardCancel: (keyWorker, listener, processId, secretKey) => {
      if (!process.connected) return false;
      send({ t: 'cancel', keyWorker, listener, processId, secretKey });
      return true;
    },
  });
  const r = router;
  if (init.paused.all) r.pool.pools.pause();
  for (const m of init.paused.members) r.pool.pools.pause(m);
  let stopping = false;
  const stop = async (drain: boolean): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (!drain) r.setDrainTimeout(0);
    await r.stop().catch((err: unknown) => log.error({ err }, 'router worker stop failed'));
    topology.stop();
    process.exit(0);
  };
  process.on('message', (m: ToWorker) => {
    if (poolMessage(r, m, send, { log, metrics })) return;
    switch (m.t) {
      case 'table':
        topology.receive(m.table);
        break;
      case 'reconfigure':
        // An unreadable userlist refuses the reload here too, before anything changes.
        auth.reload(m.config).then(() => r.reconfigure(m.config)).then(
          () => send({ t: 'reconfigured', id: m.id, stats: stats(r, topology) }),
          (err: unknown) => send({ t: 'reconfigured', id: m.id, error: String(err), stats: stats(r, topology) }),
        );
        break;
      case 'metrics':
        metrics.json().then((json) => send({ t: 'metrics', id: m.id, json }), () => send({ t: 'metrics', id: m.id, json: [] }));
        break;
      case 'stop':
        void stop(true);
        break;
      default:
        break;
    }
  });
  // The control plane is gone (killed, crashed): end every session now and exit.
  process.on('disconnect', () => {
    log.warn({}, 'router control plane gone: closing every session');
    void stop(false);
  });
  stopWorker = stop;
  try {
    await r.listen();
  } catch (err) {
    send({ t: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  send({ t: 'ready', stats: stats(r, topology) });
  const timer = setInterval(() => send({ t: 'stats', stats: stats(r, topology) }), STATS_EVERY_MS);
  timer.unref();
}

/** The worker's life: wait for `init` from the control plane, then serve until told to stop or orphaned. */
export function runRouterWorker(): { stop(drain: boolean): void } {
  const onInit = (m: ToWorker): void => {
    if (m.t !== 'init') return;
    process.removeListener('message', onInit);
    start(m).catch((err: unknown) => {
      send({ t: 'failed', error: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    });
  };
  process.on('message', onInit);
  send({ t: 'hello' });
  return {
    stop: (drain) => {
      if (stopWorker) void stopWorker(drain);
      else process.exit(0);
    },
  };
}
