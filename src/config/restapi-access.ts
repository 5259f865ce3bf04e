/**
 * `restapi.allowlist` and `restapi.http_extra_headers` / `https_extra_headers` (Patroni 3.0.2 api.py). Patroni logs
 * and skips an allowlist entry it cannot parse, which quietly narrows (or, with only bad entries, empties) the list;
 * pgha refuses the file instead, naming the entry. Host names cannot be checked here: they are resolved when the
 * REST server (re)loads its settings, as Patroni does.
 */
import { isIP } from 'node:net';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { ConfigError } from '../lib/errors';
import { type ParseContext, type YamlMap, optionalMap, wrongValue } from './values';

/** One allowlist entry: an address, a CIDR network (host bits may be set, as Python's ip_network(strict=False)), a host name. */
export type AllowEntry =
  | { kind: 'network'; address: string; prefix: number; family: 'ipv4' | 'ipv6' }
  | { kind: 'host'; name: string };

export function parseAllowEntry(entry: string, field: string): AllowEntry {
  const text = entry.trim();
  if (text.includes('/')) {
    const [address = '', prefixText = ''] = text.split('/', 2);
    const version = isIP(address);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    const max = version === 6 ? 128 : 32;
    if (version === 0 || !(prefix >= 0 && prefix <= max)) {
      throw new ConfigError(field, `got ${JSON.stringify(entry)}, which is not a network (address/prefix)`, 'write a network such as 10.0.0.0/8 or fd00::/8, or a single address or host name');
    }
    return { kind: 'network', address, prefix, family: version === 6 ? 'ipv6' : 'ipv4' };
  }
  const version = isIP(text);
  if (version !== 0) return { kind: 'network', address: text, prefix: version === 6 ? 128 : 32, family: version === 6 ? 'ipv6' : 'ipv4' };
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(text)) {
    throw new ConfigError(field, `got ${JSON.stringify(entry)}, which is neither an address, a network nor a host name`, 'write e.g. 10.0.0.5, 10.0.0.0/24 or app1.example.com');
  }
  return { kind: 'host', name: text };
}

export function parseAllowlist(map: YamlMap, ctx: ParseContext): string[] | undefined {
  const value = map.allowlist;
  if (value === undefined || value === null || value === '') return undefined;
  if (!Array.isArray(value)) {
    throw wrongValue('restapi.allowlist', value, 'a list of addresses, networks or host names', 'write it as a YAML list, e.g. allowlist: [127.0.0.1, 10.0.0.0/8]', ctx);
  }
  const out = value.map((item, i) => {
    const field = `restapi.allowlist[${i}]`;
    if (typeof item !== 'string') throw wrongValue(field, item, 'a string', 'quote the item', ctx);
    parseAllowEntry(item, field);
    return item.trim();
  });
  return out.length > 0 ? out : undefined;
}

export function parseExtraHeaders(map: YamlMap, key: 'http_extra_headers' | 'https_extra_headers', ctx: ParseContext): Record<string, string> | undefined {
  const field = `restapi.${key}`;
  const headers = optionalMap(map[key], field, ctx);
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === null || typeof raw === 'object') throw wrongValue(`${field}.${name}`, raw, 'a header value (text)', `write e.g. ${name}: "value"`, ctx);
    const value = String(raw);
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      throw new ConfigError(`${field}.${name}`, 'is not a valid HTTP header (name or value)', 'use a header name of letters, digits and dashes, and a value on one line');
    }
    out[name] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
