/**
 * The verifier's half of SCRAM-SHA-256 (the router as the server, RFC 5802 §5 and PostgreSQL's auth-scram.c
 * rules): reads the client-first-message, answers the server-first-message, checks the client-final-message's
 * channel binding, nonce and proof. Only SCRAM-SHA-256 is offered, so the GS2 header may be "n,," (client does
 * not bind) or "y,," (client could bind but the server offered no -PLUS mechanism); "p=…" (binding requested)
 * and authorization identities are refused as method problems. Every malformed message is a protocol failure,
 * never a throw.
 */
import { randomBytes } from 'node:crypto';
import { decodeBase64, isValidNonce, newNonce, parseAttributes, recoverClientKey, sameBytes, serverSignature, sha256 } from './scram';
import type { ScramSecret } from './secrets';

export type ScramStep =
  | { kind: 'continue'; serverFirst: string }
  | { kind: 'ok'; serverFinal: string; clientKey: Buffer }
  | { kind: 'fail'; reason: 'protocol' | 'method' | 'wrong_password'; detail: string };

const protocol = (detail: string): ScramStep => ({ kind: 'fail', reason: 'protocol', detail });
const method = (detail: string): ScramStep => ({ kind: 'fail', reason: 'method', detail });

export class ScramVerifier {
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';

  constructor(
    private readonly secret: ScramSecret,
    private readonly random: (n: number) => Buffer = randomBytes,
  ) {}

  first(data: string): ScramStep {
    let rest: string;
    if (data.startsWith('n,') || data.startsWith('y,')) rest = data.slice(2);
    else if (data.startsWith('p=')) return method('channel binding is not supported: the router offers SCRAM-SHA-256 only');
    else return protocol('malformed SCRAM message: unexpected channel-binding flag');
    if (rest.startsWith('a=')) return method('SCRAM authorization identity is not supported');
    if (!rest.startsWith(',')) return protocol('malformed SCRAM message: expected a comma after the channel-binding flag');
    this.gs2Header = data.slice(0, 3);
    this.clientFirstBare = rest.slice(1);
    const attrs = parseAttributes(this.clientFirstBare);
    if (!attrs || attrs.length < 2) return protocol('malformed SCRAM client-first-message');
    if (attrs[0]![0] === 'm') return method('SCRAM mandatory extensions are not supported');
    if (attrs[0]![0] !== 'n' || attrs[1]![0] !== 'r') return protocol('malformed SCRAM client-first-message: expected n= and r=');
    const clientNonce = attrs[1]![1];
    if (!isValidNonce(clientNonce)) return protocol('invalid SCRAM client nonce');
    this.nonce = clientNonce + newNonce(this.random);
    this.serverFirst = `r=${this.nonce},s=${this.secret.salt.toString('base64')},i=${this.secret.iterations}`;
    return { kind: 'continue', serverFirst: this.serverFirst };
  }

  final(data: string): ScramStep {
    if (!this.serverFirst) return protocol('SCRAM client-final-message before the first');
    const attrs = parseAttributes(data);
    if (!attrs || attrs.length < 3) return protocol('malformed SCRAM client-final-message');
    const [[c, binding], [r, nonce]] = attrs as [[string, string], [string, string]];
    const [p, proofText] = attrs[attrs.length - 1]!;
    if (c !== 'c' || r !== 'r' || p !== 'p') return protocol('malformed SCRAM client-final-message: expected c=, r= and a final p=');
    const cbind = decodeBase64(binding);
    if (!cbind || cbind.toString('latin1') !== this.gs2Header) return protocol('SCRAM channel binding check failed');
    if (nonce !== this.nonce) return protocol('SCRAM nonce mismatch');
    const proof = decodeBase64(proofText);
    if (!proof || proof.length !== 32) return protocol('malformed SCRAM proof');
    const withoutProof = data.slice(0, data.length - proofText.length - 3);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientKey = recoverClientKey(this.secret.storedKey, authMessage, proof);
    if (!sameBytes(sha256(clientKey), this.secret.storedKey)) return { kind: 'fail', reason: 'wrong_password', detail: 'SCRAM proof does not match' };
    return { kind: 'ok', serverFinal: `v=${serverSignature(this.secret.serverKey, authMessage).toString('base64')}`, clientKey };
  }
}
