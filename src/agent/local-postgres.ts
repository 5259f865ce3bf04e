/**
 * PostgresOps over src/postgres: the agent's hands on its own PostgreSQL. Holds no HA logic; every decision is
 * decide()'s. Files are (re)written on each configure() so a node converges to what the config says.
 */
import { existsSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentConfig, DynamicConfig } from '../config/types';
import type { Logger } from '../log/logger';
import { slotNameFromMemberName } from '../model/keys';
import type { PostgresProbe } from '../model/postgres-state';
import { knownParameters, binaryVersion } from '../postgres/bin';
import { effectiveParameters, renderPgHba, renderPostgresqlConf, renderRecoverySettings, BASE_CONF } from '../postgres/config-files';
import { primaryConninfo, renderPgpass } from '../postgres/conninfo';
import { controlData } from '../postgres/controldata';
import {
  removeRecoverySettingsFromAutoConf, writePgHba, writePgpassFile, writePostgresqlConf, isDataDirEmpty, removeDataDir,
  writeStandbySignal, removeStandbySignal,
} from '../postgres/data-dir';
import { localSuperuserConnection } from '../postgres/local-connection';
import * as pgctl from '../postgres/pgctl';
import { checkpointRecordEnd } from '../postgres/waldump';
import { rewindGrantsSql, rewindRole } from '../postgres/rewind-role';
import type { Lsn } from '../model/lsn';
import { probePostgres } from '../postgres/probe';
import {
  answersAsPrimary, bootstrapUserRoles, checkpoint, createOrAlterRoles, dropSlots, ensurePhysicalSlots, newestTimelineHistory,
  nudgeSyncStandby, replicationRole, superuserRole, timelineHistory, timelineHistoryFile,
} from '../postgres/sql';
import type { PgConnection } from '../postgres/connection';
import { STRICT_PLACEHOLDER } from './decide-sync';
import type { DataDirState } from './observation';
import { PghaError } from '../lib/errors';
import type { ControlData, OnCopyProgress, PostgresOps, Upstream } from './postgres-ops';
import type { MethodOps } from './method-ops';
import { type RestorePlan, patroniDsn } from './replica-methods';
import { runCommand, type CommandResult } from '../postgres/command';
import { effectiveRecoveryConf } from '../config/recovery-conf';
import { applyRestoreSignal, removePromoteTrigger, renderRestoreRecovery, restoreTrustLines } from '../postgres/restore-files';
import { ProgressMeter, type ProgressSample } from '../lib/progress';
import { isProgressLine } from '../postgres/progress';
import { tail } from '../postgres/tool';

/** pg_basebackup of a large database can take hours; the loop keeps ticking meanwhile. */
const BASEBACKUP_TIMEOUT_SEC = 6 * 3600;

/**
 * A copy tool's progress handler: measures the rate, logs `message` at the meter's cadence (each 10%, every 30 s)
 * with percent, doneKb, totalKb, rateKbPerSec, elapsedMs and etaSec, and passes every report on.
 */
function copyProgress(log: Logger, message: string, source: string, onProgress?: OnCopyProgress): (sample: ProgressSample) => void {
  const meter = new ProgressMeter(performance.now());
  return (sample) => {
    const now = performance.now();
    const report = meter.update(sample, now);
    if (meter.shouldLog(report, now)) log.info({ source, ...report }, message);
    onProgress?.(report);
  };
}

export class LocalPostgresOps implements PostgresOps, MethodOps {
  private dynamic: DynamicConfig | undefined;
  private following: string | undefined;
  private known: Set<string> | undefined;
  private version: number | undefined;
  private readonly tools: pgctl.PgTools;
  private syncNames: string | undefined;
  private lastTarget: { role: 'primary' } | { role: 'replica'; upstream?: Upstream } | undefined;
  /** Set during a custom bootstrap: the restored data directory's recovery settings (MethodOps). */
  private restorePlan: RestorePlan | undefined;

  constructor(private readonly config: AgentConfig, private readonly log: Logger, private readonly onPostmasterExit?: () => void) {
    this.tools = { binDir: config.postgresql.binDir, logger: log };
  }

  private get pg() {
    return this.config.postgresql;
  }

  useDynamic(dynamic: DynamicConfig): void {
    this.dynamic = dynamic;
  }

