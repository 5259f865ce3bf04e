/**
 * The little of the PostgreSQL protocol the router speaks, all before routing (protocol docs, "Message Flow"
 * and "Message Formats"):
 *  - the client's first packets: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage (v3), or a TLS
 *    ClientHello (PostgreSQL 17 `sslnegotiation=direct`);
 *  - ErrorResponse, to refuse a client with a message and SQLSTATE instead of a bare close;
 *  - the backend's startup reply, scanned (not copied) until ReadyForQuery to learn BackendKeyData.
 * After that, bytes are spliced and never looked at again.
 */

import type { RefusalReason } from './types';

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
export const PROTOCOL_3 = 3 << 16;
/** PostgreSQL's own MAX_STARTUP_PACKET_LENGTH. */
export const DEFAULT_MAX_STARTUP_PACKET = 10_000;

export type FrontendPacket =
  | { kind: 'incomplete'; /** total bytes needed, when the length is known */ need?: number }
  | { kind: 'ssl'; length: 8 }
  | { kind: 'gssenc'; length: 8 }
  | { kind: 'cancel'; length: 16; processId: number; secretKey: number; key: string }
  | { kind: 'startup'; length: number; protocol: number; params: Record<string, string> }
  | { kind: 'direct-tls' }
  | { kind: 'invalid'; sqlstate: string; message: string; reason: WireRefusal };

/** The refusals the first-packet parser itself decides (a subset of the router's RefusalReason). */
export type WireRefusal = Extract<RefusalReason, 'malformed' | 'oversized' | 'unsupported_protocol'>;

/** A map key for a BackendKeyData / CancelRequest (pid, secret) pair. */
export function cancelKey(processId: number, secretKey: number): string {
  return `${processId >>> 0}:${secretKey >>> 0}`;
}

/**
 * Classifies the first complete packet at the start of `buf` (which may hold more bytes after it, or fewer
 * than a whole packet: then `incomplete`). `maxLength` bounds the startup packet.
 */
export function parseFrontendPacket(buf: Buffer, maxLength = DEFAULT_MAX_STARTUP_PACKET): FrontendPacket {
  if (buf.length >= 1 && buf[0] === 0x16) {
    // A TLS record (handshake) where a length would be: direct TLS negotiation (PostgreSQL 17+).
    return { kind: 'direct-tls' };
  }
  if (buf.length < 4) return { kind: 'incomplete' };
  const length = buf.readInt32BE(0);
  if (length < 8) return invalid('malformed', `invalid length of startup packet: ${length}`);
  if (length > maxLength) return invalid('oversized', `startup packet too long: ${length} bytes (limit ${maxLength})`);
  if (buf.length < 8) return { kind: 'incomplete', need: length };
  const code = buf.readInt32BE(4);
  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
    if (length !== 8) return invalid('malformed', `invalid length ${length} for ${code === SSL_REQUEST_CODE ? 'SSLRequest' : 'GSSENCRequest'}`);
    return code === SSL_REQUEST_CODE ? { kind: 'ssl', length: 8 } : { kind: 'gssenc', length: 8 };
  }
  if (code === CANCEL_REQUEST_CODE) {
    if (length !== 16) return invalid('malformed', `invalid length ${length} for CancelRequest`);
    if (buf.length < 16) return { kind: 'incomplete', need: 16 };
    const processId = buf.readInt32BE(8);
    const secretKey = buf.readInt32BE(12);
    return { kind: 'cancel', length: 16, processId, secretKey, key: cancelKey(processId, secretKey) };
  }
  const major = code >>> 16;
  if (major !== 3) {
    return { kind: 'invalid', sqlstate: '0A000', reason: 'unsupported_protocol', message: `unsupported frontend protocol ${major}.${code & 0xffff}: the router speaks 3.x` };
  }
  if (buf.length < length) return { kind: 'incomplete', need: length };
  const params = parseStartupParams(buf, 8, length);
  if (!params) return invalid('malformed', 'invalid startup packet layout: expected NUL-terminated name/value pairs and a final NUL');
  return { kind: 'startup', length, protocol: code, params };
}

function invalid(reason: WireRefusal, message: string): FrontendPacket {
  return { kind: 'invalid', sqlstate: '08P01', reason, message };
}

function parseStartupParams(buf: Buffer, start: number, end: number): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  let pos = start;
  for (;;) {
    if (pos >= end) return undefined;
    if (buf[pos] === 0) return pos === end - 1 ? params : undefined;
    const nameEnd = buf.indexOf(0, pos);
    if (nameEnd < 0 || nameEnd >= end - 1) return undefined;
    const valueEnd = buf.indexOf(0, nameEnd + 1);
    if (valueEnd < 0 || valueEnd >= end) return undefined;
    params[buf.toString('utf8', pos, nameEnd)] = buf.toString('utf8', nameEnd + 1, valueEnd);
    pos = valueEnd + 1;
  }
}

