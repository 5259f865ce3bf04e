/**
 * Process control: initdb, start, stop, promote, pg_basebackup, pg_rewind. Each takes `PgTools` (bin dir,
 * optional runAs, logger), has a deadline, and fails with a PostgresToolError quoting the tool's output.
 *
 * Start method: the postmaster is spawned directly (`postgres -D <dir> -c name=value ...`, as Patroni does),
 * detached into its own session, with stdout/stderr appended to a log file; readiness is read from
 * postmaster.pid's status line, which is exactly what `pg_ctl start -w` polls. Compared with pg_ctl:
 * arguments go through execve (pg_ctl pastes `-o` into a /bin/sh command line, so values would need
 * shell quoting), the pid is known at once, and the agent can be told when the postmaster exits (onExit)
 * to wake its loop. Detached, postgres outlives an agent crash, as under Patroni.
 */
import { spawn } from 'node:child_process';
import { promises as fs, openSync, closeSync, fchownSync, fstatSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConninfo, type LibpqSslOptions } from './conninfo';
import { isDataDirEmpty, prepareDataDir, writeOwnedFile } from './data-dir';
import { PostgresStateError, PostgresToolError } from './errors';
import { readPostmasterPid, status, isPostmasterAlive } from './postmaster';
import { isProgressLine, progressReader } from './progress';
import type { ProgressSample } from '../lib/progress';
import { runTool, tail, toolEnv, type PgTools, type ToolResult } from './tool';

export { status, readPostmasterPid, type PostmasterStatus, type PostmasterPidFile } from './postmaster';
export { writeStandbySignal, removeStandbySignal, removeDataDir, prepareDataDir, isDataDirEmpty } from './data-dir';
export type { PgTools, RunAs } from './tool';

const POLL_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------- initdb

/** initdb options pgha sets itself; also refused in `bootstrap.initdb`. */
const INITDB_OWNED = ['pgdata', 'pwfile', 'username'];
/** Refused in `bootstrap.initdb` as by Patroni (reference §5.2), on top of INITDB_OWNED. */
const INITDB_REFUSED = ['nosync', 'no-sync', 'sync-only', 'version'];

function longOptionName(arg: string): string | undefined {
  if (arg.startsWith('--')) return arg.slice(2).split('=')[0];
  const short: Record<string, string> = { '-D': 'pgdata', '-U': 'username', '-A': 'auth', '-N': 'no-sync', '-S': 'sync-only', '-V': 'version' };
  return short[arg.slice(0, 2)];
}

/** The problems with user-given initdb options (`bootstrap.initdb`), one sentence each. */
export function initdbArgsProblems(args: readonly string[]): string[] {
  return args
    .filter((a) => [...INITDB_OWNED, ...INITDB_REFUSED].includes(longOptionName(a) ?? ''))
    .map((a) => `initdb option ${a} is not allowed: pgha sets it, or it would make the cluster unsafe`);
}

/**
 * initdb's pg_hba methods unless `bootstrap.initdb` gives them (`auth`, `auth-local`, `auth-host`, passed on as
 * Patroni does): md5 on socket and TCP with a superuser password, peer/md5 without. Never trust by default; either
 * way the agent writes its own pg_hba.conf before the first start, so these lines only matter to initdb itself.
 */
export function defaultAuthArgs(userArgs: readonly string[], hasPassword: boolean): string[] {
  const given = new Set(userArgs.map((a) => longOptionName(a)));
  const out: string[] = [];
  if (!given.has('auth') && !given.has('auth-local')) out.push(hasPassword ? '--auth-local=md5' : '--auth-local=peer');
  if (!given.has('auth') && !given.has('auth-host')) out.push('--auth-host=md5');
  return out;
}

export interface InitdbOptions {
  timeoutSec?: number;
}

/**
 * Runs initdb on an empty (or missing) data dir. The superuser password goes through a temporary 0600
 * --pwfile. Authentication starts as md5 on both socket and TCP when there is a password (never trust; the
 * agent writes its own pg_hba.conf before the first start), and peer/md5 without one.
 */
