/**
 * The dynamic configuration the agent runs on, and its copy in `<data_dir>/patroni.dynamic.json`.
 *
 * - The `config` key is applied field by field, as Patroni applies it: a field that cannot be read keeps its last
 *   good value and a warning names it; the other fields apply (one bad `ttl` must not hold back a `max_connections`
 *   change). Timing values that break `loop_wait + 2*retry_timeout <= ttl` are lowered (adjustTiming), not refused.
 * - Patroni caches the dynamic configuration in the data directory (config.py save_cache/_load_cache): it is read at
 *   start, so an agent that cannot reach etcd runs on the cluster's last timing and parameters rather than on
 *   bootstrap.dcs, and a leader that finds the `config` key gone (etcd wiped) writes it back from there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDynamicConfigLenient } from '../config/dynamic';
import type { DynamicConfig } from '../config/types';
import type { Logger } from '../log/logger';

export const DYNAMIC_CACHE_FILE = 'patroni.dynamic.json';

export class DynamicConfigSource {
  private lastWarnings = '';
  private saved: string | undefined;
  /** The `postgresql` part last written to postgres' files (see takePostgresChange). */
  private appliedPostgresql: string;

  constructor(private current: DynamicConfig, private readonly dataDir: string, private readonly log: Logger) {
    this.appliedPostgresql = JSON.stringify(current.postgresql);
  }

  /**
   * The configuration to start on: the cached copy when the data directory has one (Patroni's _load_cache), else
   * bootstrap.dcs. A cache that cannot be read is logged and skipped.
   */
  static atStart(bootstrap: DynamicConfig, dataDir: string, log: Logger): DynamicConfigSource {
    const file = join(dataDir, DYNAMIC_CACHE_FILE);
    const source = new DynamicConfigSource(bootstrap, dataDir, log);
    if (!existsSync(file)) return source;
    try {
      const text = readFileSync(file, 'utf8');
      const parsed = parseDynamicConfigLenient(text, bootstrap, DYNAMIC_CACHE_FILE);
      if (!parsed.ok) throw parsed.error;
      source.current = parsed.config;
      source.appliedPostgresql = JSON.stringify(parsed.config.postgresql);
      source.saved = JSON.stringify(parsed.config.raw ?? {});
      source.report(parsed.warnings);
      log.info({ file }, 'dynamic config loaded from the data directory cache');
    } catch (err) {
      log.warn({ file, err }, 'cannot read the dynamic config cache; starting on bootstrap.dcs');
    }
    return source;
  }

  get config(): DynamicConfig {
    return this.current;
  }

  /** Applies the `config` key's value (field by field). True when the configuration changed. */
  adopt(value: unknown): boolean {
    const parsed = parseDynamicConfigLenient(value, this.current);
    if (!parsed.ok) {
      this.report([`${parsed.error.message}; nothing of it is applied`]);
      return false;
    }
    this.report(parsed.warnings);
    if (JSON.stringify(parsed.config) === JSON.stringify(this.current)) return false;
    this.current = parsed.config;
    return true;
  }

  /**
   * True while the `postgresql` part (parameters, pg_hba) differs from what was last written to postgres' files: the
   * caller rewrites them and reloads postgres, as Patroni's reload_config does after each dynamic configuration
   * change, then calls postgresApplied. Without it a max_connections change never reached postgresql.conf and
   * pending_restart never appeared.
   */
  postgresChanged(): boolean {
    return JSON.stringify(this.current.postgresql) !== this.appliedPostgresql;
  }

  postgresApplied(): void {
    this.appliedPostgresql = JSON.stringify(this.current.postgresql);
  }

  /**
   * Writes the cache when the configuration differs from the file (atomically: a temporary file renamed over it).
   * Called only while the data directory holds a cluster and no task (initdb, basebackup) is writing into it.
   */
  async saveCache(): Promise<void> {
    const text = JSON.stringify(this.current.raw ?? {});
    if (text === this.saved) return;
    const file = join(this.dataDir, DYNAMIC_CACHE_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, file);
      this.saved = text;
    } catch (err) {
      // The temporary file may never have been created; the write's own failure is the one worth a line.
      await unlink(tmp).catch(() => undefined);
      this.log.warn({ file, err }, 'cannot write the dynamic config cache');
    }
  }

  /** Logs the warnings of a parse when they differ from the last ones (not on every tick). */
  private report(warnings: string[]): void {
    const text = warnings.join('\n');
    if (text === this.lastWarnings) return;
    this.lastWarnings = text;
    for (const warning of warnings) this.log.warn({ warning }, 'dynamic config setting not applied as written');
  }
}
