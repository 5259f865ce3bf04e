/**
 * The few extended-protocol messages transaction pooling reads and rewrites (protocol docs, "Message Formats"):
 * Parse, Bind, Describe, Close and Query from the client, CommandComplete from the server. Each function takes or
 * returns one whole message (type byte + int32 length + body), as the pooled session's framing (messages.ts, whose
 * encoders serve the rest) hands them over. Decoders return undefined for a malformed body: the caller answers
 * 08P01 rather than guessing.
 */

import { MSG, encodeMessage, readCString } from './messages';

export interface ParseMsg {
  name: string;
  query: string;
  /** Parameter type OIDs exactly as sent (0 = unspecified). */
  paramTypes: number[];
}

/** The body of a whole message (what follows the length), or undefined when the buffer does not hold it all. */
function bodyOf(msg: Buffer): Buffer | undefined {
  if (msg.length < 5) return undefined;
  const end = 1 + msg.readInt32BE(1);
  return end >= 5 && end <= msg.length ? msg.subarray(5, end) : undefined;
}

export function decodeParse(msg: Buffer): ParseMsg | undefined {
  const body = bodyOf(msg);
  if (!body) return undefined;
  const name = readCString(body, 0);
  const query = name && readCString(body, name.next);
  if (!query || query.next + 2 > body.length) return undefined;
  const count = body.readInt16BE(query.next);
  if (count < 0 || query.next + 2 + 4 * count !== body.length) return undefined;
  const paramTypes: number[] = [];
  for (let i = 0; i < count; i++) paramTypes.push(body.readUInt32BE(query.next + 2 + 4 * i));
  return { name: name.value, query: query.value, paramTypes };
}

export function encodeParse(p: ParseMsg): Buffer {
  const name = Buffer.from(p.name + '\0', 'utf8');
  const query = Buffer.from(p.query + '\0', 'utf8');
  const size = 4 + name.length + query.length + 2 + 4 * p.paramTypes.length;
  const out = Buffer.alloc(1 + size);
  out[0] = 0x50; // 'P'
  out.writeInt32BE(size, 1);
  let pos = 5 + name.copy(out, 5);
  pos += query.copy(out, pos);
  out.writeInt16BE(p.paramTypes.length, pos);
  pos += 2;
  for (const oid of p.paramTypes) {
    out.writeUInt32BE(oid >>> 0, pos);
    pos += 4;
  }
  return out;
}

/** Bind's portal and statement names, and where the statement name lies (to rewrite it without decoding the rest). */
export interface BindNames {
  portal: string;
  statement: string;
  statementStart: number;
  statementEnd: number; // position after its NUL
}

export function decodeBindNames(msg: Buffer): BindNames | undefined {
  const body = bodyOf(msg);
  const portal = body && readCString(body, 0);
  const statement = portal && readCString(body, portal.next);
  if (!statement) return undefined;
  return { portal: portal.value, statement: statement.value, statementStart: 5 + portal.next, statementEnd: 5 + statement.next };
}

/** The same Bind naming `statement` instead (parameters and formats copied as they are). */
export function renameBind(msg: Buffer, names: BindNames, statement: string): Buffer {
  const end = 1 + msg.readInt32BE(1);
  const name = Buffer.from(statement + '\0', 'utf8');
  const out = Buffer.alloc(end - (names.statementEnd - names.statementStart) + name.length);
  msg.copy(out, 0, 0, names.statementStart);
  let pos = names.statementStart + name.copy(out, names.statementStart);
  pos += msg.copy(out, pos, names.statementEnd, end);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/** Describe ('D') and Close ('C') share a layout: 'S' (statement) or 'P' (portal), then a name. */
export interface TargetMsg {
  target: 'S' | 'P';
  name: string;
}

export function decodeTarget(msg: Buffer): TargetMsg | undefined {
  const body = bodyOf(msg);
  if (!body || body.length < 2) return undefined;
  const target = String.fromCharCode(body[0]!);
  if (target !== 'S' && target !== 'P') return undefined;
  const name = readCString(body, 1);
  if (!name || name.next !== body.length) return undefined;
  return { target, name: name.value };
}

export function encodeTarget(type: 'D' | 'C', t: TargetMsg): Buffer {
  return encodeMessage(type.charCodeAt(0), Buffer.from(`${t.target}${t.name}\0`, 'utf8'));
}

/** The text of a simple Query ('Q'), or undefined when malformed. */
export function decodeQuery(msg: Buffer): string | undefined {
  const body = bodyOf(msg);
  const text = body && readCString(body, 0);
  return text && text.next === body.length ? text.value : undefined;
}

export function encodeQuery(text: string): Buffer {
  return encodeMessage(MSG.query, Buffer.from(text + '\0', 'utf8'));
}

/** CommandComplete's tag ('C' from the server), e.g. "DISCARD ALL". */
export function decodeCommandTag(msg: Buffer): string | undefined {
  const body = bodyOf(msg);
  return body && readCString(body, 0)?.value;
}

export const PARSE_COMPLETE = encodeMessage(MSG.parseComplete);
export const CLOSE_COMPLETE = encodeMessage(MSG.closeComplete);
