/**
 * The pooled session's framing of PostgreSQL's regular messages (after the startup packet): a type byte and an
 * int32 length that counts itself (protocol docs, "Message Formats"). The pure `splitMessage` says where the
 * message at an offset ends (or how many bytes it needs, or why the bytes are not a message), like wire.ts's
 * parseFrontendPacket; `MessageFramer` applies it to a socket's chunks. Frontend lengths are bounded the way
 * PostgreSQL bounds them (postgres.c SocketBackend: 10,000 bytes for the small message types, a large limit for
 * the rest), so a hostile length is refused before any byte of it is buffered or forwarded; frontend types are
 * checked against the list a client may send. Backend bytes come from PostgreSQL, so only its own 1 GB bound
 * applies. Encoders for the few messages the router writes itself sit at the end.
 */
import { encodeErrorResponse, type ErrorFields } from '../wire';

export type Side = 'frontend' | 'backend';

/** Message type bytes, as the protocol names them. */
export const MSG = {
  // frontend
  bind: 0x42, // B
  close: 0x43, // C
  copyData: 0x64, // d (both directions)
  copyDone: 0x63, // c (both directions)
  copyFail: 0x66, // f
  describe: 0x44, // D (frontend) / DataRow (backend)
  execute: 0x45, // E (frontend) / ErrorResponse (backend)
  flush: 0x48, // H
  functionCall: 0x46, // F
  parse: 0x50, // P
  password: 0x70, // p (SASLInitialResponse, SASLResponse, PasswordMessage)
  query: 0x51, // Q
  sync: 0x53, // S (frontend) / ParameterStatus (backend)
  terminate: 0x58, // X
  // backend
  authentication: 0x52, // R
  backendKeyData: 0x4b, // K
  bindComplete: 0x32, // 2
  closeComplete: 0x33, // 3
  commandComplete: 0x43, // C
  copyInResponse: 0x47, // G
  copyOutResponse: 0x48, // H
  copyBothResponse: 0x57, // W
  dataRow: 0x44, // D
  emptyQuery: 0x49, // I
  errorResponse: 0x45, // E
  noData: 0x6e, // n
  noticeResponse: 0x4e, // N
  notification: 0x41, // A
  parameterDescription: 0x74, // t
  parameterStatus: 0x53, // S
  parseComplete: 0x31, // 1
  portalSuspended: 0x73, // s
  readyForQuery: 0x5a, // Z
  rowDescription: 0x54, // T
} as const;

/** The types a client may send after startup (protocol 3.0). */
const FRONTEND_TYPES = new Set([...'BCdcfDEHFPpQSX'].map((c) => c.charCodeAt(0)));
/** PostgreSQL's large-message types: any other frontend message is at most SMALL_MESSAGE_LIMIT bytes long. */
const LARGE_FRONTEND_TYPES = new Set([...'BdFPpQ'].map((c) => c.charCodeAt(0)));
/** PostgreSQL's PQ_SMALL_MESSAGE_LIMIT. */
export const SMALL_MESSAGE_LIMIT = 10_000;
/**
 * The default bound of a client's Query, Parse, Bind, CopyData or FunctionCall message. PostgreSQL allows 1 GB, but
 * the router holds a whole client message before it forwards it, so the bound is the memory one client may make it
 * hold; 64 MB leaves room for large parameters and COPY rows.
 */
export const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
/** PostgreSQL's PQ_LARGE_MESSAGE_LIMIT (MaxAllocSize - 1): nothing longer can come from a server. */
export const BACKEND_MAX_MESSAGE = 0x3fffffff - 1;

export type MessageSplit =
  /** Not all of it yet; `need` is the message's total size once its header has arrived. */
  | { kind: 'incomplete'; need?: number }
  /** A whole message: `length` counts the type byte too (1 + the int32 length). */
  | { kind: 'message'; type: number; length: number }
  | { kind: 'invalid'; sqlstate: '08P01'; message: string; reason: 'oversized' | 'malformed' };

/** Where the message starting at `buf[offset]` ends, from the `side` that sent it; `maxLength` bounds large frontend messages. */
export function splitMessage(buf: Buffer, offset: number, side: Side, maxLength = DEFAULT_MAX_MESSAGE): MessageSplit {
  const available = buf.length - offset;
  if (available < 1) return { kind: 'incomplete' };
  const type = buf[offset]!;
  if (side === 'frontend' && !FRONTEND_TYPES.has(type)) {
    return invalid('malformed', `invalid frontend message type ${type}`);
  }
  if (available < 5) return { kind: 'incomplete' };
  const declared = buf.readInt32BE(offset + 1);
  if (declared < 4) return invalid('malformed', `invalid message length ${declared}`);
  const limit = side === 'backend' ? BACKEND_MAX_MESSAGE : LARGE_FRONTEND_TYPES.has(type) ? maxLength : SMALL_MESSAGE_LIMIT;
  if (declared > limit) return invalid('oversized', `message of type "${String.fromCharCode(type)}" too long: ${declared} bytes (limit ${limit})`);
  const length = declared + 1;
  if (available < length) return { kind: 'incomplete', need: length };
  return { kind: 'message', type, length };
}

