/**
 * Where the router finds a user's secret: the userlist file first (read at start and on reload), then, for users
 * it does not list, PgBouncer-style auth_query run on PostgreSQL as auth.user (whose password the userlist holds).
 *
 * auth_query answers are cached for a short time (AUTH_QUERY_CACHE_MS, bounded in size), and concurrent lookups
 * of one user share one query: a burst of new clients costs one round trip, not one each. A failing auth_query
 * (server down, wrong auth.user password) is logged with its error and answered as "no such user": the client
 * then gets the same 28P01 as for a wrong password, never a hint, and the next lookup tries again (failures are
 * not cached).
 *
 * Nothing here logs or throws a secret: errors carry the file name and line, the user name, the query's target.
 */
import { readFile } from 'node:fs/promises';
import { Client } from 'pg';
import { ConfigError } from '../../lib/errors';
import type { Scheduler } from '../../lib/clock';
import type { Logger } from '../../log/logger';
import { parseSecret, type Secret } from './secrets';
import type { AuthConfig } from './types';
import { parseUserlist } from './userlist';

export interface AuthSource {
  lookup(user: string, target?: AuthQueryTarget): Promise<Secret | undefined>;
}

/** The server (and database) auth_query runs on: the pool's current backend for the client's database. */
export interface AuthQueryTarget {
  host: string;
  port: number;
  database: string;
}

/** Runs auth_query for `user` as the auth user; resolves rolpassword (null/undefined: no usable password). */
export type AuthQueryRunner = (q: { target: AuthQueryTarget; sql: string; user: string; authUser: string; password: string }) => Promise<string | null | undefined>;

/** How long an auth_query answer stands: a changed password is seen within this. */
export const AUTH_QUERY_CACHE_MS = 10_000;
/** Bounds the cache's memory: strangers trying many user names each leave a (negative) entry. */
const AUTH_QUERY_CACHE_LIMIT = 10_000;
/** Connect and query bound: a client waiting to authenticate waits at most about twice this for its lookup. */
const AUTH_QUERY_TIMEOUT_MS = 5_000;

export interface AuthSourceOptions {
  config: AuthConfig;
  scheduler: Scheduler;
  logger: Logger;
  /** Where auth_query runs when a lookup names no target (e.g. the write listener's leader). */
  defaultTarget?: () => AuthQueryTarget | undefined;
  readText?: (path: string) => Promise<string>;
  runQuery?: AuthQueryRunner;
}

export class ConfiguredAuthSource implements AuthSource {
  private users = new Map<string, Secret>();
  private readonly cache = new Map<string, { secret: Secret | undefined; until: number }>();
  private readonly inflight = new Map<string, Promise<Secret | undefined>>();
  private readonly readText: (path: string) => Promise<string>;
  private readonly runQuery: AuthQueryRunner;

  constructor(private readonly opts: AuthSourceOptions) {
    this.readText = opts.readText ?? ((path) => readFile(path, 'utf8'));
    this.runQuery = opts.runQuery ?? pgAuthQuery(opts.logger);
  }

  /**
   * Reads the userlist (at start: a failure stops the router with a ConfigError naming auth.file and the line;
   * on reload: the caller logs it and the previous list stays in force). Clears auth_query's cache.
   */
  async load(): Promise<void> {
    const { file, user } = this.opts.config;
    let users = new Map<string, Secret>();
    if (file !== undefined) {
      let text: string;
      try {
        text = await this.readText(file);
      } catch (err) {
        throw new ConfigError('auth.file', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, 'check the path and that the router may read it');
      }
      try {
        users = parseUserlist(text, file);
      } catch (err) {
        throw new ConfigError('auth.file', (err as Error).message, 'fix that line: each one is "user" "password-or-secret"');
      }
    }
    if (user !== undefined && users.get(user)?.kind !== 'plain') {
      const what = users.has(user) ? 'is not a plain password' : 'is missing';
      throw new ConfigError('auth.user', `the entry of "${user}" in ${file} ${what}`, "auth_query logs in as auth.user with its password: list it as \"user\" \"password\" in auth.file");
    }
    this.users = users;
    this.cache.clear();
    this.opts.logger.info({ users: users.size, authQuery: user !== undefined }, 'auth userlist loaded');
  }

  /** Users the userlist holds (for /status: a count, never the secrets). */
  get size(): number {
    return this.users.size;
  }

  async lookup(user: string, target?: AuthQueryTarget): Promise<Secret | undefined> {
    const listed = this.users.get(user);
    if (listed || this.opts.config.user === undefined) return listed;
    const now = this.opts.scheduler.now();
    const cached = this.cache.get(user);
    if (cached && cached.until > now) return cached.secret;
    const running = this.inflight.get(user);
    if (running) return running;
    const query = this.query(user, target).finally(() => this.inflight.delete(user));
    this.inflight.set(user, query);
    return query;
  }

  private async query(user: string, given?: AuthQueryTarget): Promise<Secret | undefined> {
    const { config, logger, scheduler } = this.opts;
    const authUser = config.user!;
    const target = given ?? this.opts.defaultTarget?.();
    if (!target) {
      logger.warn({ user }, 'auth_query skipped: no backend to run it on');
      return undefined;
    }
    const auth = this.users.get(authUser);
    if (auth?.kind !== 'plain') return undefined;
    let text: string | null | undefined;
    try {
      text = await this.runQuery({ target, sql: config.query, user, authUser, password: auth.password });
    } catch (err) {
      logger.warn({ err, user, authUser, backend: `${target.host}:${target.port}`, database: target.database }, 'auth_query failed: the user counts as unknown');
      return undefined;
    }
    let secret: Secret | undefined;
    try {
      secret = text === null || text === undefined ? undefined : parseSecret(text);
    } catch (err) {
      // The message says which part of the secret is damaged, never the secret.
      logger.warn({ err, user }, 'auth_query returned an unusable secret: the user counts as unknown');
    }
    if (this.cache.size >= AUTH_QUERY_CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(user, { secret, until: scheduler.now() + AUTH_QUERY_CACHE_MS });
    return secret;
  }
}

/** auth_query over node-postgres: one short connection per (uncached) lookup, with timeouts. */
export function pgAuthQuery(logger: Logger): AuthQueryRunner {
  return async ({ target, sql, user, authUser, password }) => {
    const client = new Client({
      host: target.host,
      port: target.port,
      database: target.database,
      user: authUser,
      password,
      application_name: 'pgha-router-auth',
      connectionTimeoutMillis: AUTH_QUERY_TIMEOUT_MS,
      query_timeout: AUTH_QUERY_TIMEOUT_MS,
    });
    // A socket error while idle would otherwise be an unhandled 'error' event; the query's own promise reports
    // any error that matters.
    client.on('error', (err) => logger.debug({ err, authUser }, 'auth_query connection error'));
    try {
      await client.connect();
      const result = await client.query({ text: sql, values: [user], rowMode: 'array' });
      const value: unknown = result.rows[0]?.[1];
      return typeof value === 'string' ? value : null;
    } finally {
      await client.end().catch((err: unknown) => logger.debug({ err, authUser }, 'auth_query connection close failed'));
    }
  };
}
