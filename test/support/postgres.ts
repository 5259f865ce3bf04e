/**
 * Real PostgreSQL servers for integration tests, built with pgha's own src/postgres functions: a primary
 * (initdb as the postgres OS user, pgha's pg_hba with the seed's lines, roles with password `test%123`)
 * and streaming replicas (pg_basebackup + pgpass + slot + standby.signal).
 *
 * Every server is registered: if a test process ends without destroying one (a crash, a failed
 * assertion before t.after ran), an exit handler stops it by the PID in postmaster.pid and removes its files.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { findBinDir } from '../../src/postgres/bin';
import { renderPgHba, renderPostgresqlConf, renderRecoverySettings } from '../../src/postgres/config-files';
import { effectiveParameters, type GucMap } from '../../src/postgres/parameters';
import { primaryConninfo, renderPgpass } from '../../src/postgres/conninfo';
import type { PgConnection } from '../../src/postgres/connection';
import { writePgHba, writePgpassFile, writePostgresqlConf, removeRecoverySettingsFromAutoConf } from '../../src/postgres/data-dir';
import { basebackup, initdb, start, stop, status, writeStandbySignal, type PgTools, type StopMode } from '../../src/postgres/pgctl';
import { createOrAlterRoles, ensurePhysicalSlots, replicationRole } from '../../src/postgres/sql';
import { slotNameFromMemberName } from '../../src/model/keys';
import { freePort } from './ports';
import { postgresUser, tempDir } from './tmp';

export const TEST_PASSWORD = 'test%123';
/** The seed's pg_hba lines, narrowed to loopback. */
export const SEED_HBA_LINES = ['host replication rep 127.0.0.1/32 md5', 'host all all 0.0.0.0/0 md5'];
const START_TIMEOUT_SEC = 60;
const STOP_TIMEOUT_SEC = 60;

export interface TestPostgres {
  name: string;
  port: number;
  /** The directory holding data/, pgpass and postgres.log. */
  baseDir: string;
  dataDir: string;
  logFile: string;
  pgpassFile: string;
  superuser: { username: string; password: string };
  replication: { username: string; password: string };
  tools: PgTools;
  /** Every effective parameter (written to postgresql.conf). */
  parameters: Record<string, string>;
  /** The protected subset, passed on the command line by start(). */
  commandLine: Record<string, string>;
  /** A superuser connection over loopback TCP (pass `user`/`password`/`database` to change). */
  conn(overrides?: Partial<PgConnection>): PgConnection;
  /** Starts again after stop() or kill(); waits until it accepts connections. */
  start(): Promise<void>;
  stop(mode?: StopMode): Promise<void>;
  /** SIGKILL to the postmaster: a crash. */
  kill(): Promise<void>;
  /** Stops (immediate) if running and removes every file. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface InitPrimaryOptions {
  name?: string;
  port?: number;
  /** For the superuser `admin` and the replication user `rep`. Default `test%123`. */
  password?: string;
  initdbArgs?: string[];
  /** Extra dynamic GUCs (max_wal_senders, ...). */
  parameters?: GucMap;
  /**
   * Default: the node's base dir, outside the data dir. The seed's `'.'` (the data dir) works for
   * connections but makes pg_rewind from this server fail (it tries to copy the socket file).
   */
  unixSocketDirectories?: string;
}

// ------------------------------------------------------------------------------ leftovers on exit

