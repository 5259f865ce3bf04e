/**
 * The authentication messages of the PostgreSQL protocol (docs: "Message Formats"), encoded whole (type byte,
 * int32 length, body) and decoded from bodies (after the type byte and length, as the pool's framing hands
 * them over).
 *
 * Backend 'R' (Authentication*): int32 code, then
 *   0 Ok · 3 CleartextPassword · 5 MD5Password (4-byte salt) · 10 SASL (mechanism names, each NUL-terminated,
 *   then a NUL) · 11 SASLContinue (data) · 12 SASLFinal (data).
 * Frontend 'p': PasswordMessage (NUL-terminated string), SASLInitialResponse (mechanism NUL, int32 length or
 * -1, data), SASLResponse (data): the same type byte, told apart by the state of the exchange.
 */

export const AUTH_OK = 0;
export const AUTH_CLEARTEXT = 3;
export const AUTH_MD5 = 5;
export const AUTH_SASL = 10;
export const AUTH_SASL_CONTINUE = 11;
export const AUTH_SASL_FINAL = 12;

/** A whole message: type byte, int32 length (counting itself), body. */
export function message(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
};
const cstring = (text: string): Buffer => Buffer.from(`${text}\0`, 'utf8');

// ----------------------------------------------------------------------------------- backend → client

export function encodeAuthentication(code: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return message('R', Buffer.concat([int32(code), data]));
}

export function encodeAuthenticationSASL(mechanisms: string[]): Buffer {
  return encodeAuthentication(AUTH_SASL, Buffer.concat([...mechanisms.map(cstring), Buffer.from([0])]));
}

// ----------------------------------------------------------------------------------- client → backend

export function encodePasswordMessage(password: string): Buffer {
  return message('p', cstring(password));
}

export function encodeSASLInitialResponse(mechanism: string, data: Buffer): Buffer {
  return message('p', Buffer.concat([cstring(mechanism), int32(data.length), data]));
}

export function encodeSASLResponse(data: Buffer): Buffer {
  return message('p', data);
}

// ------------------------------------------------------------------------------------------ decoding

/** A decoded Authentication request body, or a reason it is malformed. */
export type AuthRequest =
  | { code: typeof AUTH_OK | typeof AUTH_CLEARTEXT }
  | { code: typeof AUTH_MD5; salt: Buffer }
  | { code: typeof AUTH_SASL; mechanisms: string[] }
  | { code: typeof AUTH_SASL_CONTINUE | typeof AUTH_SASL_FINAL; data: Buffer }
  | { code: 'other'; value: number }
  | { code: 'malformed'; message: string };

export function decodeAuthRequest(body: Buffer): AuthRequest {
  if (body.length < 4) return { code: 'malformed', message: 'authentication request shorter than its code' };
  const code = body.readInt32BE(0);
  const rest = body.subarray(4);
  switch (code) {
    case AUTH_OK:
    case AUTH_CLEARTEXT:
      return rest.length === 0 ? { code } : { code: 'malformed', message: `authentication request ${code} with trailing bytes` };
    case AUTH_MD5:
      return rest.length === 4 ? { code, salt: Buffer.from(rest) } : { code: 'malformed', message: 'MD5Password request without a 4-byte salt' };
    case AUTH_SASL: {
      const names = splitCStrings(rest);
      return names ? { code, mechanisms: names } : { code: 'malformed', message: 'malformed AuthenticationSASL mechanism list' };
    }
    case AUTH_SASL_CONTINUE:
    case AUTH_SASL_FINAL:
      return { code, data: Buffer.from(rest) };
    default:
      return { code: 'other', value: code };
  }
}

/** "a\0b\0\0" → ['a', 'b']; undefined unless the list ends with an empty string exactly at the end. */
function splitCStrings(buf: Buffer): string[] | undefined {
  const out: string[] = [];
  let pos = 0;
  for (;;) {
    const end = buf.indexOf(0, pos);
    if (end < 0) return undefined;
    if (end === pos) return end === buf.length - 1 ? out : undefined;
    out.push(buf.toString('utf8', pos, end));
    pos = end + 1;
  }
}

/** A PasswordMessage body: one NUL-terminated string and nothing after it; undefined otherwise. */
export function decodePasswordMessage(body: Buffer): string | undefined {
  const nul = body.indexOf(0);
  if (nul !== body.length - 1) return undefined;
  return body.toString('utf8', 0, nul);
}

/** A SASLInitialResponse body: mechanism, int32 length (-1: no data), exactly that many bytes of data. */
export function decodeSASLInitialResponse(body: Buffer): { mechanism: string; data?: Buffer } | undefined {
  const nul = body.indexOf(0);
  if (nul < 0 || body.length < nul + 5) return undefined;
  const mechanism = body.toString('utf8', 0, nul);
  const length = body.readInt32BE(nul + 1);
  const data = body.subarray(nul + 5);
  if (length === -1) return data.length === 0 ? { mechanism } : undefined;
  return length === data.length ? { mechanism, data } : undefined;
}
