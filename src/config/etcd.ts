import { ConfigError } from '../lib/errors';
import { parseHostPort } from './address';
import { ETCD_KEYS, UNSUPPORTED_DCS, checkSectionKeys } from './known-keys';
import type { EtcdConfig, HostPort } from './types';
import { type ParseContext, type YamlMap, describeValue, optionalMap, optionalString, optionalText, optionalWholeNumber, wrongValue } from './values';

export const DEFAULT_ETCD_PORT = 2379;

/** How a program reads the section beyond the agent's rules. */
export interface DcsSectionOptions {
  /**
   * The router's rule: `cacert` or `cert` turn TLS on (protocol https) whatever `protocol` says, instead of a
   * warning that they are unused over http (the agent keeps Patroni's rule: protocol alone decides).
   */
  tlsFilesImplyHttps?: boolean;
}

/**
 * The DCS section, for the agent, patronictl-style commands and the router alike. pgha speaks the etcd v3 API whether the file says `etcd:` (v2 in Patroni) or `etcd3:`; which
 * one was used is recorded so the agent can say once that `--enable-v2` is not needed. Patroni's endpoint
 * precedence is kept: proxy > url > hosts > host.
 */
export function parseDcsSection(doc: YamlMap, ctx: ParseContext, options: DcsSectionOptions = {}): EtcdConfig {
  for (const dcs of UNSUPPORTED_DCS) {
    if (doc[dcs] !== undefined) {
      const fromEnv = [...ctx.envOrigins.entries()].find(([path]) => path.startsWith(`${dcs}.`))?.[1];
      throw new ConfigError(
        dcs,
        `is a ${dcs} DCS section${fromEnv ? ` (created by ${fromEnv})` : ''}, but pgha speaks etcd v3 only`,
        fromEnv ? `unset ${fromEnv} and configure etcd3: instead` : `replace the ${dcs}: section with an etcd3: section listing your etcd endpoints`,
      );
    }
  }
  const hasEtcd = doc.etcd !== undefined;
  const hasEtcd3 = doc.etcd3 !== undefined;
  if (hasEtcd && hasEtcd3) {
    const fromEnv = [...ctx.envOrigins.entries()].filter(([path]) => /^etcd3?\./.test(path)).map(([, name]) => name);
    const origin = fromEnv.length > 0 ? ` (${[...new Set(fromEnv)].join(', ')} created or changed one of them)` : '';
    throw new ConfigError(
      'etcd3',
      `both etcd: and etcd3: sections are present${origin}; pgha speaks the v3 API for either and needs exactly one`,
      'keep only etcd3:, the section Patroni 2.0+ uses for the v3 API, and delete etcd:',
    );
  }
  if (!hasEtcd && !hasEtcd3) {
    throw new ConfigError('etcd3', 'is missing: no DCS section was found', 'add an etcd3: section, e.g. etcd3: {hosts: 127.0.0.1:2379}, or set PATRONI_ETCD3_HOSTS');
  }
  const section: 'etcd' | 'etcd3' = hasEtcd3 ? 'etcd3' : 'etcd';
  const map = optionalMap(doc[section], section, ctx);
  if (!map) throw new ConfigError(section, 'is empty', `list the endpoints, e.g. ${section}: {hosts: 127.0.0.1:2379}`);
  checkSectionKeys(map, section, ETCD_KEYS, ctx);
  return parseEtcdMap(map, section, ctx, options);
}

