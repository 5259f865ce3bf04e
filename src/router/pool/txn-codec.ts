/**
 * The few extended-protocol messages transaction pooling reads and rewrites (protocol docs, "Message Formats"):
 * Parse, Bind, Describe and Close from the client; ParameterStatus, CommandComplete and ReadyForQuery from the
 * server; and the small replies the router answers itself. Each function takes or returns one whole message
 * (type byte + int32 length + body), as the pooled session's framing hands them over. Decoders return undefined
 * for a malformed body: the caller answers 08P01 rather than guessing.
 */

export interface ParseMsg {
  name: string;
  query: string;
  /** Parameter type OIDs exactly as sent (0 = unspecified). */
  paramTypes: number[];
}

/** A C string at `pos` within `end`: its text and the position after its NUL, or undefined. */
function cstring(msg: Buffer, pos: number, end: number): { text: string; next: number } | undefined {
  const nul = msg.indexOf(0, pos);
  if (nul < 0 || nul >= end) return undefined;
  return { text: msg.toString('utf8', pos, nul), next: nul + 1 };
}

/** The end of the message as its length field says, when the buffer holds it all. */
function messageEnd(msg: Buffer): number | undefined {
  if (msg.length < 5) return undefined;
  const end = 1 + msg.readInt32BE(1);
  return end >= 5 && end <= msg.length ? end : undefined;
}

export function decodeParse(msg: Buffer): ParseMsg | undefined {
  const end = messageEnd(msg);
  if (end === undefined) return undefined;
  const name = cstring(msg, 5, end);
  if (!name) return undefined;
  const query = cstring(msg, name.next, end);
  if (!query || query.next + 2 > end) return undefined;
  const count = msg.readInt16BE(query.next);
  if (count < 0 || query.next + 2 + 4 * count !== end) return undefined;
  const paramTypes: number[] = [];
  for (let i = 0; i < count; i++) paramTypes.push(msg.readUInt32BE(query.next + 2 + 4 * i));
  return { name: name.text, query: query.text, paramTypes };
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
  const end = messageEnd(msg);
  if (end === undefined) return undefined;
  const portal = cstring(msg, 5, end);
  if (!portal) return undefined;
  const statement = cstring(msg, portal.next, end);
  if (!statement) return undefined;
  return { portal: portal.text, statement: statement.text, statementStart: portal.next, statementEnd: statement.next };
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
  const end = messageEnd(msg);
  if (end === undefined || end < 7) return undefined;
  const target = String.fromCharCode(msg[5]!);
  if (target !== 'S' && target !== 'P') return undefined;
  const name = cstring(msg, 6, end);
  if (!name || name.next !== end) return undefined;
  return { target, name: name.text };
}

export function encodeTarget(type: 'D' | 'C', t: TargetMsg): Buffer {
  const name = Buffer.from(t.name + '\0', 'utf8');
  const out = Buffer.alloc(6 + name.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(5 + name.length, 1);
  out[5] = t.target.charCodeAt(0);
  name.copy(out, 6);
  return out;
}

/** The text of a simple Query ('Q'), or undefined when malformed. */
export function decodeQuery(msg: Buffer): string | undefined {
  const end = messageEnd(msg);
  if (end === undefined) return undefined;
  const text = cstring(msg, 5, end);
  return text && text.next === end ? text.text : undefined;
}

export function encodeQuery(text: string): Buffer {
  const body = Buffer.from(text + '\0', 'utf8');
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x51; // 'Q'
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** ParameterStatus ('S' from the server): name and value. */
export function decodeParameterStatus(msg: Buffer): { name: string; value: string } | undefined {
  const end = messageEnd(msg);
  if (end === undefined) return undefined;
  const name = cstring(msg, 5, end);
  if (!name) return undefined;
  const value = cstring(msg, name.next, end);
  return value && value.next === end ? { name: name.text, value: value.text } : undefined;
}

export function encodeParameterStatus(name: string, value: string): Buffer {
  const body = Buffer.from(`${name}\0${value}\0`, 'utf8');
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x53; // 'S'
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** CommandComplete's tag ('C' from the server), e.g. "DISCARD ALL". */
export function decodeCommandTag(msg: Buffer): string | undefined {
  const end = messageEnd(msg);
  if (end === undefined) return undefined;
  return cstring(msg, 5, end)?.text;
}

/** A message with an empty body: ParseComplete '1', BindComplete '2', CloseComplete '3', Sync 'S', Flush 'H'. */
export function emptyMessage(type: string): Buffer {
  const out = Buffer.alloc(5);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4, 1);
  return out;
}

/** ReadyForQuery with its transaction status: 'I' idle, 'T' in a block, 'E' in a failed block. */
export function encodeReadyForQuery(status: number): Buffer {
  const out = Buffer.alloc(6);
  out[0] = 0x5a; // 'Z'
  out.writeInt32BE(5, 1);
  out[5] = status;
  return out;
}

export const PARSE_COMPLETE = emptyMessage('1');
export const CLOSE_COMPLETE = emptyMessage('3');
export const SYNC = emptyMessage('S');
