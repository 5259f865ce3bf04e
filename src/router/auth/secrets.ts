/**
 * What the router knows of a user's password: the password itself, PostgreSQL's md5 hash, or a SCRAM-SHA-256
 * secret, in the text forms pg_authid.rolpassword and PgBouncer's userlist use:
 *   SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>
 *   md5<32 hex digits>              (md5(password || user), hex)
 *   anything else                   (a plain password)
 * Error messages describe which part is wrong and never repeat the text (it is a secret).
 */
import { randomBytes } from 'node:crypto';
import { PghaError } from '../../lib/errors';
import { DEFAULT_SCRAM_ITERATIONS, MAX_SCRAM_ITERATIONS, SCRAM_SALT_LENGTH, decodeBase64, keysForPassword } from './scram';

export type Secret =
  | { kind: 'plain'; password: string }
  | { kind: 'md5'; hash: string } // 'md5' + md5(password + user), as pg_authid stores it
  | { kind: 'scram'; iterations: number; salt: Buffer; storedKey: Buffer; serverKey: Buffer };

export type ScramSecret = Extract<Secret, { kind: 'scram' }>;

const SCRAM_PREFIX = 'SCRAM-SHA-256$';
const MD5_SECRET = /^md5[0-9a-f]{32}$/;

/**
 * Parses a secret's text form. A text that starts like a SCRAM secret but does not parse is refused (it is a
 * damaged secret, not a password anyone chose); PostgreSQL would take it as a plain password, which would only
 * fail later with a confusing wrong-password error.
 */
export function parseSecret(text: string): Secret {
  if (MD5_SECRET.test(text)) return { kind: 'md5', hash: text };
  if (!text.startsWith(SCRAM_PREFIX)) return { kind: 'plain', password: text };
  const fail = (what: string): never => {
    throw new PghaError('invalid_secret', `invalid SCRAM-SHA-256 secret: ${what} (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)`);
  };
  const rest = text.slice(SCRAM_PREFIX.length);
  const dollar = rest.indexOf('$');
  if (dollar < 0) fail('no "$" before the keys');
  const [iterText, saltText, ...extra1] = rest.slice(0, dollar).split(':');
  const [storedText, serverText, ...extra2] = rest.slice(dollar + 1).split(':');
  if (extra1.length || extra2.length || saltText === undefined || serverText === undefined) fail('wrong number of fields');
  if (!/^[1-9][0-9]{0,9}$/.test(iterText!) || Number(iterText) > MAX_SCRAM_ITERATIONS) fail('iteration count is not a positive integer in range');
  const salt = decodeBase64(saltText!);
  if (!salt || salt.length === 0) fail('salt is not base64');
  const storedKey = decodeBase64(storedText!);
  const serverKey = decodeBase64(serverText!);
  if (!storedKey || storedKey.length !== 32) fail('StoredKey is not 32 bytes of base64');
  if (!serverKey || serverKey.length !== 32) fail('ServerKey is not 32 bytes of base64');
  return { kind: 'scram', iterations: Number(iterText), salt: salt!, storedKey: storedKey!, serverKey: serverKey! };
}

/** The text form of a SCRAM secret (as pg_authid shows it). */
export function formatScramSecret(secret: ScramSecret): string {
  const b64 = (b: Buffer) => b.toString('base64');
  return `${SCRAM_PREFIX}${secret.iterations}:${b64(secret.salt)}$${b64(secret.storedKey)}:${b64(secret.serverKey)}`;
}

/**
 * A SCRAM secret derived from a plain password (the salted password's StoredKey and ServerKey): what the router
 * needs to verify a client's SCRAM exchange when its userlist holds the password itself.
 */
export function scramSecretFromPassword(
  password: string,
  salt: Buffer = randomBytes(SCRAM_SALT_LENGTH),
  iterations: number = DEFAULT_SCRAM_ITERATIONS,
): ScramSecret {
  const { storedKey, serverKey } = keysForPassword(password, salt, iterations);
  return { kind: 'scram', iterations, salt, storedKey, serverKey };
}

/** Describes a secret for logs and /status without revealing it. */
export function secretKind(secret: Secret | undefined): 'none' | Secret['kind'] {
  return secret?.kind ?? 'none';
}