const live = new Set<string>();
let exitHandlerInstalled = false;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Synchronous (exit handlers cannot await): SIGQUIT the postmaster, wait up to 5 s, SIGKILL, remove files. */
function killLeftoverSync(baseDir: string): void {
  try {
    const pid = Number(readFileSync(join(baseDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (pid > 0 && pidAlive(pid)) {
      process.kill(pid, 'SIGQUIT');
      for (let i = 0; i < 50 && pidAlive(pid); i++) sleepSync(100);
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  } catch {
    // no pid file: not running
  }
  rmSync(baseDir, { recursive: true, force: true });
}

function register(baseDir: string): void {
  live.add(baseDir);
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const dir of live) killLeftoverSync(dir);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  }
}

// -------------------------------------------------------------------------------------- building

function testTools(): PgTools {
  return { binDir: findBinDir(process.env.PGHA_TEST_PG_BIN_DIR), runAs: postgresUser() };
}

interface NodeSetup {
  name: string;
  port: number;
  password: string;
  parameters?: GucMap;
  unixSocketDirectories?: string;
}

/** Lays out a node's directory and its handle; the caller fills data/ (initdb or basebackup). */
async function newNode(setup: NodeSetup): Promise<TestPostgres> {
  const baseDir = tempDir(`pg-${setup.name}`);
  register(baseDir);
  const tools = testTools();
  const dataDir = join(baseDir, 'data');
  const superuser = { username: 'admin', password: setup.password };
  const replication = { username: 'rep', password: setup.password };
  const effective = effectiveParameters(
    // Local: fsync off for speed (commits still write WAL at once, so flush LSNs stay meaningful).
    { unix_socket_directories: setup.unixSocketDirectories ?? baseDir, fsync: 'off', shared_buffers: '16MB', log_line_prefix: '%m [%p] ' },
    { max_wal_senders: 10, max_replication_slots: 10, ...(setup.parameters ?? {}) },
    { listenAddresses: '127.0.0.1', port: setup.port, scope: 'pgha-test' },
  );
  const node: TestPostgres = {
    name: setup.name,
    port: setup.port,
    baseDir,
    dataDir,
    logFile: join(baseDir, 'postgres.log'),
    pgpassFile: join(baseDir, 'pgpass'),
    superuser,
    replication,
    tools,
    parameters: effective.parameters,
    commandLine: effective.commandLine,
    conn: (overrides = {}) => ({
      host: '127.0.0.1',
      port: setup.port,
      user: superuser.username,
      password: superuser.password,
      database: 'postgres',
      ...overrides,
    }),
    async start() {
      const result = await start(tools, dataDir, { parameters: effective.commandLine, logFile: node.logFile, timeoutSec: START_TIMEOUT_SEC });
      if (!result.ready) throw new Error(`${setup.name}: postgres did not get ready within ${START_TIMEOUT_SEC} s (log ${node.logFile})`);
    },
    async stop(mode: StopMode = 'fast') {
      await stop(tools, dataDir, mode, STOP_TIMEOUT_SEC);
    },
    async kill() {
      const st = await status(dataDir);
      if (st.pid !== undefined) process.kill(st.pid, 'SIGKILL');
    },
    async destroy() {
      if (!live.has(baseDir)) return;
      await stop(tools, dataDir, 'immediate', STOP_TIMEOUT_SEC).catch(() => undefined);
      live.delete(baseDir);
      killLeftoverSync(baseDir);
    },
  };
  await writePgpassFile(
    node.pgpassFile,
    renderPgpass([
      { host: '127.0.0.1', port: '*', user: replication.username, password: replication.password },
      { host: '127.0.0.1', port: '*', user: superuser.username, password: superuser.password },
    ]),
    tools.runAs,
  );
  return node;
}

async function writeConfig(node: TestPostgres, recovery?: string): Promise<void> {
  await writePostgresqlConf(node.dataDir, renderPostgresqlConf(node.parameters, { recovery }), node.tools.runAs);
  await writePgHba(
    node.dataDir,
    renderPgHba({ userLines: SEED_HBA_LINES, superuser: node.superuser, replication: node.replication }),
    node.tools.runAs,
  );
}

/** initdb (`--encoding=UTF8 --data-checksums` as in the seed), pgha's config files, start, replication role. */
export async function initPrimary(options: InitPrimaryOptions = {}): Promise<TestPostgres> {
  const node = await newNode({
    name: options.name ?? 'primary',
    port: options.port ?? (await freePort()),
    password: options.password ?? TEST_PASSWORD,
    parameters: options.parameters,
    unixSocketDirectories: options.unixSocketDirectories,
  });
  try {
    await initdb(node.tools, node.dataDir, options.initdbArgs ?? ['--encoding=UTF8', '--data-checksums', '--no-sync'], node.superuser);
    await writeConfig(node);
    await node.start();
    await createOrAlterRoles(node.conn(), [replicationRole(node.replication)]);
    return node;
  } catch (err) {
    await node.destroy();
    throw err;
  }
}

export interface ReplicaOptions {
  name?: string;
  port?: number;
  /** Use a physical slot named after the member (created on the primary first). Default true. */
  slot?: boolean;
}

/** pg_basebackup from `primary` with the pgpass file, then primary_conninfo/slot + standby.signal, start. */
export async function startReplicaOf(primary: TestPostgres, options: ReplicaOptions = {}): Promise<TestPostgres> {
  const name = options.name ?? 'replica1';
  const node = await newNode({ name, port: options.port ?? (await freePort()), password: primary.superuser.password });
  try {
    const slot = options.slot === false ? undefined : slotNameFromMemberName(name);
    if (slot) await ensurePhysicalSlots(primary.conn(), [slot]);
    await basebackup(node.tools, {
      dataDir: node.dataDir,
      source: { host: '127.0.0.1', port: primary.port, user: primary.replication.username },
      pgpassFile: node.pgpassFile,
      extraArgs: slot ? [`--slot=${slot}`] : [],
      timeoutSec: 120,
    });
    await followPrimary(node, primary, slot);
    await node.start();
    return node;
  } catch (err) {
    await node.destroy();
    throw err;
  }
}

/** Writes a replica's config (conninfo with passfile, slot) and standby.signal; postgres must be stopped. */
export async function followPrimary(node: TestPostgres, primary: Pick<TestPostgres, 'port'>, slot?: string): Promise<void> {
  const recovery = renderRecoverySettings({
    primaryConninfo: primaryConninfo({
      host: '127.0.0.1',
      port: primary.port,
      user: node.replication.username,
      passfile: node.pgpassFile,
      applicationName: node.name,
    }),
    primarySlotName: slot,
  });
  await writeConfig(node, recovery);
  await removeRecoverySettingsFromAutoConf(node.dataDir, node.tools.runAs);
  await writeStandbySignal(node.dataDir, node.tools.runAs);
}
