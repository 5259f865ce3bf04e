/**
 * The router as the server, authenticating a client (pooled listeners): a pure exchange over message bodies.
 * `start()` gives the first Authentication request to send; each client 'p' message body goes to `receive()`;
 * the result is more messages to send, a success (with any last messages, e.g. SASLFinal, to send BEFORE the
 * caller's greeting, which starts with AuthenticationOk), or a failure with the SQLSTATE and message for the
 * client's ErrorResponse and a reason for the metric.
 *
 * The method, by `type` and what the userlist holds for the user (PgBouncer's auth_type rules):
 *   trust            → no exchange.
 *   plain            → cleartext password, checked against any kind of secret.
 *   scram-sha-256    → SCRAM for a password or SCRAM secret; md5 for an md5 hash (the only way such an entry works).
 *   md5              → md5 for a password or md5 hash; SCRAM for a SCRAM secret (an md5 response cannot be checked
 *                      against one), as PostgreSQL's own md5 method does.
 * A user with no entry gets a complete SCRAM exchange against a made-up secret (a salt stable per user, so two
 * attempts look alike) and fails exactly like a wrong password, as PostgreSQL does: the client cannot tell whether
 * the user exists; only the metric's reason can.
 *
 * A successful SCRAM exchange or cleartext password also yields the ClientKey, which ServerLogin needs to log in
 * to PostgreSQL with a SCRAM secret. Malformed, truncated or oversized messages fail with 08P01, never a throw.
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  AUTH_CLEARTEXT,
  AUTH_MD5,
  AUTH_SASL_CONTINUE,
  AUTH_SASL_FINAL,
  decodePasswordMessage,
  decodeSASLInitialResponse,
  encodeAuthentication,
  encodeAuthenticationSASL,
} from './messages';
import { DEFAULT_SCRAM_ITERATIONS, SCRAM_MECHANISM, SCRAM_SALT_LENGTH, keysForPassword, sameBytes } from './scram';
import { ScramVerifier } from './scram-server';
import { md5Inner, md5Response } from './md5';
import { scramSecretFromPassword, type ScramSecret, type Secret } from './secrets';

export type AuthType = 'scram-sha-256' | 'md5' | 'plain' | 'trust';
export const AUTH_TYPES: readonly AuthType[] = ['scram-sha-256', 'md5', 'plain', 'trust'];

export type AuthFailureReason = 'wrong_password' | 'unknown_user' | 'protocol' | 'method';

export type AuthStep =
  | { kind: 'send'; messages: Buffer[] }
  | { kind: 'ok'; messages: Buffer[]; clientKey?: Buffer }
  | { kind: 'fail'; sqlstate: string; message: string; reason: AuthFailureReason };

export interface ClientAuthOptions {
  user: string;
  secret: Secret | undefined;
  type: AuthType;
  random?: (n: number) => Buffer;
}

/**
 * The longest 'p' body accepted. PostgreSQL allows 64 kB for an authentication token; real SCRAM messages are
 * about 100 bytes and passwords rarely reach 100: a few kB is generous and bounds the work a stranger can cause.
 */
export const MAX_AUTH_MESSAGE_BYTES = 8192;

/** Per process: keys the made-up salts of unknown users (stable within a process, unguessable from outside). */
const MOCK_KEY = randomBytes(32);

type Method = 'scram' | 'md5' | 'cleartext';
type State =
  | { at: 'new' }
  | { at: 'sasl-initial' | 'sasl-response'; verifier: ScramVerifier }
  | { at: 'md5'; salt: Buffer }
  | { at: 'cleartext' }
  | { at: 'finished' };

export class ClientAuthExchange {
  private state: State = { at: 'new' };
  private readonly random: (n: number) => Buffer;

  constructor(private readonly opts: ClientAuthOptions) {
    this.random = opts.random ?? randomBytes;
  }

  start(): AuthStep {
    if (this.state.at !== 'new') return this.protocolError('authentication already started');
    if (this.opts.type === 'trust') {
      this.state = { at: 'finished' };
      return { kind: 'ok', messages: [] };
    }
    switch (this.method()) {
      case 'cleartext':
        this.state = { at: 'cleartext' };
        return { kind: 'send', messages: [encodeAuthentication(AUTH_CLEARTEXT)] };
      case 'md5': {
        const salt = this.random(4);
        this.state = { at: 'md5', salt };
        return { kind: 'send', messages: [encodeAuthentication(AUTH_MD5, salt)] };
      }
      case 'scram':
        this.state = { at: 'sasl-initial', verifier: new ScramVerifier(this.scramSecret(), this.random) };
        return { kind: 'send', messages: [encodeAuthenticationSASL([SCRAM_MECHANISM])] };
    }
  }

  receive(body: Buffer): AuthStep {
    if (body.length > MAX_AUTH_MESSAGE_BYTES) return this.protocolError(`authentication message too long: ${body.length} bytes (limit ${MAX_AUTH_MESSAGE_BYTES})`);
    const state = this.state;
    switch (state.at) {
      case 'new':
      case 'finished':
        return this.protocolError('unexpected authentication message');
      case 'cleartext':
        return this.checkCleartext(body);
      case 'md5':
        return this.checkMd5(body, state.salt);
      case 'sasl-initial':
        return this.saslInitial(body, state.verifier);
      case 'sasl-response':
        return this.saslResponse(body, state.verifier);
    }
  }

