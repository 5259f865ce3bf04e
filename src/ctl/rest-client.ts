/**
 * Calls a member's REST API the way patronictl's PatroniRequest does: the endpoint replaces the path of the
 * member's `api_url`; Basic auth from `ctl.authentication`, else `restapi.authentication`; for https the CA from
 * `ctl.cacert`, else `restapi.cafile`; a client certificate from `ctl.certfile`/`keyfile`; `ctl.insecure` (or -k)
 * skips the server certificate check. Bodies are JSON. A status >= 400 is a response, not an error; a connection
 * failure or timeout throws.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface RestAuth {
  username: string;
  password: string;
}

export interface RestClientOptions {
  auth?: RestAuth;
  cacert?: string;
  certfile?: string;
  keyfile?: string;
  keyfilePassword?: string;
  insecure?: boolean;
  userAgent: string;
  /** Default per-request timeout. */
  timeoutMs: number;
}

export interface RestResponse {
  status: number;
  body: string;
}

export interface RestClient {
  request(apiUrl: string, method: string, endpoint: string, body?: unknown, timeoutMs?: number): Promise<RestResponse>;
}

export function endpointUrl(apiUrl: string, endpoint: string): URL {
  const url = new URL(apiUrl);
  url.pathname = `/${endpoint.replace(/^\/+/, '')}`;
  url.search = '';
  url.hash = '';
  return url;
}

export function basicAuthHeader(auth: RestAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

export function httpRestClient(opts: RestClientOptions): RestClient {
  const read = (file: string | undefined): Buffer | undefined => (file ? readFileSync(file) : undefined);
  const ca = read(opts.cacert);
  const cert = read(opts.certfile);
  const key = read(opts.keyfile ?? (opts.certfile ? opts.certfile : undefined));
  return {
    request(apiUrl, method, endpoint, body, timeoutMs = opts.timeoutMs) {
      const url = endpointUrl(apiUrl, endpoint);
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = { 'User-Agent': opts.userAgent, Accept: '*/*' };
      if (opts.auth) headers.Authorization = basicAuthHeader(opts.auth);
      if (payload) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = String(payload.length);
      }
      const https = url.protocol === 'https:';
      return new Promise<RestResponse>((resolve, reject) => {
        const req = (https ? httpsRequest : httpRequest)(url, {
          method: method.toUpperCase(),
          headers,
          timeout: timeoutMs,
          ...(https
            ? {
                rejectUnauthorized: !opts.insecure,
                ...(ca ? { ca } : {}),
                ...(cert ? { cert } : {}),
                ...(cert && key ? { key } : {}),
                ...(opts.keyfilePassword ? { passphrase: opts.keyfilePassword } : {}),
              }
            : {}),
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method.toUpperCase()} ${url.href}: no answer within ${timeoutMs} ms`)));
        req.on('error', (err) => reject(new Error(`${method.toUpperCase()} ${url.href}: ${err.message}`, { cause: err })));
        req.end(payload);
      });
    },
  };
}