function invalid(reason: 'oversized' | 'malformed', message: string): MessageSplit {
  return { kind: 'invalid', sqlstate: '08P01', message, reason };
}

/** One whole message: `raw` is all of it (header included), `body` what follows the length; both are views. */
export interface Message {
  type: number;
  body: Buffer;
  raw: Buffer;
}

export type FrameResult = Message | { kind: 'invalid'; sqlstate: '08P01'; message: string; reason: 'oversized' | 'malformed' } | undefined;

/**
 * Splits a stream's chunks into whole messages. Messages come out as views of the chunks (no copy) unless one
 * spans chunks; the chunks of a large message are joined once, when its last byte has arrived (not on every chunk).
 * After an `invalid` the framer is stuck on it: the caller answers and closes.
 */
export class MessageFramer {
  private head: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Chunks after `head` not yet joined to it, and their total size. */
  private rest: Buffer[] = [];
  private restBytes = 0;
  /** The current message's total size once known (its header arrived), so the join waits for all of it. */
  private need = 0;

  constructor(
    private readonly side: Side,
    private readonly maxLength = DEFAULT_MAX_MESSAGE,
  ) {}

  /** Bytes received and not yet returned as messages. */
  get buffered(): number {
    return this.head.length - this.pos + this.restBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos >= this.head.length && this.rest.length === 0) {
      this.head = chunk;
      this.pos = 0;
      return;
    }
    this.rest.push(chunk);
    this.restBytes += chunk.length;
  }

  /** The next whole message, an `invalid` verdict, or undefined when more bytes are needed. */
  next(): FrameResult {
    for (;;) {
      const split = splitMessage(this.head, this.pos, this.side, this.maxLength);
      if (split.kind === 'invalid') return split;
      if (split.kind === 'message') {
        const raw = this.head.subarray(this.pos, this.pos + split.length);
        this.pos += split.length;
        this.need = 0;
        return { type: split.type, body: raw.subarray(5), raw };
      }
      if (split.need !== undefined) this.need = split.need;
      if (this.rest.length === 0) return undefined;
      const have = this.head.length - this.pos;
      if (this.need > 0 && have + this.restBytes < this.need) return undefined;
      this.head = Buffer.concat([this.head.subarray(this.pos), ...this.rest]);
      this.pos = 0;
      this.rest = [];
      this.restBytes = 0;
    }
  }

  /** Everything buffered and not yet returned, as one buffer (handing a stream over to another reader). */
  drainBuffered(): Buffer {
    const out = Buffer.concat([this.head.subarray(this.pos), ...this.rest]);
    this.head = Buffer.alloc(0);
    this.pos = 0;
    this.rest = [];
    this.restBytes = 0;
    this.need = 0;
    return out;
  }
}

/**
 * `parts` as one buffer to write: when they lie end to end in one chunk (the messages of one read from a server,
 * relayed untouched), a single view of it, neither allocated nor copied; else their concatenation.
 */
export function joinViews(parts: readonly Buffer[]): Buffer {
  const first = parts[0]!;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < parts.length; i++) {
    const b = parts[i]!;
    if (b.buffer !== first.buffer || b.byteOffset !== end) return Buffer.concat(parts);
    end += b.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

// ------------------------------------------------------------------------------------------- encoders

/** A message of `type` with `body`. */
export function encodeMessage(type: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** Transaction status in ReadyForQuery: idle, in a transaction block, in a failed transaction block. */
export type TxStatus = 'I' | 'T' | 'E';

export function readyForQuery(status: TxStatus): Buffer {
  return encodeMessage(MSG.readyForQuery, Buffer.from(status, 'latin1'));
}

export function authenticationOk(): Buffer {
  const body = Buffer.alloc(4);
  return encodeMessage(MSG.authentication, body);
}

export function parameterStatus(name: string, value: string): Buffer {
  return encodeMessage(MSG.parameterStatus, Buffer.from(`${name}\0${value}\0`, 'utf8'));
}

export function backendKeyData(processId: number, secretKey: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeInt32BE(processId | 0, 0);
  body.writeInt32BE(secretKey | 0, 4);
  return encodeMessage(MSG.backendKeyData, body);
}

export function commandComplete(tag: string): Buffer {
  return encodeMessage(MSG.commandComplete, Buffer.from(`${tag}\0`, 'utf8'));
}

/** An ErrorResponse for a statement (severity ERROR: the session goes on), unlike wire.ts's FATAL default. */
export function statementError(fields: Omit<ErrorFields, 'severity'>): Buffer {
  return encodeErrorResponse({ ...fields, severity: 'ERROR' });
}

export function terminate(): Buffer {
  return encodeMessage(MSG.terminate);
}

/** A NUL-terminated string at `offset` of `body`, and where the next field starts; undefined when unterminated. */
export function readCString(body: Buffer, offset: number): { value: string; next: number } | undefined {
  const end = body.indexOf(0, offset);
  if (end < 0) return undefined;
  return { value: body.toString('utf8', offset, end), next: end + 1 };
}

/** ParameterStatus body → name and value. */
export function decodeParameterStatus(body: Buffer): { name: string; value: string } | undefined {
  const name = readCString(body, 0);
  if (!name) return undefined;
  const value = readCString(body, name.next);
  return value ? { name: name.value, value: value.value } : undefined;
}