export async function initdb(
  tools: PgTools,
  dataDir: string,
  args: readonly string[],
  superuser: { username: string; password?: string },
  options: InitdbOptions = {},
): Promise<ToolResult> {
  const owned = args.filter((a) => INITDB_OWNED.includes(longOptionName(a) ?? ''));
  if (owned.length > 0) throw new PostgresStateError('initdb_bad_args', `initdb: ${owned.join(' ')} cannot be given, pgha sets it`);
  await prepareDataDir(dataDir, tools.runAs);
  if (!(await isDataDirEmpty(dataDir))) throw new PostgresStateError('data_dir_not_empty', `initdb: data directory ${dataDir} is not empty`);

  const password = superuser.password || undefined;
  const pwDir = password === undefined ? undefined : await mkdtemp(join(tmpdir(), 'pgha-pw-'));
  try {
    const fullArgs = ['-D', dataDir, `--username=${superuser.username}`];
    if (pwDir !== undefined && password !== undefined) {
      const pwfile = join(pwDir, 'pwfile');
      if (tools.runAs && process.getuid?.() === 0) await fs.chown(pwDir, tools.runAs.uid, tools.runAs.gid);
      await writeOwnedFile(pwfile, `${password}\n`, tools.runAs);
      fullArgs.push(`--pwfile=${pwfile}`);
    }
    fullArgs.push(...defaultAuthArgs(args, password !== undefined));
    const started = Date.now();
    const result = await runTool(tools, 'initdb', [...fullArgs, ...args], { timeoutMs: (options.timeoutSec ?? 300) * 1000 });
    tools.logger?.info({ dataDir, durationMs: Date.now() - started }, 'initdb finished');
    return result;
  } finally {
    if (pwDir !== undefined) await fs.rm(pwDir, { recursive: true, force: true });
  }
}

// ----------------------------------------------------------------------------------------------- start

