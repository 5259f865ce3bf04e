/**
 * The PROXY protocol header an L4 load balancer (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB, …) writes before
 * the client's bytes, so the router learns the client's real address (haproxy's doc/proxy-protocol.txt):
 *
 *  - v1, text: `PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n`, at most 107 bytes with the CRLF; single
 *    spaces; `UNKNOWN` may be followed by anything up to the CRLF and means "use the socket's addresses".
 *  - v2, binary: the 12-byte signature `\r\n\r\n\0\r\nQUIT\n`, then version/command (high nibble 2; low nibble
 *    0 LOCAL, 1 PROXY), family/transport (high nibble 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX; low nibble 0 UNSPEC,
 *    1 STREAM, 2 DGRAM), a big-endian 16-bit length of what follows: the addresses (12 bytes INET, 36 INET6, 216
 *    UNIX) then TLVs, which are skipped. LOCAL (a balancer's own health check) and UNSPEC/UNIX addresses keep the
 *    socket's address.
 *
 * Pure: returns `incomplete` (with `need` when the total length is known), the header with its length (the bytes
 * to consume), or `invalid` with a reason and a message. Like parseFrontendPacket it never decides on a partial
 * header what the rest could still change.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { RefusalReason } from './types';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The spec's bound on a v1 line, CRLF included ("PROXY UNKNOWN" + two IPv6 addresses and ports). */
export const V1_MAX_LENGTH = 107;
/**
 * The longest v2 address block + TLVs accepted (the 16-bit length allows 65,535). Balancers send tens of bytes
 * (AWS's VPC endpoint TLV, a few TLS TLVs), a client certificate's CN a few hundred; past this it is not a header
 * worth buffering before the client has said anything.
 */
export const DEFAULT_V2_MAX_LENGTH = 4096;

export interface ProxyAddress {
  address: string;
  port: number;
}

/** The refusals the header parser itself decides (a subset of the router's RefusalReason). */
export type ProxyRefusal = Extract<RefusalReason, 'proxy_header_malformed' | 'proxy_header_oversized'>;

export type ProxyHeader =
  | { kind: 'incomplete'; /** total bytes needed, when the length is known */ need?: number }
  | {
      kind: 'proxy';
      version: 1 | 2;
      /** Header bytes to consume; the client's own bytes follow. */
      length: number;
      /** `local`: v2 LOCAL (the balancer itself, e.g. its health check): keep the socket's address. */
      command: 'proxy' | 'local';
      /** The client's address; absent for LOCAL, v1 UNKNOWN, v2 UNSPEC/UNIX: keep the socket's address. */
      source?: ProxyAddress;
      destination?: ProxyAddress;
    }
  | { kind: 'invalid'; reason: ProxyRefusal; message: string };

export function parseProxyHeader(buf: Buffer, v2MaxLength = DEFAULT_V2_MAX_LENGTH): ProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf, v2MaxLength);
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  return invalid('proxy_header_malformed', `expected a PROXY protocol header, got byte 0x${buf[0]!.toString(16).padStart(2, '0')}`);
}

function invalid(reason: ProxyRefusal, message: string): ProxyHeader {
  return { kind: 'invalid', reason, message };
}