  private async parameters() {
    // Unknown parameters are then all written as given (postgres itself refuses a wrong one at start).
    this.known ??= await knownParameters(this.pg.binDir).catch((err: unknown) => void this.log.warn({ err }, 'listing the parameters postgres knows failed'));
    const eff = effectiveParameters(this.pg.parameters, this.dynamic?.postgresql.parameters ?? {}, {
      listenAddresses: this.pg.listen.hosts.join(','),
      port: this.pg.listen.port,
      scope: this.config.scope,
      dataDir: this.pg.dataDir,
      ...(this.known ? { knownParameters: this.known } : {}),
    });
    if (this.syncNames !== undefined) eff.parameters.synchronous_standby_names = this.syncNames;
    if (this.restorePlan?.hotStandbyOff) eff.commandLine = { ...eff.commandLine, hot_standby: 'off' };
    return eff;
  }

  private async connection(overrides: Partial<PgConnection> = {}): Promise<PgConnection> {
    return localSuperuserConnection(this.pg, (await this.parameters()).parameters, overrides);
  }

  async dataDirState(): Promise<DataDirState> {
    if (!existsSync(this.pg.dataDir)) return 'missing';
    if (await isDataDirEmpty(this.pg.dataDir)) return 'empty';
    return 'initialized';
  }

  async controlData(): Promise<ControlData | undefined> {
    if (!existsSync(join(this.pg.dataDir, 'global', 'pg_control'))) return undefined;
    const c = await controlData(this.tools, this.pg.dataDir);
    return {
      systemId: c.systemId, clusterState: c.clusterState, timeline: c.timeline,
      checkpointLsn: c.checkpointLsn, minRecoveryEndLsn: c.minRecoveryEndLsn, minRecoveryEndTimeline: c.minRecoveryEndTimeline,
    };
  }

  checkpointEnd(timeline: number, lsn: Lsn): Promise<Lsn | undefined> {
    return checkpointRecordEnd(this.tools, this.pg.dataDir, timeline, lsn);
  }

  async isRunning(): Promise<boolean> {
    return (await pgctl.status(this.pg.dataDir)).running;
  }

  async probe(): Promise<PostgresProbe> {
    const { error: _error, ...probe } = await probePostgres(await this.connection({ connectTimeoutMs: 2000, statementTimeoutMs: 2000 }));
    return probe;
  }

  async hasStandbySignal(): Promise<boolean> {
    return existsSync(join(this.pg.dataDir, 'standby.signal'));
  }

  followingHostPort(): string | undefined {
    return this.following;
  }

  async initdb(): Promise<void> {
    await pgctl.initdb(this.tools, this.pg.dataDir, this.config.bootstrap.initdbArgs, this.pg.authentication.superuser);
  }

  /**
   * Also on a replica about to be promoted (claim_sync sets `*` first in strict mode): the value stays until the next
   * configure() as a replica, so the promotion's configure() as primary keeps it.
   */
  async setSyncStandbyNames(value: string | undefined): Promise<void> {
    if (value === this.syncNames) return;
    this.syncNames = value;
    await this.writeConfig(this.lastTarget ?? { role: 'primary' });
    await this.reload();
    // Not awaited: the HA cycle goes on; a failed nudge only means waiting commits wait for the standby's next
    // status reply (wal_receiver_status_interval).
    if (value && value !== STRICT_PLACEHOLDER && this.lastTarget?.role !== 'replica') void this.nudgeSyncStandby(value);
  }

  private async nudgeSyncStandby(value: string): Promise<void> {
    try {
      const nudged = await nudgeSyncStandby(await this.connection({ connectTimeoutMs: 2000, statementTimeoutMs: 2000 }), 3000);
      this.log.debug({ synchronousStandbyNames: value, nudged }, 'synchronous standby nudged');
    } catch (err) {
      this.log.debug({ synchronousStandbyNames: value, err }, 'synchronous standby not nudged');
    }
  }

  async configure(target: { role: 'primary' } | { role: 'replica'; upstream?: Upstream }): Promise<void> {
    if (target.role === 'replica') this.syncNames = undefined;
    await this.writeConfig(target);
  }

