/**
 * PostgreSQL's md5 password method: pg_authid keeps 'md5' + md5(password + user) (hex); over the wire a client
 * answers 'md5' + md5(that hex + the server's 4-byte salt). Knowing the stored hash is enough to answer, which
 * is why the router can log in from an md5 userlist entry (and why md5 is weaker than SCRAM).
 */
import { createHash } from 'node:crypto';
import type { Secret } from './secrets';

export function md5hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** The hex inside pg_authid's md5 form, from a password or the stored hash; undefined for a SCRAM secret. */
export function md5Inner(secret: Secret | undefined, user: string): string | undefined {
  if (secret?.kind === 'plain') return md5hex(Buffer.from(secret.password + user, 'utf8'));
  if (secret?.kind === 'md5') return secret.hash.slice(3);
  return undefined;
}

/** The PasswordMessage text answering an MD5Password request. */
export function md5Response(inner: string, salt: Buffer): string {
  return `md5${md5hex(Buffer.concat([Buffer.from(inner, 'utf8'), salt]))}`;
}
