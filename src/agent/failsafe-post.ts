/**
 * The leader's `POST /failsafe` to one member (Patroni: 2 s, one try per round). Any failure is an answer, not an
 * exception: a member that cannot be asked fails the round (failsafe.ts judgeRound).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SYSTEM_TLS, type ClientTls } from '../lib/json-get';
import { describe } from '../lib/errors';
import type { RoundAnswer } from './failsafe';

export type FailsafePost = (name: string, apiUrl: string, body: Record<string, unknown>, timeoutMs: number) => Promise<RoundAnswer>;

const MAX_BODY = 64 * 1024;

/** Posts with this agent's TLS for member calls and, when the REST API has one, its Basic credentials (as Patroni). */
export function failsafePoster(tls: ClientTls = SYSTEM_TLS, auth?: { username: string; password: string }): FailsafePost {
  return (name, apiUrl, body, timeoutMs) =>
    new Promise<RoundAnswer>((resolve) => {
      let url: URL;
      try {
        // api_url names /patroni; the endpoint sits beside it.
        url = new URL('/failsafe', apiUrl);
      } catch {
        resolve({ name, error: `not a URL: ${apiUrl}` });
        return;
      }
      const isHttps = url.protocol === 'https:';
      const payload = Buffer.from(JSON.stringify(body), 'utf8');
      const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': payload.length, connection: 'close' };
      if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
      // The deadline covers connect, request and the whole answer (AbortSignal: no timer of our own to clear).
      const options = { method: 'POST', agent: false, headers, signal: AbortSignal.timeout(timeoutMs), ...(isHttps ? tls.https : {}) };
      const req = (isHttps ? httpsRequest : httpRequest)(url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY) chunks.push(c);
        });
        res.on('end', () => resolve({ name, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => resolve({ name, error: describe(err) }));
      });
      req.on('error', (err) => resolve({ name, error: describe(err) }));
      req.end(payload);
    });
}