  private async writeConfig(target: { role: 'primary' } | { role: 'replica'; upstream?: Upstream }): Promise<void> {
    const dataDir = this.pg.dataDir;
    this.lastTarget = target;
    const eff = await this.parameters();
    for (const note of eff.notes) this.log.debug({ note }, 'parameter adjusted');
    this.version ??= await binaryVersion(this.pg.binDir).catch((err: unknown) => {
      this.log.warn({ err }, 'reading the postgres binary version failed; assuming 15');
      return 150000;
    });
    const base = join(dataDir, BASE_CONF);
    const conf = join(dataDir, 'postgresql.conf');
    if (!existsSync(base) && existsSync(conf)) await fs.rename(conf, base);
    let recovery: string | undefined;
    if (target.role === 'replica') {
      const up = target.upstream;
      recovery = renderRecoverySettings({
        ...(up
          ? {
              primaryConninfo: primaryConninfo({
                host: up.host, port: up.port, user: this.pg.authentication.replication.username, passfile: this.pg.pgpass,
                applicationName: this.config.name, serverVersion: this.version, ...(this.pg.authentication.replication.libpq ?? {}),
              }),
            }
          : {}),
        ...(this.dynamic?.postgresql.useSlots !== false && up ? { primarySlotName: slotNameFromMemberName(this.config.name) } : {}),
        extra: effectiveRecoveryConf(this.pg.recoveryConf, this.dynamic?.postgresql.recoveryConf),
      });
    }
    const restore = target.role === 'primary' ? this.restorePlan : undefined;
    if (restore && Object.keys(restore.settings).length > 0) recovery = renderRestoreRecovery(restore.settings);
    await writePostgresqlConf(dataDir, renderPostgresqlConf(eff.parameters, recovery ? { recovery } : {}));
    if (!restore?.keepExisting) await removeRecoverySettingsFromAutoConf(dataDir);
    const trusted = restore ? restoreTrustLines(this.pg.authentication.superuser.username).join('\n') + '\n' : '';
    await writePgHba(dataDir, trusted + renderPgHba({
      userLines: this.pg.pgHba ?? this.dynamic?.postgresql.pgHba ?? this.config.bootstrap.pgHba,
      superuser: this.pg.authentication.superuser,
      replication: this.pg.authentication.replication,
      ...(this.pg.authentication.rewind ? { rewind: this.pg.authentication.rewind } : {}),
    }));
    await this.writePgpass();
    if (target.role === 'replica') await writeStandbySignal(dataDir);
    else if (restore) await applyRestoreSignal(dataDir, restore.signal, restore.keepExisting);
    else await removeStandbySignal(dataDir);
    this.following = target.role === 'replica' && target.upstream ? `${target.upstream.host}:${target.upstream.port}` : undefined;
  }

  /** One pgpass for every tool and for primary_conninfo's passfile: superuser, replication and rewind users. */
  private async writePgpass(): Promise<void> {
    const auth = this.pg.authentication;
    const entries = [auth.replication, auth.superuser, ...(auth.rewind ? [auth.rewind] : [])]
      .filter((c) => c.password !== undefined)
      .map((c) => ({ host: '*', port: '*' as const, user: c.username, password: c.password! }));
    await fs.mkdir(dirname(this.pg.pgpass), { recursive: true });
    await writePgpassFile(this.pg.pgpass, renderPgpass(entries));
  }

  async start(): Promise<void> {
    const eff = await this.parameters();
    const result = await pgctl.start(this.tools, this.pg.dataDir, {
      parameters: eff.commandLine,
      timeoutSec: this.pg.pgCtlTimeoutSeconds,
      onExit: () => this.onPostmasterExit?.(),
    });
    if (!result.ready) this.log.warn({ pid: result.pid }, 'postgres started but is not accepting connections yet');
  }

  async stop(mode: 'smart' | 'fast' | 'immediate', timeoutMs: number): Promise<void> {
    await pgctl.stop(this.tools, this.pg.dataDir, mode, Math.max(1, Math.ceil(timeoutMs / 1000)));
  }

  async reload(): Promise<void> {
    const st = await pgctl.status(this.pg.dataDir);
    if (st.running && st.pid) process.kill(st.pid, 'SIGHUP');
  }

  async promote(): Promise<void> {
    await pgctl.promote(this.tools, this.pg.dataDir);
  }

  async checkpoint(): Promise<void> {
    await checkpoint(await this.connection({ statementTimeoutMs: 0 }));
  }

  async timelineHistory(timeline: number): Promise<Array<[number, number, string]>> {
    return timelineHistory(await this.connection({ connectTimeoutMs: 2000, statementTimeoutMs: 2000 }), timeline);
  }

  async newestTimelineHistory(): Promise<Array<[number, number, string]> | undefined> {
    const h = await newestTimelineHistory(await this.connection({ connectTimeoutMs: 2000, statementTimeoutMs: 2000 }));
    return h?.lines;
  }

