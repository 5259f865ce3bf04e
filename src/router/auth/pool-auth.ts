/**
 * The pooled listeners' authentication as the router runs it: the `auth:` section turned into an AuthSource
 * (userlist file and auth_query, auth-source.ts) that a reload replaces whole. A reload whose userlist cannot be
 * read is refused before anything changes, so the running list stays in force.
 */
import type { Scheduler } from '../../lib/clock';
import type { Logger } from '../../log/logger';
import type { RouterConfig } from '../types';
import { ConfiguredAuthSource, type AuthQueryTarget } from './auth-source';
import type { Secret } from './secrets';
import type { AuthType } from './types';

export interface PoolAuthDeps {
  scheduler: Scheduler;
  logger: Logger;
  /** Where auth_query runs when a lookup names no server: the confirmed leader, for the `postgres` database. */
  leader: () => { host: string; port: number } | undefined;
}

export class PoolAuth {
  private source: ConfiguredAuthSource | undefined;

  private constructor(
    private readonly deps: PoolAuthDeps,
    /** How clients authenticate; scram-sha-256 with no `auth:` section, so clients fail closed with no secrets. */
    public type: AuthType,
  ) {}

  /** Reads the userlist once before the router accepts anyone; a bad file stops the start with its ConfigError. */
  static async start(config: RouterConfig, deps: PoolAuthDeps): Promise<PoolAuth> {
    const auth = new PoolAuth(deps, config.auth?.type ?? 'scram-sha-256');
    auth.source = await auth.load(config);
    return auth;
  }

  async lookup(user: string, target?: AuthQueryTarget): Promise<Secret | undefined> {
    return this.source?.lookup(user, target);
  }

  /** Reads the new section's userlist; throws (the reload is refused) when it cannot, keeping the running one. */
  async reload(next: RouterConfig): Promise<void> {
    const source = await this.load(next);
    this.source = source;
    this.type = next.auth?.type ?? 'scram-sha-256';
  }

  private async load(config: RouterConfig): Promise<ConfiguredAuthSource | undefined> {
    if (!config.auth) return undefined;
    const source = new ConfiguredAuthSource({
      config: config.auth,
      scheduler: this.deps.scheduler,
      logger: this.deps.logger,
      defaultTarget: () => {
        const leader = this.deps.leader();
        return leader ? { host: leader.host, port: leader.port, database: 'postgres' } : undefined;
      },
    });
    await source.load();
    return source;
  }
}