export interface StartOptions {
  /** GUCs for the command line (EffectiveParameters.commandLine): they win over postgresql.conf and ALTER SYSTEM. */
  parameters?: Readonly<Record<string, string>>;
  /** postgres' stdout/stderr, appended. Default `<dataDir>/postmaster.log`. */
  logFile?: string;
  /** How long to wait for "ready"/"standby". After that postgres is left running and `ready` is false. */
  timeoutSec: number;
  /** Called when the postmaster exits, for as long as this process lives. */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface StartResult {
  pid: number;
  /** Accepting connections (as primary, or as a hot standby that reached consistency). */
  ready: boolean;
}

/** The log's last lines written since `fromOffset` (this start's output, not earlier runs'). */
async function readLogTail(logFile: string, fromOffset: number): Promise<string> {
  try {
    const handle = await fs.open(logFile, 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(fromOffset, size - 8192);
      const buffer = Buffer.alloc(Math.max(0, size - start));
      await handle.read(buffer, 0, buffer.length, start);
      return tail(buffer.toString('utf8'));
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

function commandLineArgs(parameters: Readonly<Record<string, string>>): string[] {
  return Object.entries(parameters).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

/**
 * Starts postgres and waits until it accepts connections or `timeoutSec` passes. Throws when postgres is
 * already running, the data dir is not a cluster, or the postmaster exits during start (with the log tail).
 */
export async function start(tools: PgTools, dataDir: string, options: StartOptions): Promise<StartResult> {
  await fs.access(join(dataDir, 'PG_VERSION')).catch(() => {
    throw new PostgresStateError('data_dir_invalid', `cannot start postgres: ${dataDir} holds no cluster (no PG_VERSION)`);
  });
  await prepareDataDir(dataDir, tools.runAs);
  const before = await status(dataDir);
  if (before.running) throw new PostgresStateError('postgres_already_running', `postgres already runs on ${dataDir} (pid ${before.pid})`);
  // A stale pid file is harmless to postgres unless its pid now belongs to another process it cannot tell apart.
  if (before.pidFile) await fs.rm(join(dataDir, 'postmaster.pid'), { force: true });

  const logFile = options.logFile ?? join(dataDir, 'postmaster.log');
  const logFd = openSync(logFile, 'a', 0o600);
  if (tools.runAs && process.getuid?.() === 0) fchownSync(logFd, tools.runAs.uid, tools.runAs.gid);
  const logOffset = fstatSync(logFd).size;
  const started = Date.now();
  // Filled by the child's events; an object so the polling loop below reads fresh values.
  const events: { exit?: { code: number | null; signal: NodeJS.Signals | null }; error?: Error } = {};
  const child = spawn(join(tools.binDir, 'postgres'), ['-D', dataDir, ...commandLineArgs(options.parameters ?? {})], {
    cwd: '/',
    env: toolEnv(),
    detached: true,
    stdio: ['ignore', logFd, logFd],
    ...(tools.runAs ? { uid: tools.runAs.uid, gid: tools.runAs.gid } : {}),
  });
  closeSync(logFd);
  child.on('error', (err) => (events.error = err));
  child.on('exit', (code, signal) => {
    events.exit = { code, signal };
    tools.logger?.info({ dataDir, pid: child.pid, code, signal }, 'postmaster exited');
    options.onExit?.(code, signal);
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await sleep(0);
    throw new PostgresToolError('postgres', `could not run: ${events.error?.message ?? 'spawn failed'}`, '');
  }

  const deadline = started + options.timeoutSec * 1000;
  for (;;) {
    if (events.exit) {
      const { code, signal } = events.exit;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      throw new PostgresToolError('postgres', `${how} while starting (log: ${logFile})`, await readLogTail(logFile, logOffset));
    }
    const pidFile = await readPostmasterPid(dataDir).catch(() => undefined);
    if (pidFile && pidFile.pid === pid && (pidFile.status === 'ready' || pidFile.status === 'standby')) {
      tools.logger?.info({ dataDir, pid, state: pidFile.status, durationMs: Date.now() - started }, 'postgres started');
      return { pid, ready: true };
    }
    if (Date.now() > deadline) {
      tools.logger?.warn({ dataDir, pid, timeoutSec: options.timeoutSec }, 'postgres not ready before start timeout');
      return { pid, ready: false };
    }
    await sleep(POLL_MS);
  }
}

// ------------------------------------------------------------------------------------------------ stop

export type StopMode = 'smart' | 'fast' | 'immediate';

/** Shutdown signals to the postmaster (reference §6.3): smart = SIGTERM, fast = SIGINT, immediate = SIGQUIT. */
const STOP_SIGNALS: Record<StopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

export interface StopResult {
  wasRunning: boolean;
  pid?: number;
}

/** Waits until the process is gone; true if it went before the deadline. */
async function waitForExit(pid: number, dataDir: string, deadline: number): Promise<boolean> {
  for (;;) {
    if (!(await isPostmasterAlive(pid, dataDir))) return true;
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
}

/**
 * Stops postgres by signalling the postmaster and waits until the process is gone. A postgres that is not
 * running is not an error (`wasRunning: false`). Throws a retryable error at the deadline, leaving the
 * shutdown in progress: the caller may escalate to a faster mode.
 */
export async function stop(tools: PgTools, dataDir: string, mode: StopMode, timeoutSec: number): Promise<StopResult> {
  const st = await status(dataDir);
  if (!st.running || st.pid === undefined) return { wasRunning: false };
  const pid = st.pid;
  const started = Date.now();
  try {
    process.kill(pid, STOP_SIGNALS[mode]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return { wasRunning: false };
    throw new PostgresStateError('postgres_stop_failed', `cannot signal postmaster ${pid} on ${dataDir}: ${(err as Error).message}`);
  }
  if (!(await waitForExit(pid, dataDir, started + timeoutSec * 1000))) {
    throw new PostgresStateError('postgres_stop_timeout', `postgres on ${dataDir} (pid ${pid}) did not stop within ${timeoutSec} s (mode ${mode})`, true);
  }
  tools.logger?.info({ dataDir, pid, mode, durationMs: Date.now() - started }, 'postgres stopped');
  return { wasRunning: true, pid };
}

// ---------------------------------------------------------------------------------------------- reload

/**
 * SIGHUP to the postmaster: re-reads postgresql.conf and pg_hba.conf (what `pg_ctl reload` does). Returns
 * false when postgres is not running. Settings that need a restart show up as pendingRestart in the probe.
 */
export async function reload(tools: PgTools, dataDir: string): Promise<boolean> {
  const st = await status(dataDir);
  if (!st.running || st.pid === undefined) return false;
  try {
    process.kill(st.pid, 'SIGHUP');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw new PostgresStateError('postgres_reload_failed', `cannot signal postmaster ${st.pid} on ${dataDir}: ${(err as Error).message}`);
  }
  tools.logger?.info({ dataDir, pid: st.pid }, 'postgres reloaded');
  return true;
}

// --------------------------------------------------------------------------------------------- promote

/** `pg_ctl promote -w`: returns once the server runs read-write (end of recovery written). */
export async function promote(tools: PgTools, dataDir: string, timeoutSec = 60): Promise<void> {
  const started = Date.now();
  await runTool(tools, 'pg_ctl', ['promote', '-w', '-t', String(timeoutSec), '-D', dataDir], { timeoutMs: (timeoutSec + 5) * 1000 });
  tools.logger?.info({ dataDir, durationMs: Date.now() - started }, 'postgres promoted');
}

// ---------------------------------------------------------------------------------- basebackup, rewind

export interface SourceConnection extends LibpqSslOptions {
  host: string;
  port: number;
  user: string;
  dbname?: string;
  applicationName?: string;
}

/** The keyword/value DSN of a source server, without password (that comes from PGPASSFILE). */
export function sourceDsn(source: SourceConnection): string {
  const { host, port, user, dbname, applicationName, ...ssl } = source;
  return buildConninfo({ dbname: dbname ?? 'postgres', user, host, port, application_name: applicationName, ...ssl });
}

/** Options refused in `postgresql.basebackup` (reference §6.1): pgha sets them or they break the clone. */
const BASEBACKUP_REFUSED = ['pgdata', 'format', 'wal-method', 'xlog-method', 'gzip', 'version', 'dbname', 'host', 'port', 'username', 'password'];

export function basebackupArgsProblems(args: readonly string[]): string[] {
  const problems: string[] = [];
  for (const arg of args) {
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0]! : '';
    if (BASEBACKUP_REFUSED.includes(name)) problems.push(`pg_basebackup option ${arg} is not allowed: pgha sets it`);
    if (name === 'compress' && !/^--compress=server-/.test(arg)) problems.push(`pg_basebackup option ${arg}: only server-side compression (--compress=server-...) works with a plain-format clone`);
  }
  return problems;
}

export interface BasebackupOptions {
  dataDir: string;
  source: SourceConnection;
  /** pgpass file with the replication user's password (0600, owned by the postgres user). */
  pgpassFile: string;
  /** `postgresql.basebackup` options, e.g. ['--max-rate=100M'] or ['--slot=node2']. */
  extraArgs?: readonly string[];
  timeoutSec: number;
  /** Progress from `--progress` output (adds a size estimate pass on the source). */
  onProgress?: (progress: ProgressSample) => void;
}

/**
 * Clones the source into an empty data dir: `pg_basebackup --pgdata -X stream --checkpoint=fast
 * --dbname=<dsn>`, the password from PGPASSFILE. pg_basebackup removes what it wrote when it fails.
 */
export async function basebackup(tools: PgTools, options: BasebackupOptions): Promise<ToolResult> {
  await prepareDataDir(options.dataDir, tools.runAs);
  if (!(await isDataDirEmpty(options.dataDir))) {
    throw new PostgresStateError('data_dir_not_empty', `pg_basebackup: data directory ${options.dataDir} is not empty`);
  }
  const args = [
    `--pgdata=${options.dataDir}`,
    '--wal-method=stream',
    '--checkpoint=fast',
    `--dbname=${sourceDsn(options.source)}`,
    ...(options.onProgress ? ['--progress'] : []),
    ...(options.extraArgs ?? []),
  ];
  const onProgress = options.onProgress;
  const started = Date.now();
  const result = await runTool(tools, 'pg_basebackup', args, {
    timeoutMs: options.timeoutSec * 1000,
    env: { PGPASSFILE: options.pgpassFile },
    noise: isProgressLine,
    ...(onProgress ? { onStderr: progressReader(onProgress) } : {}),
  });
  // Cloned files keep the source's modes; postgres wants the dir at 0700 (or 0750) and owned by its user.
  await prepareDataDir(options.dataDir, tools.runAs);
  tools.logger?.info({ dataDir: options.dataDir, source: `${options.source.host}:${options.source.port}`, durationMs: Date.now() - started }, 'basebackup finished');
  return result;
}

export interface RewindOptions {
  dataDir: string;
  /** libpq DSN of the source (a running primary), without password: see sourceDsn(). */
  sourceDsn: string;
  pgpassFile: string;
  extraArgs?: readonly string[];
  timeoutSec?: number;
  /** Progress from `--progress` output: how much of what differs has been copied. */
  onProgress?: (progress: ProgressSample) => void;
}

/**
 * `pg_rewind -D <dataDir> --source-server=<dsn>` on a cleanly stopped data dir. statement_timeout is
 * disabled for its session (PGOPTIONS), as Patroni does: the file copies can take long.
 */
export async function rewind(tools: PgTools, options: RewindOptions): Promise<ToolResult> {
  const st = await status(options.dataDir);
  if (st.running) throw new PostgresStateError('postgres_running', `pg_rewind: postgres still runs on ${options.dataDir} (pid ${st.pid})`);
  const started = Date.now();
  const result = await runTool(
    tools,
    'pg_rewind',
    ['-D', options.dataDir, `--source-server=${options.sourceDsn}`, ...(options.onProgress ? ['--progress'] : []), ...(options.extraArgs ?? [])],
    {
      timeoutMs: (options.timeoutSec ?? 3600) * 1000,
      env: { PGPASSFILE: options.pgpassFile, PGOPTIONS: '-c statement_timeout=0' },
      noise: isProgressLine,
      ...(options.onProgress ? { onStderr: progressReader(options.onProgress) } : {}),
    },
  );
  tools.logger?.info({ dataDir: options.dataDir, durationMs: Date.now() - started }, 'rewind finished');
  return result;
}
