import { userInfo } from 'node:os';
import { ConfigError } from '../lib/errors';
import { type BinDirProbe, systemBinDirProbe } from './bin-dir';
import { parseBootstrap } from './bootstrap';
import { parseYamlText, readConfigPath } from './document';
import { applyEnvironmentOverrides } from './env';
import { parseDcsSection } from './etcd';
import {
  ALL_TOP_LEVEL_KEYS,
  DYNAMIC_ONLY_KEYS,
  IGNORED_SECTIONS,
  SUPPORTED_SECTIONS,
  UNSUPPORTED_DCS,
  UNSUPPORTED_SECTIONS,
  closestKey,
} from './known-keys';
import { parseLogSection } from './log';
import { parsePostgresql } from './postgresql';
import { parseMemberTls, parseRestApi } from './restapi';
import { parseAgentSwitchoverDrain } from './switchover-drain';
import type { AgentConfig } from './types';
import { type ParseContext, type YamlMap, isMap, newContext, optionalMap, optionalString, parseBool, requiredString } from './values';

export interface LoadOptions {
  /** File system probe for bin_dir detection; defaults to the real machine. */
  probe?: BinDirProbe;
  /** Check or detect `postgresql.bin_dir` (default true). `pgha ctl` passes false: it never runs PostgreSQL. */
  requireBinDir?: boolean;
  /** Home directory for the default pgpass (`<home>/pgpass`); defaults to the running user's passwd entry. */
  homeDir?: string;
  /** Base for relative paths; defaults to the process's working directory. */
  cwd?: string;
  /** Apply `PATRONI_*` overrides (default true). Off for a document read from PATRONI_CONFIGURATION, as in Patroni. */
  applyEnvOverrides?: boolean;
}

export const DEFAULT_NAMESPACE = '/service';
export const ENV_SOURCE = 'environment (PATRONI_*)';

/**
 * Loads the agent's configuration the way Patroni does (reference §9): a YAML file, or a directory of YAML files
 * merged in name order, with `PATRONI_*` overrides patched over it. Without a path, the whole YAML document in
 * `PATRONI_CONFIGURATION` is used alone; without that either, the configuration is built from `PATRONI_*` alone.
 * Throws ConfigError naming the field, the value seen and the fix.
 */
export function loadAgentConfig(path: string | undefined, env: NodeJS.ProcessEnv, options: LoadOptions = {}): AgentConfig {
  if (path !== undefined && path !== '') return parseAgentConfig(readConfigPath(path), env, path, options);
  const whole = env.PATRONI_CONFIGURATION;
  if (whole !== undefined && whole.trim() !== '') {
    const doc = parseYamlText(whole, 'PATRONI_CONFIGURATION');
    return parseAgentConfig(doc, env, 'PATRONI_CONFIGURATION', { applyEnvOverrides: false, ...options });
  }
  return parseAgentConfig({}, env, ENV_SOURCE, options);
}

/** Validates and normalizes one parsed document (tests call this with literal YAML). */
export function parseAgentConfig(doc: unknown, env: NodeJS.ProcessEnv, source: string, options: LoadOptions = {}): AgentConfig {
  if (doc !== null && doc !== undefined && !isMap(doc)) {
    throw new ConfigError(source, 'does not hold a YAML map at the top', 'start the file with settings such as scope: pgcluster');
  }
  const base: YamlMap = doc ?? {};
  const { doc: merged, origins } = options.applyEnvOverrides === false
    ? { doc: structuredClone(base), origins: new Map<string, string>() }
    : applyEnvironmentOverrides(base, env);
  const ctx = newContext(origins);
  checkTopLevelKeys(merged, ctx);
  useLegacyPostgresqlName(merged);

  const scope = pathComponent(merged, 'scope', 'pgcluster', ctx);
  const name = pathComponent(merged, 'name', 'node1', ctx);
  const restapi = parseRestApi(merged, ctx);
  const etcd = parseDcsSection(merged, ctx);
  const postgresql = parsePostgresql(merged, ctx, {
    probe: options.probe ?? systemBinDirProbe(env),
    requireBinDir: options.requireBinDir ?? true,
    homeDir: options.homeDir ?? userInfo().homedir,
    cwd: options.cwd ?? process.cwd(),
  });
  const bootstrap = parseBootstrap(merged, ctx);
  const tags = optionalMap(merged.tags, 'tags', ctx) ?? {};
  const router = optionalMap(merged.router, 'router', ctx);

  const config: AgentConfig = {
    scope,
    namespace: normalizeNamespace(optionalString(merged, 'namespace', '', ctx)),
    name,
    restapi,
    etcd,
    bootstrap,
    postgresql,
    tags: structuredClone(tags),
    log: parseLogSection(merged, ctx),
    switchoverDrain: parseAgentSwitchoverDrain(merged, ctx),
    fence: watchdogFence(merged, ctx),
    source,
    warnings: ctx.warnings,
  };
  if (router) config.router = structuredClone(router);
  const memberTls = parseMemberTls(merged, restapi, ctx);
  if (memberTls) config.memberTls = memberTls;
  return config;
}

