/**
 * The router as a client logging in to PostgreSQL with credentials it holds. A pure exchange: the pool feeds it
 * the body of each 'R' (Authentication*) message the server sends after the StartupMessage, and writes back what
 * it returns, until `done` (AuthenticationOk seen) or `error`.
 *
 * What it can answer, by what the router holds for the user:
 *   - AuthenticationOk (trust): anything, even nothing.
 *   - CleartextPassword: a plain password.
 *   - MD5Password: a plain password, or pg_authid's md5 hash (md5(hash-hex + salt) needs only the hash).
 *   - SASL SCRAM-SHA-256: a plain password, or a SCRAM secret together with the ClientKey that a client's valid
 *     proof revealed (`clientKey`): the same salt and iterations on both sides, so the router proves the
 *     client's identity without ever knowing the password (PgBouncer logs in the same way).
 * The server's signature in SASLFinal is checked: a server that cannot prove it knows the secret (a wrong one,
 * or an AuthenticationOk that skips the end of the exchange) is an error, never a login.
 *
 * Error messages name the user and the method, never a password, hash or key.
 */
import { randomBytes } from 'node:crypto';
import {
  AUTH_CLEARTEXT,
  AUTH_MD5,
  AUTH_OK,
  AUTH_SASL,
  AUTH_SASL_CONTINUE,
  AUTH_SASL_FINAL,
  decodeAuthRequest,
  encodePasswordMessage,
  encodeSASLInitialResponse,
  encodeSASLResponse,
} from './messages';
import { SCRAM_MECHANISM, clientProof, decodeBase64, keysForPassword, newNonce, parseAttributes, parseServerFirst, sameBytes, serverSignature, sha256, type ScramKeys } from './scram';
import type { Secret } from './secrets';
import { md5Inner, md5Response } from './md5';

export interface ServerLoginOptions {
  user: string;
  secret: Secret | undefined;
  /** The ClientKey recovered from the client's SCRAM proof: lets a SCRAM secret log in. */
  clientKey?: Buffer;
  random?: (n: number) => Buffer;
}

export interface ServerLoginStep {
  /** A whole 'p' message to send to the server. */
  send?: Buffer;
  /** AuthenticationOk seen: the server goes on with ParameterStatus, BackendKeyData, ReadyForQuery. */
  done?: boolean;
  /** The login cannot go on (close the server connection); says why, without secrets. */
  error?: string;
}

/** The GS2 header "n,,": no channel binding (the router does not bind to the server's TLS channel). */
const GS2_HEADER = 'n,,';

type State =
  | { at: 'start' }
  | { at: 'sasl-first'; nonce: string; clientFirstBare: string }
  | { at: 'sasl-final'; expectedSignature: Buffer }
  | { at: 'sasl-verified' }
  | { at: 'password-sent' }
  | { at: 'done' }
  | { at: 'failed'; error: string };

export class ServerLogin {
  private state: State = { at: 'start' };
  private readonly random: (n: number) => Buffer;

  constructor(private readonly opts: ServerLoginOptions) {
    this.random = opts.random ?? randomBytes;
  }

  receive(authRequestBody: Buffer): ServerLoginStep {
    if (this.state.at === 'failed') return { error: this.state.error };
    if (this.state.at === 'done') return this.fail('authentication request after AuthenticationOk');
    const req = decodeAuthRequest(authRequestBody);
    switch (req.code) {
      case 'malformed':
        return this.fail(`server sent a ${req.message}`);
      case 'other':
        return this.fail(`server asks for an authentication method the router does not support (code ${req.value})`);
      case AUTH_OK:
        return this.ok();
      case AUTH_CLEARTEXT:
        return this.cleartext();
      case AUTH_MD5:
        return this.md5(req.salt);
      case AUTH_SASL:
        return this.saslStart(req.mechanisms);
      case AUTH_SASL_CONTINUE:
        return this.saslContinue(req.data.toString('utf8'));
      case AUTH_SASL_FINAL:
        return this.saslFinal(req.data.toString('utf8'));
    }
  }

  private fail(error: string): ServerLoginStep {
    this.state = { at: 'failed', error };
    return { error };
  }

  private ok(): ServerLoginStep {
    // A server that started SCRAM must finish it: an early Ok would skip the proof that it holds the secret.
    if (this.state.at === 'sasl-first' || this.state.at === 'sasl-final') return this.fail('server sent AuthenticationOk before completing the SCRAM exchange');
    this.state = { at: 'done' };
    return { done: true };
  }

  private firstRequest(): boolean {
    return this.state.at === 'start';
  }

  private missing(method: string): ServerLoginStep {
    const secret = this.opts.secret;
    if (!secret) return this.fail(`server asks for ${method} authentication and the router holds no password for user "${this.opts.user}"`);
    return this.fail(`server asks for ${method} authentication and the router holds only a${secret.kind === 'md5' ? 'n md5 hash' : ' SCRAM secret'} for user "${this.opts.user}"`);
  }