export interface ErrorFields {
  severity?: 'FATAL' | 'ERROR';
  sqlstate: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** An ErrorResponse ('E') message: severity (S and V), SQLSTATE (C), message (M), detail (D), hint (H). */
export function encodeErrorResponse(fields: ErrorFields): Buffer {
  const severity = fields.severity ?? 'FATAL';
  const parts: [string, string][] = [
    ['S', severity],
    ['V', severity],
    ['C', fields.sqlstate],
    ['M', fields.message],
  ];
  if (fields.detail) parts.push(['D', fields.detail]);
  if (fields.hint) parts.push(['H', fields.hint]);
  let size = 4 + 1; // length + final NUL
  const encoded = parts.map(([code, text]) => {
    const b = Buffer.from(text, 'utf8');
    size += 1 + b.length + 1;
    return [code, b] as const;
  });
  const out = Buffer.alloc(1 + size);
  out[0] = 0x45; // 'E'
  out.writeInt32BE(size, 1);
  let pos = 5;
  for (const [code, b] of encoded) {
    out[pos++] = code.charCodeAt(0);
    b.copy(out, pos);
    pos += b.length;
    out[pos++] = 0;
  }
  out[pos] = 0;
  return out;
}

/** Parses an ErrorResponse body (tests, and the router's own refusals in logs). */
export function decodeErrorResponse(msg: Buffer): Record<string, string> | undefined {
  if (msg.length < 6 || msg[0] !== 0x45) return undefined;
  const length = msg.readInt32BE(1);
  if (msg.length < 1 + length) return undefined;
  const out: Record<string, string> = {};
  let pos = 5;
  while (pos < 1 + length && msg[pos] !== 0) {
    const code = String.fromCharCode(msg[pos]!);
    const end = msg.indexOf(0, pos + 1);
    if (end < 0) return undefined;
    out[code] = msg.toString('utf8', pos + 1, end);
    pos = end + 1;
  }
  return out;
}

export function encodeCancelRequest(processId: number, secretKey: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  b.writeInt32BE(processId | 0, 8);
  b.writeInt32BE(secretKey | 0, 12);
  return b;
}

export function encodeStartup(params: Record<string, string>, protocol = PROTOCOL_3): Buffer {
  const body = Buffer.concat([
    ...Object.entries(params).flatMap(([k, v]) => [Buffer.from(`${k}\0${v}\0`, 'utf8')]),
    Buffer.from([0]),
  ]);
  const b = Buffer.alloc(8 + body.length);
  b.writeInt32BE(8 + body.length, 0);
  b.writeInt32BE(protocol, 4);
  body.copy(b, 8);
  return b;
}

export function encodeSslRequest(code = SSL_REQUEST_CODE): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(code, 4);
  return b;
}

/**
 * Scans the backend's startup reply (Authentication*, ParameterStatus, BackendKeyData, ReadyForQuery or
 * ErrorResponse) chunk by chunk without copying the stream: only the 5-byte headers and BackendKeyData's
 * 8 bytes are kept. `feed` returns 'more' until ReadyForQuery ('Z') or an ErrorResponse ('E') has been fully
 * seen ('done'), or 'invalid' when the stream does not look like protocol 3 messages.
 */
export class StartupReplyScanner {
  processId?: number;
  secretKey?: number;
  /** 'Z' or 'E' once done. */
  finalType?: number;
  private header = Buffer.alloc(5);
  private headerFill = 0;
  private remaining = 0; // body bytes of the current message still to skip
  private type = 0;
  private keyBuf?: Buffer;
  private keyFill = 0;
  private done = false;

  feed(chunk: Buffer): 'more' | 'done' | 'invalid' {
    if (this.done) return 'done';
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining === 0 && this.headerFill < 5) {
        const n = Math.min(5 - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < 5) break;
        this.type = this.header[0]!;
        const len = this.header.readInt32BE(1);
        if (len < 4 || len > 1 << 30) return 'invalid';
        this.remaining = len - 4;
        if (this.type === 0x4b /* K */) {
          if (this.remaining !== 8) return 'invalid';
          this.keyBuf = Buffer.alloc(8);
          this.keyFill = 0;
        }
        if (this.remaining === 0 && this.finish()) return 'done';
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - pos);
      if (this.keyBuf) {
        chunk.copy(this.keyBuf, this.keyFill, pos, pos + n);
        this.keyFill += n;
      }
      pos += n;
      this.remaining -= n;
      if (this.remaining === 0 && this.finish()) return 'done';
    }
    return 'more';
  }

  /** Ends the current message; true when the startup reply is complete. */
  private finish(): boolean {
    this.headerFill = 0;
    if (this.keyBuf) {
      this.processId = this.keyBuf.readInt32BE(0);
      this.secretKey = this.keyBuf.readInt32BE(4);
      this.keyBuf = undefined;
    }
    if (this.type === 0x5a /* Z */ || this.type === 0x45 /* E */) {
      this.finalType = this.type;
      this.done = true;
      return true;
    }
    return false;
  }
}