/** True when the bytes so far agree with `prefix` (as far as both go). */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyHeader {
  if (!startsLike(buf, V1_PREFIX)) return invalid('proxy_header_malformed', 'expected "PROXY " (PROXY protocol v1)');
  const lf = buf.indexOf(0x0a);
  const end = lf < 0 ? -1 : lf + 1;
  if (end < 0 || end > V1_MAX_LENGTH) {
    if (buf.length >= V1_MAX_LENGTH) return invalid('proxy_header_oversized', `PROXY v1 line has no CRLF within ${V1_MAX_LENGTH} bytes`);
    return { kind: 'incomplete' };
  }
  if (buf[lf - 1] !== 0x0d) return invalid('proxy_header_malformed', 'PROXY v1 line ends in LF without CR');
  const line = buf.toString('latin1', 0, lf - 1);
  const parts = line.split(' ');
  const family = parts[1];
  if (family === 'UNKNOWN') return { kind: 'proxy', version: 1, length: end, command: 'proxy' };
  if (family !== 'TCP4' && family !== 'TCP6') return invalid('proxy_header_malformed', `PROXY v1 protocol ${JSON.stringify(family)}: expected TCP4, TCP6 or UNKNOWN`);
  if (parts.length !== 6) return invalid('proxy_header_malformed', `PROXY v1 ${family} line has ${parts.length - 2} fields, expected 4 (single spaces)`);
  const isIp = family === 'TCP4' ? isIPv4 : isIPv6;
  const [src, dst, sport, dport] = parts.slice(2) as [string, string, string, string];
  if (!isIp(src) || !isIp(dst)) return invalid('proxy_header_malformed', `PROXY v1 ${family} addresses are not ${family === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const sp = v1Port(sport);
  const dp = v1Port(dport);
  if (sp === undefined || dp === undefined) return invalid('proxy_header_malformed', 'PROXY v1 ports must be decimal from 0 to 65535');
  return { kind: 'proxy', version: 1, length: end, command: 'proxy', source: { address: src, port: sp }, destination: { address: dst, port: dp } };
}

/** Decimal 0-65535 without a leading zero (the spec's form). */
function v1Port(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

const V2_HEADER = 16;
const INET_LENGTH = 12;
const INET6_LENGTH = 36;

function parseV2(buf: Buffer, maxLength: number): ProxyHeader {
  if (!startsLike(buf, V2_SIGNATURE)) return invalid('proxy_header_malformed', 'bytes do not match the PROXY protocol v2 signature');
  if (buf.length < V2_HEADER) return { kind: 'incomplete', need: V2_HEADER };
  const verCmd = buf[12]!;
  const fam = buf[13]!;
  const length = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return invalid('proxy_header_malformed', `PROXY v2 version nibble is ${verCmd >> 4}, expected 2`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid('proxy_header_malformed', `PROXY v2 command ${cmd}: expected 0 (LOCAL) or 1 (PROXY)`);
  if (length > maxLength) return invalid('proxy_header_oversized', `PROXY v2 header announces ${length} bytes (limit ${maxLength})`);
  const total = V2_HEADER + length;
  if (buf.length < total) return { kind: 'incomplete', need: total };
  // LOCAL: the balancer speaking for itself; the spec says to ignore the address block whatever it holds.
  if (cmd === 0) return { kind: 'proxy', version: 2, length: total, command: 'local' };
  const family = fam >> 4;
  const transport = fam & 0x0f;
  if (family > 3 || transport > 2) return invalid('proxy_header_malformed', `PROXY v2 family/transport byte 0x${fam.toString(16)} is not defined`);
  if (family === 0 || family === 3) return { kind: 'proxy', version: 2, length: total, command: 'proxy' };
  if (transport !== 1) return invalid('proxy_header_malformed', 'PROXY v2 header is not for a stream (TCP) connection');
  const need = family === 1 ? INET_LENGTH : INET6_LENGTH;
  if (length < need) return invalid('proxy_header_malformed', `PROXY v2 ${family === 1 ? 'IPv4' : 'IPv6'} header length ${length} is shorter than its addresses (${need})`);
  const a = V2_HEADER;
  if (family === 1) {
    return {
      kind: 'proxy', version: 2, length: total, command: 'proxy',
      source: { address: ipv4(buf, a), port: buf.readUInt16BE(a + 8) },
      destination: { address: ipv4(buf, a + 4), port: buf.readUInt16BE(a + 10) },
    };
  }
  return {
    kind: 'proxy', version: 2, length: total, command: 'proxy',
    source: { address: ipv6(buf, a), port: buf.readUInt16BE(a + 32) },
    destination: { address: ipv6(buf, a + 16), port: buf.readUInt16BE(a + 34) },
  };
}

function ipv4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** Lower-case hex groups with the longest run of zero groups shortened to `::` (RFC 5952), as node reports them. */
function ipv6(buf: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** A v1 header line (tests, and tools that speak to a listener as a balancer would). */
export function encodeProxyV1(source: ProxyAddress, destination: ProxyAddress): Buffer {
  const family = isIPv4(source.address) ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${family} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
}

/** A v2 header: PROXY over TCP (IPv4 or IPv6), or LOCAL without addresses; `tlvs` appended as given. */
export function encodeProxyV2(source?: ProxyAddress, destination?: ProxyAddress, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  if (!source || !destination) {
    const out = Buffer.alloc(V2_HEADER);
    V2_SIGNATURE.copy(out, 0);
    out[12] = 0x20;
    out[13] = 0x00;
    out.writeUInt16BE(tlvs.length, 14);
    return Buffer.concat([out, tlvs]);
  }
  const v4 = isIPv4(source.address);
  const addrLen = v4 ? INET_LENGTH : INET6_LENGTH;
  const out = Buffer.alloc(V2_HEADER + addrLen);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21;
  out[13] = v4 ? 0x11 : 0x21;
  out.writeUInt16BE(addrLen + tlvs.length, 14);
  const write = (addr: string, at: number): void => {
    if (v4) addr.split('.').forEach((o, i) => (out[at + i] = Number(o)));
    else expandIpv6(addr).copy(out, at);
  };
  write(source.address, V2_HEADER);
  write(destination.address, V2_HEADER + (v4 ? 4 : 16));
  out.writeUInt16BE(source.port, V2_HEADER + (v4 ? 8 : 32));
  out.writeUInt16BE(destination.port, V2_HEADER + (v4 ? 10 : 34));
  return Buffer.concat([out, tlvs]);
}

function expandIpv6(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') as [string, string] : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}
