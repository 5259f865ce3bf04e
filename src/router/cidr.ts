/**
 * Trusted source networks (`proxy_protocol: [CIDR, …]`): parsed and checked at config load, matched once per
 * accepted connection with node's BlockList, which also matches an IPv4-mapped IPv6 socket address
 * (`::ffff:10.1.2.3`, what a dual-stack listener reports) against an IPv4 network.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). Undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^\s*([^/\s]+)(?:\/(\d{1,3}))?\s*$/.exec(text);
  if (!m) return undefined;
  const address = m[1]!;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) return undefined;
  return { address, prefix, family };
}

const matchers = new WeakMap<readonly string[], BlockList>();

/** True when `address` (a socket's remoteAddress) lies in one of the networks (validated CIDR texts). */
export function inNetworks(networks: readonly string[], address: string | undefined): boolean {
  if (!address) return false;
  let list = matchers.get(networks);
  if (!list) {
    list = new BlockList();
    for (const n of networks) {
      const c = parseCidr(n);
      if (c) list.addSubnet(c.address, c.prefix, c.family);
    }
    matchers.set(networks, list);
  }
  return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}
