/**
 * Entry of a router worker process (forked by src/router/workers/control-plane.ts, never run by hand). Ctrl-C in a
 * terminal reaches the whole process group: the control plane decides when workers stop, so SIGINT is ignored
 * here; SIGTERM sent to a worker alone drains it like a stop from the control plane.
 */
import { runRouterWorker } from '../router/workers/worker-main';

const worker = runRouterWorker();
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => worker.stop(true));
