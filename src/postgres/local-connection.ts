/**
 * Where the agent connects to its own postgres. Pure.
 *
 * Preferred: the first unix socket directory, resolved against the data dir when relative (the seed's
 * `unix_socket_directories: '.'` means the data dir itself, because the postmaster chdirs there). A socket
 * works whatever `listen` says and is matched by the `local` line pgha puts first in pg_hba.conf.
 * Fallback (no socket directory configured, or it is empty): TCP to the first listen address, wildcards
 * mapped to loopback, as Patroni does.
 */
import { isAbsolute, resolve } from 'node:path';
import type { PostgresLocalConfig } from '../config/types';
import type { PgConnection } from './connection';

export interface LocalTarget {
  host: string;
  port: number;
  via: 'socket' | 'tcp';
}

/** The first usable entry of unix_socket_directories (a comma list whose entries may be double-quoted). */
export function firstSocketDirectory(setting: string | undefined, dataDir: string): string | undefined {
  if (setting === undefined) return undefined;
  for (const raw of setting.split(',')) {
    const entry = raw.trim().replace(/^"(.*)"$/, '$1');
    // '@name' is a Linux abstract socket: node's net module cannot reach it by directory.
    if (entry === '' || entry.startsWith('@')) continue;
    return isAbsolute(entry) ? entry : resolve(dataDir, entry);
  }
  return undefined;
}

/** The first listen address as a host to connect to: `*`/`0.0.0.0` → 127.0.0.1, `::` → ::1. */
export function loopbackFor(listenHost: string | undefined): string {
  const host = (listenHost ?? '').trim();
  if (host === '' || host === '*' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

export function localTarget(input: {
  dataDir: string;
  listenHosts: readonly string[];
  port: number;
  unixSocketDirectories?: string;
  preferSocket?: boolean;
}): LocalTarget {
  const socket = input.preferSocket === false ? undefined : firstSocketDirectory(input.unixSocketDirectories, input.dataDir);
  if (socket !== undefined) return { host: socket, port: input.port, via: 'socket' };
  return { host: loopbackFor(input.listenHosts[0]), port: input.port, via: 'tcp' };
}

/** The agent's superuser connection to its own postgres, from the local config and the effective parameters. */
export function localSuperuserConnection(
  config: Pick<PostgresLocalConfig, 'dataDir' | 'listen' | 'authentication' | 'database'>,
  parameters: Readonly<Record<string, string>>,
  overrides: Partial<PgConnection> = {},
): PgConnection {
  const target = localTarget({
    dataDir: config.dataDir,
    listenHosts: config.listen.hosts,
    port: config.listen.port,
    unixSocketDirectories: parameters.unix_socket_directories,
  });
  const su = config.authentication.superuser;
  return {
    host: target.host,
    port: target.port,
    user: su.username,
    password: su.password,
    database: config.database,
    ...overrides,
  };
}