  private method(): Method {
    const { type, secret } = this.opts;
    if (type === 'plain') return 'cleartext';
    if (!secret) return 'scram';
    if (type === 'md5') return secret.kind === 'scram' ? 'scram' : 'md5';
    return secret.kind === 'md5' ? 'md5' : 'scram';
  }

  /** The secret to verify a SCRAM exchange against: the user's, one derived from their password, or a mock. */
  private scramSecret(): ScramSecret {
    const { user, secret } = this.opts;
    if (secret?.kind === 'scram') return secret;
    // A salt derived from the user name: the same password gives the same keys each time, so the PBKDF2 cache hits.
    const salt = createHmac('sha256', MOCK_KEY).update(`salt\0${user}`).digest().subarray(0, SCRAM_SALT_LENGTH);
    if (secret?.kind === 'plain') return scramSecretFromPassword(secret.password, salt, DEFAULT_SCRAM_ITERATIONS);
    const junk = createHmac('sha256', MOCK_KEY).update(`keys\0${user}`).digest();
    return { kind: 'scram', iterations: DEFAULT_SCRAM_ITERATIONS, salt, storedKey: junk, serverKey: junk };
  }

  private saslInitial(body: Buffer, verifier: ScramVerifier): AuthStep {
    const initial = decodeSASLInitialResponse(body);
    if (!initial) return this.protocolError('malformed SASLInitialResponse message');
    if (initial.mechanism !== SCRAM_MECHANISM) return this.methodError(`client selected an invalid SASL authentication mechanism: the router offers ${SCRAM_MECHANISM} only`);
    if (!initial.data) return this.protocolError('SASLInitialResponse without data');
    const step = verifier.first(initial.data.toString('utf8'));
    if (step.kind === 'fail') return this.scramFailure(step.reason, step.detail);
    if (step.kind !== 'continue') return this.protocolError('unexpected SCRAM state');
    this.state = { at: 'sasl-response', verifier };
    return { kind: 'send', messages: [encodeAuthentication(AUTH_SASL_CONTINUE, Buffer.from(step.serverFirst, 'utf8'))] };
  }

  private saslResponse(body: Buffer, verifier: ScramVerifier): AuthStep {
    const step = verifier.final(body.toString('utf8'));
    if (step.kind === 'fail') return this.scramFailure(step.reason, step.detail);
    if (step.kind !== 'ok') return this.protocolError('unexpected SCRAM state');
    this.state = { at: 'finished' };
    return { kind: 'ok', messages: [encodeAuthentication(AUTH_SASL_FINAL, Buffer.from(step.serverFinal, 'utf8'))], clientKey: step.clientKey };
  }

  private scramFailure(reason: 'protocol' | 'method' | 'wrong_password', detail: string): AuthStep {
    if (reason === 'wrong_password') return this.wrongPassword();
    return reason === 'method' ? this.methodError(detail) : this.protocolError(detail);
  }

  private checkMd5(body: Buffer, salt: Buffer): AuthStep {
    const response = decodePasswordMessage(body);
    if (response === undefined) return this.protocolError('malformed password message');
    if (!/^md5[0-9a-f]{32}$/.test(response)) return this.protocolError('malformed md5 password response: expected "md5" and 32 hex digits');
    const { user, secret } = this.opts;
    const inner = md5Inner(secret, user);
    if (inner === undefined) return this.wrongPassword();
    const expected = md5Response(inner, salt);
    if (!sameBytes(Buffer.from(response), Buffer.from(expected))) return this.wrongPassword();
    this.state = { at: 'finished' };
    return { kind: 'ok', messages: [] };
  }

  private checkCleartext(body: Buffer): AuthStep {
    const password = decodePasswordMessage(body);
    if (password === undefined) return this.protocolError('malformed password message');
    const { user, secret } = this.opts;
    if (!secret) return this.wrongPassword();
    let clientKey: Buffer | undefined;
    let good: boolean;
    if (secret.kind === 'plain') good = sameBytes(Buffer.from(password), Buffer.from(secret.password));
    else if (secret.kind === 'md5') good = sameBytes(Buffer.from(`md5${md5Inner({ kind: 'plain', password }, user)}`), Buffer.from(secret.hash));
    else {
      const keys = keysForPassword(password, secret.salt, secret.iterations);
      good = sameBytes(keys.storedKey, secret.storedKey) && sameBytes(keys.serverKey, secret.serverKey);
      clientKey = keys.clientKey;
    }
    if (!good) return this.wrongPassword();
    this.state = { at: 'finished' };
    return { kind: 'ok', messages: [], ...(clientKey ? { clientKey } : {}) };
  }

  private finish(step: Extract<AuthStep, { kind: 'fail' }>): AuthStep {
    this.state = { at: 'finished' };
    return step;
  }

  private wrongPassword(): AuthStep {
    // The same words for a wrong password and an unknown user: the client must not learn which.
    return this.finish({
      kind: 'fail',
      sqlstate: '28P01',
      message: `password authentication failed for user "${this.opts.user}"`,
      reason: this.opts.secret ? 'wrong_password' : 'unknown_user',
    });
  }

  private methodError(message: string): AuthStep {
    return this.finish({ kind: 'fail', sqlstate: '28000', message, reason: 'method' });
  }

  private protocolError(message: string): AuthStep {
    return this.finish({ kind: 'fail', sqlstate: '08P01', message, reason: 'protocol' });
  }
}
