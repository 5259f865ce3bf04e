import { ConfigError } from '../lib/errors';
import type { HostPort } from './types';
import { type ParseContext, describeValue, wrongValue } from './values';

/** Hosts that mean "every interface" when listening, and so can never be advertised to other members. */
const WILDCARD_HOSTS = new Set(['', '*', '0.0.0.0', '::', '[::]']);

export function isWildcardHost(host: string): boolean {
  return WILDCARD_HOSTS.has(host.trim());
}

interface AddressRules {
  /** Port used when the value has none; without it the port is required. */
  defaultPort?: number;
  /** An example shown in messages, e.g. `127.0.0.1:8008`. */
  example: string;
}

/**
 * `host:port`, `[v6]:port` or (like Patroni's split_host_port) `v6:port` split at the last colon.
 * YAML gives a number for `listen: 8008`; that is refused with the expected form.
 */
export function parseHostPort(value: unknown, field: string, rules: AddressRules, ctx?: ParseContext): HostPort {
  if (typeof value !== 'string') {
    throw wrongValue(field, value, '"host:port"', `write it as host:port, e.g. ${rules.example}`, ctx);
  }
  const { host, port } = splitHostPort(value.trim(), field, rules, ctx);
  return { host, port };
}

/** `postgresql.listen`: `addr[,addr...]:port`. */
export function parseListenList(
  value: unknown,
  field: string,
  rules: AddressRules,
  ctx?: ParseContext,
): { hosts: string[]; port: number } {
  if (typeof value !== 'string') {
    throw wrongValue(field, value, '"addr[,addr...]:port"', `write it as host:port, e.g. ${rules.example}`, ctx);
  }
  const { host, port } = splitHostPort(value.trim(), field, rules, ctx);
  const hosts = host.split(',').map((h) => stripBrackets(h.trim()));
  if (hosts.some((h) => h === '') && hosts.length > 1) {
    throw new ConfigError(field, `got ${describeValue(value, field, ctx)}, which has an empty address in its list`, `remove the extra comma, e.g. ${rules.example}`);
  }
  return { hosts: hosts.map((h) => (h === '' ? '*' : h)), port };
}

function splitHostPort(text: string, field: string, rules: AddressRules, ctx?: ParseContext): HostPort {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (portText === undefined || portText === '') {
    if (rules.defaultPort !== undefined) return { host: host.trim(), port: rules.defaultPort };
    throw wrongValue(field, text, '"host:port"', `add the port, e.g. ${rules.example}`, ctx);
  }
  const port = /^\d+$/.test(portText.trim()) ? Number(portText.trim()) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(
      field,
      `got ${describeValue(text, field, ctx)}: the port ${JSON.stringify(portText)} is not a number from 1 to 65535`,
      `write it as host:port, e.g. ${rules.example}`,
    );
  }
  return { host: host.trim(), port };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `host:port` for messages and URLs; IPv6 hosts get brackets. */
export function formatHostPort(address: HostPort): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}