function checkTopLevelKeys(doc: YamlMap, ctx: ParseContext): void {
  const accepted: readonly string[] = [...SUPPORTED_SECTIONS, ...IGNORED_SECTIONS, ...UNSUPPORTED_DCS];
  const dynamicOnly: readonly string[] = DYNAMIC_ONLY_KEYS;
  const unsupported: readonly string[] = UNSUPPORTED_SECTIONS;
  for (const key of Object.keys(doc)) {
    if (accepted.includes(key)) continue;
    if (unsupported.includes(key)) {
      throw new ConfigError(key, `is a Patroni feature pgha does not support (${key})`, `remove the ${key}: section`);
    }
    if (dynamicOnly.includes(key)) {
      ctx.warnings.push(`${key} at the top of the local file is ignored (as in Patroni): it is a dynamic setting; put it under bootstrap.dcs or use pgha ctl edit-config`);
      continue;
    }
    const suggestion = closestKey(key, ALL_TOP_LEVEL_KEYS);
    throw new ConfigError(
      key,
      'is not a known top-level section',
      suggestion ? `did you mean ${suggestion}?` : `known sections: ${[...SUPPORTED_SECTIONS, ...IGNORED_SECTIONS].join(', ')}`,
    );
  }
}

/**
 * `watchdog.mode` (docs/fence.md): absent or `automatic`, the fence process runs (pgha's software watchdog); `off`,
 * it does not. `required` stays refused: Patroni's required means a watchdog that resets the host, which also
 * covers a frozen host or kernel; a process on that host cannot promise it.
 */
function watchdogFence(doc: YamlMap, ctx: ParseContext): boolean {
  const watchdog = optionalMap(doc.watchdog, 'watchdog', ctx);
  const mode = watchdog?.mode;
  if (mode === undefined || mode === null) return true;
  if (parseBool(mode) === false) return false;
  const m = String(mode).toLowerCase();
  if (m === 'required') {
    throw new ConfigError('watchdog.mode', 'got "required", but pgha has no hardware watchdog support: its fence process cannot reset a frozen host', 'use watchdog.mode: automatic (the fence process; docs/fence.md says what it covers) or off');
  }
  if (m !== 'automatic') ctx.warnings.push(`watchdog.mode ${String(mode)} is not off, automatic or required: taken as automatic (the fence process runs)`);
  return true;
}

/** Very old configs named the member under postgresql.name; Patroni still falls back to it, and so does pgha. */
function useLegacyPostgresqlName(doc: YamlMap): void {
  const pg = doc.postgresql;
  if (doc.name === undefined && isMap(pg) && typeof pg.name === 'string') doc.name = pg.name;
}

/** scope and name become etcd key path components; a slash would change the key layout. */
function pathComponent(doc: YamlMap, key: 'scope' | 'name', example: string, ctx: ParseContext): string {
  const value = requiredString(doc, key, '', ctx, example);
  if (value.includes('/')) {
    throw new ConfigError(key, `got ${JSON.stringify(value)}, which contains "/"; it is part of the etcd key path`, `choose a ${key} without "/", e.g. ${example}`);
  }
  return value;
}

/** Patroni builds `/<namespace>/<scope>` collapsing slashes: `service`, `/service` and `/service/` are the same. */
export function normalizeNamespace(namespace: string | undefined): string {
  if (namespace === undefined) return DEFAULT_NAMESPACE;
  const trimmed = namespace.replace(/\/+/g, '/').replace(/^\/|\/$/g, '');
  return `/${trimmed}`;
}
