/**
 * SCRAM-SHA-256 primitives (RFC 5802 with RFC 7677's hash), as PostgreSQL uses them (protocol docs, "SASL
 * Authentication"): PBKDF2-HMAC-SHA-256 salted passwords, the three keys, proofs and signatures, and the strict
 * parsing of the exchange's attribute lists. Pure functions over buffers and strings; node:crypto only.
 *
 *   SaltedPassword  = Hi(SASLprep(password), salt, i)          (PBKDF2, 32 bytes)
 *   ClientKey       = HMAC(SaltedPassword, "Client Key")
 *   StoredKey       = H(ClientKey)                                (what pg_authid keeps)
 *   ServerKey       = HMAC(SaltedPassword, "Server Key")          (what pg_authid keeps)
 *   AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
 *   ClientProof     = ClientKey XOR HMAC(StoredKey, AuthMessage)
 *   ServerSignature = HMAC(ServerKey, AuthMessage)
 *
 * A verifier holding StoredKey recovers ClientKey from a valid proof (proof XOR HMAC(StoredKey, AuthMessage)):
 * that is how a pooler that holds only secrets can log in to PostgreSQL as the client (PgBouncer does the same).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
export const SCRAM_PLUS_MECHANISM = 'SCRAM-SHA-256-PLUS';
/** PostgreSQL's default scram_iterations. */
export const DEFAULT_SCRAM_ITERATIONS = 4096;
/** PostgreSQL's SCRAM_DEFAULT_SALT_LEN and SCRAM_RAW_NONCE_LEN. */
export const SCRAM_SALT_LENGTH = 16;
export const SCRAM_NONCE_LENGTH = 18;
const KEY_LENGTH = 32;
/**
 * Bounds accepted from a peer: a server (or a userlist) asking for billions of PBKDF2 rounds would stall the
 * event loop for minutes. PostgreSQL itself accepts up to INT_MAX, but nothing real goes past a few million.
 */
export const MAX_SCRAM_ITERATIONS = 10_000_000;

export interface ScramKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
export const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Constant-time comparison of two byte strings of possibly different lengths. */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * SASLprep (RFC 4013) as far as it changes real passwords: non-ASCII spaces map to a space, "commonly mapped to
 * nothing" characters go, then NFKC. As PostgreSQL's pg_saslprep does, a password that SASLprep refuses (control
 * characters, unassigned or prohibited code points) is used as its raw bytes instead of being rejected, so a
 * client and the router always agree on the bytes.
 */
export function saslprep(password: string): Buffer {
  if (/^[\x20-\x7e]*$/.test(password)) return Buffer.from(password, 'utf8');
  const mapped = password
    .replace(/[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g, ' ')
    .replace(/[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g, '')
    .normalize('NFKC');
  if (mapped.length === 0 || /[\u0000-\u001f\u007f-\u009f\ufff9-\ufffd\ud800-\udfff]/.test(mapped)) return Buffer.from(password, 'utf8');
  return Buffer.from(mapped, 'utf8');
}

export function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(saslprep(password), salt, iterations, KEY_LENGTH, 'sha256');
}

export function keysFromSaltedPassword(salted: Buffer): ScramKeys {
  const clientKey = hmac(salted, 'Client Key');
  return { clientKey, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
}

/**
 * Keys for a password, cached: every server login of a pool derives the same keys from the same (password,
 * salt, iterations), and PBKDF2 at 4096 rounds blocks the event loop for milliseconds. The cache key is a hash,
 * never the password itself; the cache is bounded.
 */
const keyCache = new Map<string, ScramKeys>();
const KEY_CACHE_LIMIT = 256;

export function keysForPassword(password: string, salt: Buffer, iterations: number): ScramKeys {
  const id = sha256(Buffer.concat([Buffer.from(password, 'utf8'), Buffer.from([0]), salt, Buffer.from(`\0${iterations}`)])).toString('base64');
  const cached = keyCache.get(id);
  if (cached) return cached;
  const keys = keysFromSaltedPassword(saltedPassword(password, salt, iterations));
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(id, keys);
  return keys;
}

/** ClientProof for an AuthMessage, from the ClientKey (StoredKey = H(ClientKey)). */
export function clientProof(clientKey: Buffer, authMessage: string): Buffer {
  return xor(clientKey, hmac(sha256(clientKey), authMessage));
}

/** The ClientKey a proof carries, given the StoredKey; valid only when H(result) equals storedKey. */
export function recoverClientKey(storedKey: Buffer, authMessage: string, proof: Buffer): Buffer {
  return xor(proof, hmac(storedKey, authMessage));
}

export function serverSignature(serverKey: Buffer, authMessage: string): Buffer {
  return hmac(serverKey, authMessage);
}

export function newNonce(random: (n: number) => Buffer = randomBytes): string {
  return random(SCRAM_NONCE_LENGTH).toString('base64');
}

/** Strict base64 (Buffer.from ignores garbage): undefined when `text` is not canonical base64. */
export function decodeBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const out = Buffer.from(text, 'base64');
  return out.toString('base64') === text ? out : undefined;
}

/**
 * Splits a SCRAM message ("a=x,b=y,…") into ordered attributes. Each attribute is one ASCII letter, '=', then a
 * value without commas. Undefined when the layout is wrong (the caller answers a protocol error).
 */
export function parseAttributes(message: string): [string, string][] | undefined {
  if (message.length === 0) return undefined;
  const out: [string, string][] = [];
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) return undefined;
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

/** Printable ASCII except ',' (RFC 5802 "printable"): what a nonce may contain. */
export function isValidNonce(nonce: string): boolean {
  return nonce.length > 0 && /^[\x21-\x2b\x2d-\x7e]+$/.test(nonce);
}

export interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

/** Parses "r=<nonce>,s=<salt>,i=<iterations>" (extensions refused, as PostgreSQL's client does). */
export function parseServerFirst(message: string): ServerFirst | string {
  const attrs = parseAttributes(message);
  if (!attrs || attrs.length !== 3) return 'malformed SCRAM server-first-message';
  const [[r, nonce], [s, saltText], [i, iterText]] = attrs as [[string, string], [string, string], [string, string]];
  if (r !== 'r' || s !== 's' || i !== 'i') return 'malformed SCRAM server-first-message';
  if (!isValidNonce(nonce)) return 'invalid nonce in SCRAM server-first-message';
  const salt = decodeBase64(saltText);
  if (!salt || salt.length === 0) return 'invalid salt in SCRAM server-first-message';
  if (!/^[1-9][0-9]{0,9}$/.test(iterText) || Number(iterText) > MAX_SCRAM_ITERATIONS) return 'invalid iteration count in SCRAM server-first-message';
  return { nonce, salt, iterations: Number(iterText) };
}