  private cleartext(): ServerLoginStep {
    if (!this.firstRequest()) return this.fail('unexpected CleartextPassword request in the middle of authentication');
    const secret = this.opts.secret;
    if (secret?.kind !== 'plain') return this.missing('password (cleartext)');
    this.state = { at: 'password-sent' };
    return { send: encodePasswordMessage(secret.password) };
  }

  private md5(salt: Buffer): ServerLoginStep {
    if (!this.firstRequest()) return this.fail('unexpected MD5Password request in the middle of authentication');
    const inner = md5Inner(this.opts.secret, this.opts.user);
    if (inner === undefined) return this.missing('md5');
    this.state = { at: 'password-sent' };
    return { send: encodePasswordMessage(md5Response(inner, salt)) };
  }

  private saslStart(mechanisms: string[]): ServerLoginStep {
    if (!this.firstRequest()) return this.fail('unexpected AuthenticationSASL request in the middle of authentication');
    if (!mechanisms.includes(SCRAM_MECHANISM)) return this.fail(`server offers no SASL mechanism the router supports (offered: ${mechanisms.join(', ') || 'none'})`);
    const secret = this.opts.secret;
    if (secret?.kind !== 'plain' && !(secret?.kind === 'scram' && this.opts.clientKey)) {
      if (secret?.kind === 'scram') return this.fail(`server asks for SCRAM-SHA-256 and the router holds a SCRAM secret for user "${this.opts.user}" but no client proof to log in with`);
      return this.missing('SCRAM-SHA-256');
    }
    const nonce = newNonce(this.random);
    // The user name inside SCRAM is ignored by PostgreSQL (the StartupMessage's user counts); libpq sends it empty.
    const clientFirstBare = `n=,r=${nonce}`;
    this.state = { at: 'sasl-first', nonce, clientFirstBare };
    return { send: encodeSASLInitialResponse(SCRAM_MECHANISM, Buffer.from(GS2_HEADER + clientFirstBare, 'utf8')) };
  }

  private saslContinue(serverFirstText: string): ServerLoginStep {
    if (this.state.at !== 'sasl-first') return this.fail('unexpected SASLContinue message');
    const { nonce, clientFirstBare } = this.state;
    const serverFirst = parseServerFirst(serverFirstText);
    if (typeof serverFirst === 'string') return this.fail(serverFirst);
    if (!serverFirst.nonce.startsWith(nonce) || serverFirst.nonce.length === nonce.length) return this.fail('SCRAM server nonce does not extend the client nonce');
    const keys = this.keysFor(serverFirst.salt, serverFirst.iterations);
    if (typeof keys === 'string') return this.fail(keys);
    const withoutProof = `c=${Buffer.from(GS2_HEADER).toString('base64')},r=${serverFirst.nonce}`;
    const authMessage = `${clientFirstBare},${serverFirstText},${withoutProof}`;
    const proof = clientProof(keys.clientKey, authMessage);
    this.state = { at: 'sasl-final', expectedSignature: serverSignature(keys.serverKey, authMessage) };
    return { send: encodeSASLResponse(Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8')) };
  }

  private keysFor(salt: Buffer, iterations: number): ScramKeys | string {
    const secret = this.opts.secret;
    if (secret?.kind === 'plain') return keysForPassword(secret.password, salt, iterations);
    if (secret?.kind !== 'scram' || !this.opts.clientKey) return 'no SCRAM credentials';
    // The proof needs the server's StoredKey: only the very secret whose ClientKey the client revealed will do.
    if (!sameBytes(secret.salt, salt) || secret.iterations !== iterations) {
      return `the server's SCRAM salt or iteration count for user "${this.opts.user}" differs from the router's secret (the password changed on the server?)`;
    }
    if (!sameBytes(sha256(this.opts.clientKey), secret.storedKey)) return `the client proof does not match the router's SCRAM secret for user "${this.opts.user}"`;
    return { clientKey: this.opts.clientKey, storedKey: secret.storedKey, serverKey: secret.serverKey };
  }

  private saslFinal(serverFinalText: string): ServerLoginStep {
    if (this.state.at !== 'sasl-final') return this.fail('unexpected SASLFinal message');
    const attrs = parseAttributes(serverFinalText);
    if (!attrs) return this.fail('malformed SCRAM server-final-message');
    const [name, value] = attrs[0]!;
    if (name === 'e') return this.fail(`server refused the SCRAM exchange: ${value}`);
    const signature = name === 'v' ? decodeBase64(value) : undefined;
    if (!signature) return this.fail('malformed SCRAM server-final-message');
    if (!sameBytes(signature, this.state.expectedSignature)) return this.fail('the server\'s SCRAM signature is wrong: it does not hold the secret of user "' + this.opts.user + '"');
    this.state = { at: 'sasl-verified' };
    return {};
  }
}