  async writeTimelineHistory(timeline: number, content: string): Promise<boolean> {
    try {
      await fs.writeFile(join(this.pg.dataDir, timelineHistoryFile(timeline)), content, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  async upstreamIsPrimary(upstream: Upstream): Promise<boolean> {
    await this.writePgpass();
    const auth = this.pg.authentication.rewind ?? this.pg.authentication.superuser;
    return answersAsPrimary({
      host: upstream.host, port: upstream.port, user: auth.username, database: this.pg.database,
      ...(auth.password !== undefined ? { password: auth.password } : {}), connectTimeoutMs: 3000, statementTimeoutMs: 3000,
    });
  }

  async basebackup(from: Upstream, onProgress?: OnCopyProgress): Promise<void> {
    await this.writePgpass();
    await pgctl.basebackup(this.tools, {
      dataDir: this.pg.dataDir,
      source: { host: from.host, port: from.port, user: this.pg.authentication.replication.username, applicationName: this.config.name },
      pgpassFile: this.pg.pgpass,
      extraArgs: this.pg.basebackupArgs,
      timeoutSec: BASEBACKUP_TIMEOUT_SEC,
      onProgress: copyProgress(this.log, 'basebackup progress', from.name, onProgress),
    });
  }

  async rewind(from: Upstream, onProgress?: OnCopyProgress): Promise<boolean> {
    await this.writePgpass();
    const user = (this.pg.authentication.rewind ?? this.pg.authentication.superuser).username;
    try {
      const r = await pgctl.rewind(this.tools, {
        dataDir: this.pg.dataDir,
        sourceDsn: pgctl.sourceDsn({ host: from.host, port: from.port, user, dbname: this.pg.database }),
        pgpassFile: this.pg.pgpass,
        onProgress: copyProgress(this.log, 'rewind progress', from.name, onProgress),
      });
      this.log.info({ source: from.name, output: tail(`${r.stdout}\n${r.stderr}`, 8, isProgressLine) }, 'pg_rewind finished');
      return true;
    } catch (err) {
      this.log.warn({ source: from.name, err }, 'pg_rewind failed');
      return false;
    }
  }

  async wipeDataDir(): Promise<void> {
    await removeDataDir(this.pg.dataDir);
    this.following = undefined;
  }

  async moveDataDirAside(): Promise<string> {
    const aside = `${this.pg.dataDir}.diverged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await fs.rename(this.pg.dataDir, aside);
    } catch (err) {
      throw new PghaError('rewind_failed', `pg_rewind failed and ${this.pg.dataDir} cannot be moved aside (${String(err)}): ` +
        `run \`pgha ctl reinit ${this.config.scope} ${this.config.name}\` or set remove_data_directory_on_rewind_failure`, false, { cause: err });
    }
    await fs.mkdir(this.pg.dataDir, { mode: 0o700 });
    this.following = undefined;
    return aside;
  }

  async createRoles(): Promise<void> {
    const auth = this.pg.authentication;
    const skip = [auth.superuser.username, auth.replication.username, ...(auth.rewind ? [auth.rewind.username] : [])];
    // Patroni creates the rewind user only when it differs from the superuser (who needs no grants).
    const rewinder = auth.rewind && auth.rewind.username !== auth.superuser.username ? auth.rewind : undefined;
    await createOrAlterRoles(await this.connection(), [
      superuserRole(auth.superuser),
      replicationRole(auth.replication),
      ...(rewinder ? [rewindRole(rewinder)] : []),
      ...bootstrapUserRoles(this.config.bootstrap.users, skip),
    ], rewinder ? rewindGrantsSql(rewinder.username) : []);
  }

  async ensureSlots(names: string[]): Promise<void> {
    const created = await ensurePhysicalSlots(await this.connection(), names);
    if (created.length) this.log.info({ slots: created }, 'replication slots created');
  }

  async dropSlots(names: string[]): Promise<void> {
    const r = await dropSlots(await this.connection(), names);
    if (r.dropped.length) this.log.info({ slots: r.dropped }, 'replication slots dropped');
  }

  // ------------------------------------------------------------------ MethodOps (replica methods, custom bootstrap)

  runCommand(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<CommandResult> {
    return runCommand(argv, { env, timeoutMs });
  }

  async pgpassEnv(): Promise<Record<string, string>> {
    await this.writePgpass();
    return { PGPASSFILE: this.pg.pgpass };
  }

  replicationDsn(upstream: Upstream): string {
    const rep = this.pg.authentication.replication;
    return patroniDsn({ dbname: this.pg.database, user: rep.username, host: upstream.host, port: upstream.port, ...(rep.libpq ?? {}) });
  }

  async superuserDsn(): Promise<string> {
    const c = await this.connection();
    const su = this.pg.authentication.superuser;
    return patroniDsn({ dbname: this.pg.database, user: su.username, host: c.host, port: c.port, ...(su.libpq ?? {}) });
  }

  setRestorePlan(plan: RestorePlan | undefined): void {
    this.restorePlan = plan;
  }

  removePromoteTrigger(): Promise<void> {
    return removePromoteTrigger(this.pg.dataDir);
  }

  ensureDataDir(): Promise<void> {
    return pgctl.prepareDataDir(this.pg.dataDir, this.tools.runAs);
  }
}
