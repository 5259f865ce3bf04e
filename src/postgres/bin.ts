import { inheritedEnv } from '../lib/child-env';
/**
 * Finding the PostgreSQL binaries and asking them what they are (version, known parameters).
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import { execFileSync, execFile } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../lib/errors';

const execFileAsync = promisify(execFile);

/** Every tool pgha runs (reference §9.5 bin_dir). */
export const REQUIRED_TOOLS = ['postgres', 'pg_ctl', 'initdb', 'pg_controldata', 'pg_basebackup', 'pg_isready', 'pg_rewind'] as const;

/** Where distributions install versioned binaries (Debian/Ubuntu). */
const DEBIAN_ROOT = '/usr/lib/postgresql';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The newest /usr/lib/postgresql/<version>/bin holding pg_ctl, comparing versions numerically (15 > 9.6). */
function newestDebianBinDir(root = DEBIAN_ROOT): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined;
  }
  const numeric = (v: string): number[] => v.split('.').map((p) => Number(p) || 0);
  const sorted = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => {
      const [x, y] = [numeric(a), numeric(b)];
      return (y[0]! - x[0]!) || ((y[1] ?? 0) - (x[1] ?? 0));
    });
  return sorted.map((v) => join(root, v, 'bin')).find((dir) => isExecutable(join(dir, 'pg_ctl')));
}

function pgConfigBinDir(): string | undefined {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return dir && isExecutable(join(dir, 'pg_ctl')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function pathBinDir(): string | undefined {
  for (const dir of (inheritedEnv().PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

/**
 * The directory with the PostgreSQL binaries: `postgresql.bin_dir` when set (it must hold pg_ctl), else the
 * newest Debian-style /usr/lib/postgresql/N/bin, else `pg_config --bindir`, else the PATH entry with pg_ctl.
 * (Debian's /usr/bin has wrappers, not pg_ctl, which is why PATH comes last.)
 */
export function findBinDir(configured?: string): string {
  if (configured) {
    if (!isExecutable(join(configured, 'pg_ctl'))) {
      throw new ConfigError('postgresql.bin_dir', `${configured} has no executable pg_ctl`, 'point it at the directory holding pg_ctl, initdb and postgres');
    }
    return configured;
  }
  const found = newestDebianBinDir() ?? pgConfigBinDir() ?? pathBinDir();
  if (found) return found;
  throw new ConfigError(
    'postgresql.bin_dir',
    'not set, and no PostgreSQL binaries were found in /usr/lib/postgresql/*/bin, via pg_config or on PATH',
    'install PostgreSQL or set postgresql.bin_dir to the directory holding pg_ctl',
  );
}

/** The tools missing (or not executable) in binDir; empty when all are there. */
export function checkBinaries(binDir: string, tools: readonly string[] = REQUIRED_TOOLS): string[] {
  return tools.filter((tool) => !isExecutable(join(binDir, tool)));
}

/** PG_VERSION_NUM of the binaries, from `postgres --version` (`postgres (PostgreSQL) 15.10 (Debian …)` → 150010). */
export async function binaryVersion(binDir: string): Promise<number> {
  const { stdout } = await execFileAsync(join(binDir, 'postgres'), ['--version'], { timeout: 10_000 });
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
  if (!m) throw new Error(`cannot read the version from ${JSON.stringify(stdout.trim())}`);
  return Number(m[1]) * 10000 + Number(m[2] ?? 0);
}

/**
 * The parameter names this server accepts in postgresql.conf, from `postgres --describe-config` (allowed as
 * root). Used to drop parameters a newer PostgreSQL no longer knows instead of failing to start.
 */
export async function knownParameters(binDir: string): Promise<Set<string>> {
  const { stdout } = await execFileAsync(join(binDir, 'postgres'), ['--describe-config'], {
    timeout: 10_000,
    maxBuffer: 4 * 1024 * 1024,
    env: inheritedEnv({ LC_ALL: 'C' }),
  });
  return new Set(stdout.split('\n').map((line) => line.split('\t')[0]!.trim().toLowerCase()).filter(Boolean));
}