function parseEtcdMap(map: YamlMap, section: 'etcd' | 'etcd3', ctx: ParseContext, options: DcsSectionOptions): EtcdConfig {
  const protocolText = optionalString(map, 'protocol', section, ctx);
  let protocol = parseProtocol(protocolText, `${section}.protocol`, ctx);
  let username = optionalText(map, 'username', section, ctx);
  let password = optionalText(map, 'password', section, ctx);
  const port = optionalWholeNumber(map, 'port', section, 'port', ctx) ?? DEFAULT_ETCD_PORT;
  const endpointKeys = ['proxy', 'url', 'hosts', 'host'].filter((k) => map[k] !== undefined && map[k] !== null);
  if (endpointKeys.length > 1) {
    ctx.warnings.push(`${section}: ${endpointKeys.join(' and ')} are all set; ${section}.${endpointKeys[0]} is used (Patroni's precedence: proxy, url, hosts, host)`);
  }
  let hosts: HostPort[];
  const first = endpointKeys[0];
  if (first === 'proxy' || first === 'url') {
    const fromUrl = parseEtcdUrl(map[first], `${section}.${first}`, ctx);
    hosts = [fromUrl.host];
    protocol = fromUrl.protocol;
    username ??= fromUrl.username;
    password ??= fromUrl.password;
  } else if (first === 'hosts') {
    hosts = parseHostsValue(map.hosts, `${section}.hosts`, port, ctx);
  } else if (first === 'host') {
    hosts = [parseHostPort(map.host, `${section}.host`, { defaultPort: port, example: '127.0.0.1:2379' }, ctx)];
  } else if (map.srv !== undefined && map.srv !== null) {
    throw new ConfigError(`${section}.srv`, 'DNS SRV discovery is not supported by pgha', `list the endpoints instead: ${section}: {hosts: h1:2379,h2:2379,h3:2379}`);
  } else {
    throw new ConfigError(section, 'has no endpoint: one of host, hosts, url or proxy is needed', `add e.g. hosts: 127.0.0.1:2379 under ${section}:`);
  }
  const config: EtcdConfig = { section, hosts, protocol };
  if (username !== undefined) config.username = username;
  if (password !== undefined) config.password = password;
  for (const key of ['cacert', 'cert', 'key'] as const) {
    const value = optionalString(map, key, section, ctx);
    if (value !== undefined) config[key] = value;
  }
  if ((config.username === undefined) !== (config.password === undefined)) {
    const missing = config.username === undefined ? 'username' : 'password';
    throw new ConfigError(`${section}.${missing}`, 'is missing while the other etcd credential is set', `set both ${section}.username and ${section}.password, or neither`);
  }
  if ((config.cert === undefined) !== (config.key === undefined)) {
    const missing = config.cert === undefined ? 'cert' : 'key';
    throw new ConfigError(`${section}.${missing}`, 'is missing: a client certificate needs both cert and key', `set both ${section}.cert and ${section}.key (the client certificate's key file)`);
  }
  if (options.tlsFilesImplyHttps && (config.cacert || config.cert)) {
    config.protocol = 'https';
  } else if (protocolText === undefined && protocol === 'http' && (config.cacert || config.cert)) {
    ctx.warnings.push(`${section}: cacert/cert are set but protocol is http (the default); set ${section}.protocol: https to use TLS`);
  }
  return config;
}

function parseProtocol(value: string | undefined, field: string, ctx: ParseContext): 'http' | 'https' {
  if (value === undefined) return 'http';
  const lower = value.trim().toLowerCase();
  if (lower === 'http' || lower === 'https') return lower;
  throw wrongValue(field, value, '"http" or "https"', 'set protocol: http or https', ctx);
}

/** `hosts`: a list, or a comma-separated string with or without spaces (`ty-db1:2379, ty-db2:2379`). */
function parseHostsValue(value: unknown, field: string, defaultPort: number, ctx: ParseContext): HostPort[] {
  let items: unknown[];
  if (typeof value === 'string') items = value.split(',');
  else if (Array.isArray(value)) items = value;
  else throw wrongValue(field, value, 'a list or a comma-separated string of host:port', 'write e.g. hosts: h1:2379,h2:2379,h3:2379', ctx);
  // One trailing comma in the string form is a harmless typo (Patroni's client skips the empty endpoint it makes);
  // any other empty entry, or one with a port and no host, is refused: it would name no etcd server.
  if (typeof value === 'string' && items.length > 1 && String(items[items.length - 1]).trim() === '') items = items.slice(0, -1);
  return items.map((raw, i) => {
    const item = typeof raw === 'string' ? raw.trim() : raw;
    const itemField = Array.isArray(value) ? `${field}[${i}]` : field;
    const hp = typeof item === 'string' && /^https?:\/\//i.test(item)
      ? parseEtcdUrl(item, itemField, ctx).host
      : parseHostPort(item, itemField, { defaultPort, example: '127.0.0.1:2379' }, ctx);
    if (hp.host === '') {
      throw new ConfigError(`${field}[${i}]`, `got ${describeValue(raw, field, ctx)}, which names no host`, 'write host:port, e.g. hosts: 127.0.0.1:2379,127.0.0.2:2379 (no empty entries)');
    }
    return hp;
  });
}

interface ParsedEtcdUrl {
  host: HostPort;
  protocol: 'http' | 'https';
  username?: string;
  password?: string;
}

function parseEtcdUrl(value: unknown, field: string, ctx: ParseContext): ParsedEtcdUrl {
  if (typeof value !== 'string') throw wrongValue(field, value, 'a URL such as http://127.0.0.1:2379', 'write it as a URL', ctx);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw wrongValue(field, value, 'a URL such as http://127.0.0.1:2379', 'write it as a URL', ctx);
  }
  const protocol = url.protocol.replace(/:$/, '');
  if (protocol !== 'http' && protocol !== 'https') {
    throw wrongValue(field, value, 'an http:// or https:// URL', 'use http:// or https://', ctx);
  }
  const parsed: ParsedEtcdUrl = {
    host: { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : DEFAULT_ETCD_PORT },
    protocol,
  };
  if (url.username) parsed.username = decodeURIComponent(url.username);
  if (url.password) parsed.password = decodeURIComponent(url.password);
  return parsed;
}

