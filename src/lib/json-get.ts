/**
 * GET a member's REST document (`/patroni`), used by the agents' peer queries and the router's health checks: a
 * hard deadline, a bounded body, any status code (a health endpoint's 503 still carries the document), and the
 * TLS of the caller: a private CA and a client certificate, read from their files once (`clientTls`) into one
 * SecureContext that every request reuses.
 *
 * Certificate checks follow Patroni's PatroniRequest for member-to-member calls: with a private CA file, the chain
 * must lead to that CA (and only that CA: the system store is not used) but the host name is not compared, since
 * membership in the cluster's CA is the identity (Patroni sets `assert_hostname: False` for these calls); without
 * a CA file, the system store and the host name are checked, as any HTTPS client does.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ConfigError, describe } from './errors';

/** A PEM file and the setting that named it (for error messages). */
export interface TlsFile {
  file: string;
  field: string;
}

export interface ClientTlsFiles {
  /** CA bundle the server certificate must chain to (replaces the system store). */
  ca?: TlsFile;
  /** Client certificate presented to servers asking for one (`verify_client`). */
  cert?: TlsFile;
  /** Its key; defaults to `cert` (a PEM holding both, as in Patroni). */
  key?: TlsFile;
  passphrase?: string;
}

type TlsRequestOptions = RequestOptions & { secureContext?: SecureContext };

/** Ready-made options for node:https, built once. */
export interface ClientTls {
  readonly https: Readonly<TlsRequestOptions>;
}

export const SYSTEM_TLS: ClientTls = { https: {} };

const MAX_BODY = 256 * 1024;

/** Reads a PEM file named by a setting; a ConfigError naming that setting when it cannot be read. */
export function readPem(f: TlsFile): Buffer {
  try {
    return readFileSync(f.file);
  } catch (err) {
    throw new ConfigError(f.field, `cannot read ${f.file}: ${(err as NodeJS.ErrnoException).code ?? describe(err)}`, 'give the path of a PEM file readable by this process');
  }
}

/** Runs `build` (a TLS context from PEM files); a ConfigError naming `f`'s setting when it throws. */
export function check(build: () => unknown, f: TlsFile, fix: string): void {
  try {
    build();
  } catch (err) {
    throw new ConfigError(f.field, `${f.file} cannot be used: ${describe(err)}`, fix);
  }
}

/** Reads the files and builds the TLS context; throws a ConfigError naming the setting when one is unusable. */
export function clientTls(files: ClientTlsFiles | undefined, verify = true): ClientTls {
  const opts: TlsRequestOptions = { rejectUnauthorized: verify };
  if (!files || (!files.ca && !files.cert)) return verify ? SYSTEM_TLS : { https: opts };
  const ca = files.ca ? readPem(files.ca) : undefined;
  const keyFile = files.key ?? files.cert;
  const cert = files.cert ? readPem(files.cert) : undefined;
  const key = keyFile && cert ? readPem(keyFile) : undefined;
  if (ca) check(() => createSecureContext({ ca }), files.ca!, 'give the PEM file of the CA that signs the members\' certificates');
  const pass = files.passphrase !== undefined ? { passphrase: files.passphrase } : {};
  if (cert && key) check(() => createSecureContext({ cert, key, ...pass }), files.key ?? files.cert!, 'check that the certificate, its key and the key password belong together and are PEM');
  opts.secureContext = createSecureContext({ ...(ca ? { ca } : {}), ...(cert && key ? { cert, key, ...pass } : {}) });
  // A private CA identifies the cluster's members: the host name is not compared (Patroni: assert_hostname False).
  if (ca) opts.checkServerIdentity = () => undefined;
  return { https: opts };
}

/** GETs `url` and parses its JSON body, whatever the status code; rejects on transport errors, timeout, non-JSON. */
export function getJson(url: string, timeoutMs: number, tls: ClientTls = SYSTEM_TLS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new Error(`not a URL: ${url}`));
      return;
    }
    const isHttps = parsed.protocol === 'https:';
    if (!isHttps && parsed.protocol !== 'http:') {
      reject(new Error(`unsupported api_url scheme ${parsed.protocol}`));
      return;
    }
    const options: TlsRequestOptions = { method: 'GET', agent: false, headers: { accept: 'application/json', connection: 'close' }, ...(isHttps ? tls.https : {}) };
    const req = (isHttps ? httpsRequest : httpRequest)(parsed, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error('answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new Error(`HTTP ${res.statusCode ?? '?'} with a body that is not JSON`));
        }
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}
