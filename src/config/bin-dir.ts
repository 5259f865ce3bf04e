import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join as joinPath } from 'node:path';
import { ConfigError } from '../lib/errors';

/** Where Debian/Ubuntu install each PostgreSQL major version: /usr/lib/postgresql/<version>/bin. */
export const DEBIAN_POSTGRES_ROOT = '/usr/lib/postgresql';

/** Server programs the agent runs; a bin_dir must hold all of them. */
export const REQUIRED_POSTGRES_PROGRAMS = ['pg_ctl', 'initdb', 'postgres', 'pg_controldata', 'pg_basebackup'] as const;

/** The file system and process look-ups bin_dir detection needs, injectable so unit tests do not depend on the host. */
export interface BinDirProbe {
  /** Entries of a directory; [] when it does not exist. */
  listDir(dir: string): string[];
  /** True when the path is an executable regular file. */
  isExecutable(path: string): boolean;
  /** The output of `pg_config --bindir`, or undefined when pg_config is missing or fails. */
  pgConfigBindir(): string | undefined;
}

export function systemBinDirProbe(env: NodeJS.ProcessEnv): BinDirProbe {
  return {
    listDir(dir) {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    isExecutable(path) {
      try {
        accessSync(path, constants.X_OK);
        return statSync(path).isFile();
      } catch {
        return false;
      }
    },
    pgConfigBindir() {
      try {
        const out = execFileSync('pg_config', ['--bindir'], { env, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
        return out.trim() || undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export function missingPrograms(dir: string, probe: BinDirProbe): string[] {
  return REQUIRED_POSTGRES_PROGRAMS.filter((program) => !probe.isExecutable(joinPath(dir, program)));
}

/** Compares Debian version directory names numerically: 9.6 < 10 < 15 < 16. */
function versionOrder(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The newest /usr/lib/postgresql/<version>/bin holding the server programs (a client-only version has no pg_ctl
 * and is skipped), else `pg_config --bindir` when that directory holds them. Undefined when neither works.
 */
export function findPostgresBinDir(probe: BinDirProbe): string | undefined {
  const versions = probe
    .listDir(DEBIAN_POSTGRES_ROOT)
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort(versionOrder)
    .reverse();
  for (const version of versions) {
    const dir = joinPath(DEBIAN_POSTGRES_ROOT, version, 'bin');
    if (missingPrograms(dir, probe).length === 0) return dir;
  }
  const fromPgConfig = probe.pgConfigBindir();
  if (fromPgConfig && missingPrograms(fromPgConfig, probe).length === 0) return fromPgConfig;
  return undefined;
}

/** The configured bin_dir, checked, or the detected one. Errors name `postgresql.bin_dir` and the fix. */
export function resolveBinDir(configured: string | undefined, probe: BinDirProbe, field = 'postgresql.bin_dir'): string {
  if (configured !== undefined && configured.trim() !== '') {
    const missing = missingPrograms(configured, probe);
    if (missing.length > 0) {
      const detected = findPostgresBinDir(probe);
      throw new ConfigError(
        field,
        `got ${JSON.stringify(configured)}, which has no ${missing.join(', ')}`,
        detected
          ? `remove it to use the detected ${detected}, or set it to a directory holding pg_ctl`
          : 'set it to the directory holding pg_ctl (install the PostgreSQL server package first)',
      );
    }
    return configured;
  }
  const detected = findPostgresBinDir(probe);
  if (!detected) {
    throw new ConfigError(
      field,
      `is not set, and no PostgreSQL server programs (${REQUIRED_POSTGRES_PROGRAMS.join(', ')}) were found in ${DEBIAN_POSTGRES_ROOT}/*/bin or by pg_config --bindir`,
      'install the PostgreSQL server package, or set postgresql.bin_dir (or PATRONI_POSTGRESQL_BIN_DIR) to the directory holding pg_ctl',
    );
  }
  return detected;
}
