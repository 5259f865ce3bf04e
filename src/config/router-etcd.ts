/**
 * The router's etcd section: every form the agent accepts (`etcd:` or `etcd3:`; host, hosts, url or proxy with
 * Patroni's precedence; port; protocol; username/password; cacert/cert/key), read by the agent's own parser
 * (etcd.ts parseDcsSection), plus the router's `deadline` (each etcd call's). Two router rules stay: `cacert` or
 * `cert` turn TLS on by themselves, and an empty file path is refused (the agent can get one from an unset
 * PATRONI_* variable, the router cannot).
 */
import { ConfigError } from '../lib/errors';
import type { RouterConfig } from '../router/types';
import { formatHostPort } from './address';
import { optionalDuration } from './duration';
import { parseDcsSection } from './etcd';
import { type YamlMap, isMap, newContext } from './values';

export const DEFAULT_ETCD_DEADLINE_MS = 5000;

/** `warnings` gets what was accepted but ignored (e.g. `hosts` beside `url`), to be logged once at startup. */
export function parseRouterEtcd(doc: YamlMap, warnings: string[]): RouterConfig['etcd'] {
  if ((doc.etcd === undefined || doc.etcd === null) && (doc.etcd3 === undefined || doc.etcd3 === null)) {
    throw new ConfigError('etcd.hosts', 'is missing', 'list the etcd endpoints, e.g. etcd: {hosts: [127.0.0.1:2379]}');
  }
  const key = doc.etcd3 !== undefined && doc.etcd === undefined ? 'etcd3' : 'etcd';
  const raw = doc[key];
  let deadlineMs = DEFAULT_ETCD_DEADLINE_MS;
  let dcs: unknown = raw;
  if (isMap(raw)) {
    const { deadline, ...rest } = raw;
    deadlineMs = optionalDuration({ deadline }, 'deadline', key, DEFAULT_ETCD_DEADLINE_MS, 100);
    for (const f of ['cacert', 'cert', 'key'] as const) {
      if (typeof rest[f] === 'string' && rest[f].trim() === '') throw new ConfigError(`${key}.${f}`, 'is empty', 'give the path of a PEM file, or remove the key');
    }
    dcs = rest;
  }
  const ctx = newContext();
  const sections: YamlMap = doc.etcd !== undefined && doc.etcd3 !== undefined ? { etcd: doc.etcd, etcd3: doc.etcd3 } : { [key]: dcs };
  const parsed = parseDcsSection(sections, ctx, { tlsFilesImplyHttps: true });
  warnings.push(...ctx.warnings);
  const etcd: RouterConfig['etcd'] = { hosts: parsed.hosts.map(formatHostPort), deadlineMs };
  if (parsed.username !== undefined) etcd.username = parsed.username;
  if (parsed.password !== undefined) etcd.password = parsed.password;
  // http is the etcd client's default: the router's config says only when TLS is on.
  if (parsed.protocol === 'https') etcd.protocol = 'https';
  for (const f of ['cacert', 'cert', 'key'] as const) {
    const v = parsed[f];
    if (v !== undefined) etcd[f] = v;
  }
  return etcd;
}
