/**
 * `pgha fence DIR DATA_DIR`: the fence process (src/fence/). Started by the agent, detached in its own session so it
 * outlives the agent; not meant to be run by hand (docs/fence.md).
 */
import pino from 'pino';
import { createLogger } from '../log/logger';
import { runFence } from '../fence/run';

export async function runFenceCommand(args: string[]): Promise<number> {
  const [dir, dataDir] = args;
  if (!dir || !dataDir) {
    process.stderr.write('usage: pgha fence FENCE_DIR DATA_DIR (started by pgha agent)\n');
    return 2;
  }
  // Synchronous writes: the fence's last lines (the stop it sent, why it exits) must not be lost at exit.
  const logger = createLogger({ base: { component: 'fence', dataDir }, destination: pino.destination({ fd: 1, sync: true }) });
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.on('SIGTERM', stop);
  // Detached from any terminal; a hang-up or ^C aimed at the agent's session must not end the fence.
  process.on('SIGHUP', () => logger.info('SIGHUP ignored'));
  process.on('SIGINT', () => logger.info('SIGINT ignored'));
  const reason = await runFence({
    dir, dataDir, logger,
    nowNs: () => process.hrtime.bigint(),
    // A referenced timer on purpose: it is what keeps this process alive.
    sleep: (ms) => new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    }),
    kill: (pid, sig) => process.kill(pid, sig),
    stopped: () => stopped,
  });
  logger.info({ reason }, 'fence exited');
  return 0;
}
