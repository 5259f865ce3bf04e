import assert from 'node:assert/strict';
import { join } from 'node:path';
import YAML from 'yaml';
import { type BinDirProbe, REQUIRED_POSTGRES_PROGRAMS } from '../../../src/config/bin-dir';
import { type LoadOptions, parseAgentConfig } from '../../../src/config/load';
import type { AgentConfig } from '../../../src/config/types';
import { ConfigError } from '../../../src/lib/errors';

/** A BinDirProbe over an imaginary file system: the given bin directories hold every server program. */
export function fakeProbe(opts: { serverBinDirs?: string[]; clientOnlyBinDirs?: string[]; pgConfigBindir?: string } = {}): BinDirProbe {
  const server = opts.serverBinDirs ?? ['/usr/lib/postgresql/15/bin'];
  const clientOnly = opts.clientOnlyBinDirs ?? [];
  const executables = new Set<string>();
  for (const dir of server) for (const p of REQUIRED_POSTGRES_PROGRAMS) executables.add(join(dir, p));
  for (const dir of clientOnly) for (const p of ['psql', 'pg_basebackup', 'pg_dump']) executables.add(join(dir, p));
  return {
    listDir(dir) {
      const children = new Set<string>();
      for (const d of [...server, ...clientOnly]) {
        if (d.startsWith(`${dir}/`)) children.add(d.slice(dir.length + 1).split('/')[0] ?? '');
      }
      return [...children];
    },
    isExecutable: (path) => executables.has(path),
    pgConfigBindir: () => opts.pgConfigBindir,
  };
}

export const TEST_OPTIONS: LoadOptions = { probe: fakeProbe(), homeDir: '/var/lib/postgresql', cwd: '/srv' };

/** A small valid document; tests change one thing at a time. */
export function minimalYaml(): string {
  return `
scope: pgcluster
name: node1
restapi:
  listen: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /var/lib/postgresql/pgha/node1
  authentication:
    superuser: {username: postgres, password: su-pass}
    replication: {username: replicator, password: rep-pass}
`;
}

export function minimalDoc(): Record<string, unknown> {
  return YAML.parse(minimalYaml(), { version: '1.1' }) as Record<string, unknown>;
}

export function parse(doc: unknown, env: NodeJS.ProcessEnv = {}, options: LoadOptions = {}): AgentConfig {
  return parseAgentConfig(doc, env, 'test.yml', { ...TEST_OPTIONS, ...options });
}

/** `minimalDoc()` with `edit` applied. */
export function parseEdited(edit: (doc: Record<string, unknown>) => void, env: NodeJS.ProcessEnv = {}, options: LoadOptions = {}): AgentConfig {
  const doc = minimalDoc();
  edit(doc);
  return parse(doc, env, options);
}

export function section(doc: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = doc[key];
  assert.ok(value && typeof value === 'object' && !Array.isArray(value), `${key} is a map`);
  return value as Record<string, unknown>;
}

/**
 * Asserts that `fn` throws a ConfigError for `field` whose message contains every fragment (the value seen, what
 * is expected, the fix). Returns the message for further checks.
 */
export function assertConfigError(fn: () => unknown, field: string, fragments: string[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${field}, got ${caught === undefined ? 'no error' : String(caught)}`);
  assert.equal(caught.field, field, caught.message);
  for (const fragment of fragments) {
    assert.ok(caught.message.includes(fragment), `message ${JSON.stringify(caught.message)} should contain ${JSON.stringify(fragment)}`);
  }
  return caught.message;
}
