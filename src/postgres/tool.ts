import { inheritedEnv } from '../lib/child-env';
/**
 * Runs one PostgreSQL command-line tool with a deadline, as the postgres OS user when asked, and turns a
 * failure into a PostgresToolError that quotes the tool's last output lines.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from '../log/logger';
import { PostgresToolError } from './errors';

/** OS identity for child processes. PostgreSQL refuses to run as root; tests running as root pass `postgres`. */
export interface RunAs {
  uid: number;
  gid: number;
}

/** What every process-control function needs: where the binaries are, whom to run them as, where to log. */
export interface PgTools {
  binDir: string;
  /** undefined in production: the agent itself runs as the postgres user. */
  runAs?: RunAs;
  logger?: Logger;
}

export interface ToolResult {
  stdout: string;
  stderr: string;
}

export interface RunToolOptions {
  timeoutMs: number;
  env?: Record<string, string | undefined>;
  /** Called with each stderr chunk as it arrives (pg_basebackup -P progress). */
  onStderr?: (chunk: string) => void;
  /** Lines (progress reports) left out of the output quoted in errors, except the last of them. */
  noise?: (line: string) => boolean;
}

/** How much output is kept for error messages. */
const KEEP_CHARS = 16_384;
const TAIL_LINES = 15;
/** After SIGTERM on timeout, how long the tool gets before SIGKILL. */
const KILL_GRACE_MS = 5_000;

/** The last `lines` non-empty lines; of the lines `noise` matches, only the last one is kept. */
export function tail(text: string, lines = TAIL_LINES, noise?: (line: string) => boolean): string {
  const all = text.replace(/\r/g, '\n').split('\n').filter((l) => l.trim() !== '');
  let lastNoise = -1;
  if (noise) all.forEach((l, i) => (lastNoise = noise(l) ? i : lastNoise));
  return all.filter((l, i) => i === lastNoise || !noise?.(l)).slice(-lines).join('\n');
}

/** Appends to a bounded buffer: keeps the last KEEP_CHARS characters. */
function appendBounded(buffer: string, chunk: string): string {
  const joined = buffer + chunk;
  return joined.length > KEEP_CHARS ? joined.slice(-KEEP_CHARS) : joined;
}

/**
 * Environment for a tool: the agent's own (initdb takes the cluster's locale from it, as under Patroni),
 * plus `extra`, where an undefined value removes a variable.
 */
export function toolEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = inheritedEnv();
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export async function runTool(tools: PgTools, tool: string, args: readonly string[], options: RunToolOptions): Promise<ToolResult> {
  const path = join(tools.binDir, tool);
  const started = Date.now();
  tools.logger?.debug({ tool, args }, 'running postgres tool');
  return new Promise<ToolResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(path, args, {
      // A tool running as postgres from root's home could not resolve its current directory.
      cwd: '/',
      env: toolEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(tools.runAs ? { uid: tools.runAs.uid, gid: tools.runAs.gid } : {}),
    });
    const outputTail = (): string => tail(stderr, TAIL_LINES, options.noise) || tail(stdout);
    const killTimer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    }, options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout = appendBounded(stdout, c)));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = appendBounded(stderr, c);
      options.onStderr?.(c);
    });
    child.on('error', (err) => {
      clearTimeout(killTimer);
      reject(new PostgresToolError(tool, `could not run ${path}: ${err.message}`, '', false, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      const durationMs = Date.now() - started;
      if (code === 0 && !timedOut) {
        tools.logger?.debug({ tool, durationMs }, 'postgres tool finished');
        resolve({ stdout, stderr });
        return;
      }
      const problem = timedOut
        ? `timed out after ${options.timeoutMs} ms`
        : signal
          ? `killed by ${signal}`
          : `exited with code ${code}`;
      tools.logger?.warn({ tool, durationMs, code, signal, timedOut }, 'postgres tool failed');
      reject(new PostgresToolError(tool, problem, outputTail(), timedOut));
    });
  });
}
