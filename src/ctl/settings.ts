/**
 * What `pgha ctl` needs from a configuration file (reference §8.1): scope, namespace, the etcd section, and how to
 * call the members' REST APIs (`ctl.*`, falling back to `restapi.authentication`/`cafile`, as patronictl does).
 * Lenient on purpose: a patronictl.yaml with only `scope` and `etcd3` works, and so does an agent's YAML. The
 * `PATRONI_*` environment overrides apply, as in patronictl. `-d etcd3://host:port[/namespace]` replaces the
 * etcd section.
 */
import { ConfigError } from '../lib/errors';
import { applyEnvironmentOverrides } from '../config/env';
import { parseDcsSection } from '../config/etcd';
import { normalizeNamespace } from '../config/load';
import type { EtcdConfig } from '../config/types';
import { type YamlMap, isMap, newContext } from '../config/values';
import type { RestAuth, RestClientOptions } from './rest-client';

export interface CtlSettings {
  scope?: string;
  namespace: string;
  etcd?: EtcdConfig;
  rest: Omit<RestClientOptions, 'userAgent' | 'timeoutMs'>;
}

export interface CtlOverrides {
  dcsUrl?: string;
  insecure?: boolean;
}

export function ctlSettings(doc: YamlMap, env: NodeJS.ProcessEnv, overrides: CtlOverrides = {}): CtlSettings {
  const { doc: merged, origins } = applyEnvironmentOverrides(doc, env);
  const settings: CtlSettings = { namespace: normalizeNamespace(text(merged.namespace)), rest: {} };
  const scope = text(merged.scope);
  if (scope) settings.scope = scope;
  if (overrides.dcsUrl) {
    const fromUrl = parseDcsUrl(overrides.dcsUrl);
    settings.etcd = fromUrl.etcd;
    if (fromUrl.namespace) settings.namespace = fromUrl.namespace;
  } else if (merged.etcd !== undefined || merged.etcd3 !== undefined) {
    settings.etcd = parseDcsSection(merged, newContext(origins));
  }
  const ctl = isMap(merged.ctl) ? merged.ctl : {};
  const restapi = isMap(merged.restapi) ? merged.restapi : {};
  const auth = credentials(ctl, 'ctl') ?? credentials(restapi, 'restapi');
  if (auth) settings.rest.auth = auth;
  const pick = (key: string, fallback?: string): string | undefined => text(ctl[key]) ?? (fallback ? text(restapi[fallback]) : undefined);
  const cacert = pick('cacert', 'cafile');
  const certfile = pick('certfile', 'certfile');
  const keyfile = pick('keyfile', 'keyfile');
  const keyfilePassword = pick('keyfile_password', 'keyfile_password');
  if (cacert) settings.rest.cacert = cacert;
  if (certfile) settings.rest.certfile = certfile;
  if (keyfile) settings.rest.keyfile = keyfile;
  if (keyfilePassword) settings.rest.keyfilePassword = keyfilePassword;
  const insecure = overrides.insecure === true || ctl.insecure === true || String(ctl.insecure).toLowerCase() === 'true';
  if (insecure) settings.rest.insecure = true;
  return settings;
}

/** `authentication: {username, password}` or Patroni's internal `auth: "user:pass"`. */
function credentials(section: YamlMap, name: string): RestAuth | undefined {
  const auth = section.authentication;
  if (isMap(auth)) {
    const username = text(auth.username);
    const password = text(auth.password);
    if (username === undefined || password === undefined) {
      throw new ConfigError(`${name}.authentication`, 'needs both username and password', 'set both, or remove the section');
    }
    return { username, password };
  }
  const legacy = text(section.auth);
  if (legacy?.includes(':')) {
    const i = legacy.indexOf(':');
    return { username: legacy.slice(0, i), password: legacy.slice(i + 1) };
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value : String(value);
}

/**
 * `--dcs-url`: `etcd3://host:port[,host:port...][/namespace]`. `etcd://` and a bare `host:port` are accepted
 * too (pgha speaks the v3 API either way); other schemes are refused as patronictl refuses unknown ones.
 */
export function parseDcsUrl(url: string): { etcd: EtcdConfig; namespace?: string } {
  const m = /^(?:([a-z0-9]+):\/\/)?([^/]+)(\/.*)?$/i.exec(url);
  if (!m) throw new ConfigError('--dcs-url', `got "${url}"`, 'expected etcd3://HOST:PORT[/namespace]');
  const scheme = (m[1] ?? 'etcd3').toLowerCase();
  if (scheme !== 'etcd3' && scheme !== 'etcd' && scheme !== 'http' && scheme !== 'https') {
    throw new ConfigError('--dcs-url', `Unknown dcs scheme: ${scheme}`, 'pgha speaks etcd v3: use etcd3://HOST:PORT');
  }
  const hosts = m[2]!.split(',').map((h) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h.trim());
    if (!hm) throw new ConfigError('--dcs-url', `cannot read the host in "${h}"`, 'expected HOST:PORT');
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port: hm[2] ? Number(hm[2]) : 2379 };
  });
  const etcd: EtcdConfig = { section: 'etcd3', hosts, protocol: scheme === 'https' ? 'https' : 'http' };
  const namespace = m[3] && m[3] !== '/' ? normalizeNamespace(m[3]) : undefined;
  return namespace ? { etcd, namespace } : { etcd };
}
