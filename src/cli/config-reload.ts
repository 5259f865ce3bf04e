/**
 * Re-reads the agent's YAML on SIGHUP and `POST /reload` (and so `pgha ctl reload`), as Patroni 3.0.2 does: the
 * file is loaded and validated whole; a file that does not load (syntax, an invalid value) is refused with the
 * loader's sentence (field, value, fix) and the running configuration stays. Otherwise planReload decides what is
 * taken over now and what waits for an agent restart, the shared configuration object is updated, the REST
 * server takes its new settings, and the caller has postgres' files rewritten and reloaded.
 */
import { loadAgentConfig } from '../config/load';
import { applyReloadPlan, planReload } from '../config/reload-plan';
import type { AgentConfig } from '../config/types';
import type { Logger } from '../log/logger';
import type { RestApi } from '../api/server';
import { describe } from '../lib/errors';

export interface ConfigReloadDeps {
  /** The configuration every component reads; updated in place. */
  config: AgentConfig;
  /** The YAML path given with -c; undefined when the agent was configured from PATRONI_CONFIGURATION / env. */
  file: string | undefined;
  env: NodeJS.ProcessEnv;
  api: Pick<RestApi, 'update'>;
  logger: Logger;
  /** Sets the root logger's level (children follow it): `log.level`. */
  setLogLevel?: (level: string) => void;
}

export interface LocalReloadOutcome {
  ok: boolean;
  message: string;
}

export function restApiSettings(config: AgentConfig): Parameters<RestApi['update']>[0] {
  const r = config.restapi;
  return {
    ...(r.authentication ? { authentication: r.authentication } : {}),
    access: {
      ...(r.allowlist ? { allowlist: r.allowlist } : {}),
      ...(r.allowlistIncludeMembers ? { allowlistIncludeMembers: true } : {}),
      ...(r.httpExtraHeaders ? { httpExtraHeaders: r.httpExtraHeaders } : {}),
      ...(r.httpsExtraHeaders ? { httpsExtraHeaders: r.httpsExtraHeaders } : {}),
    },
  };
}

/** One reload at a time: a second SIGHUP during a reload waits for it, then reads the file again. */
export function configReloader(d: ConfigReloadDeps): () => Promise<LocalReloadOutcome> {
  let chain: Promise<unknown> = Promise.resolve();
  const once = async (): Promise<LocalReloadOutcome> => {
    const source = d.file ?? 'PATRONI_CONFIGURATION';
    let next: AgentConfig;
    try {
      next = loadAgentConfig(d.file, d.env);
    } catch (err) {
      const error = describe(err).startsWith(source) ? describe(err) : `${source}: ${describe(err)}`;
      const message = `reload refused, the running configuration is kept: ${error}`;
      d.logger.error({ source, err }, 'configuration reload refused');
      return { ok: false, message };
    }
    const plan = planReload(d.config, next);
    try {
      await d.api.update(restApiSettings(plan.config));
    } catch (err) {
      const message = `reload refused, the running configuration is kept: ${describe(err)}`;
      d.logger.error({ source, err }, 'configuration reload refused');
      return { ok: false, message };
    }
    applyReloadPlan(d.config, plan);
    if (plan.applied.includes('log')) d.setLogLevel?.(plan.config.log.level);
    for (const warning of plan.config.warnings ?? []) d.logger.warn({ warning }, 'configuration setting ignored');
    const level = plan.needAgentRestart.length > 0 ? 'warn' : 'info';
    d.logger[level]({ source, applied: plan.applied, needAgentRestart: plan.needAgentRestart, reason: plan.reason }, 'configuration reloaded');
    return { ok: true, message: plan.reason };
  };
  return () => {
    const run = chain.then(once, once);
    chain = run;
    return run;
  };
}
