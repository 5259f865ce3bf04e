/**
 * Runs a user-configured command (a replica method, a custom bootstrap, post_bootstrap) as Patroni does: the argv
 * as given, no shell, the agent's environment plus `env`, in the agent's working directory. A non-zero exit is a
 * result, not an error: the caller decides (a replica method falls back to the next one).
 */
import { spawn } from 'node:child_process';
import { tail, toolEnv } from './tool';

export interface CommandResult {
  /** Exit code; -1 when the command could not be started, was killed by a signal or timed out. */
  code: number;
  /** The last lines of its output (stderr, else stdout), for the log. */
  output: string;
  error?: string;
}

const KEEP_CHARS = 16_384;
const KILL_GRACE_MS = 5_000;

export function runCommand(argv: readonly string[], options: { env?: Record<string, string | undefined>; timeoutMs: number }): Promise<CommandResult> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    if (!file) {
      resolve({ code: -1, output: '', error: 'empty command' });
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const keep = (buffer: string, chunk: string) => (buffer + chunk).slice(-KEEP_CHARS);
    const child = spawn(file, args, { env: toolEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    }, options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout = keep(stdout, c)));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = keep(stderr, c)));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, output: '', error: `could not run ${file}: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const output = tail(stderr) || tail(stdout);
      if (timedOut) resolve({ code: -1, output, error: `timed out after ${options.timeoutMs} ms` });
      else if (signal) resolve({ code: -1, output, error: `killed by ${signal}` });
      else resolve({ code: code ?? -1, output });
    });
  });
}
