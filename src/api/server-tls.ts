/** HTTPS for the REST API: `restapi.certfile`/`keyfile`/`keyfile_password`, `cafile` + `verify_client`. */
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { readFileSync } from 'node:fs';
import { describe } from '../lib/errors';

export interface RestApiTls {
  certfile: string;
  keyfile?: string;
  keyfilePassword?: string;
  cafile?: string;
  /** `required`: every client presents a valid certificate (TLS handshake); `optional`: only the write endpoints. */
  verifyClient?: 'none' | 'optional' | 'required';
}

/** Reads the certificate files once at start; a missing or unreadable file fails the start with its path. */
export function tlsOptions(tls: RestApiTls): HttpsServerOptions {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`restapi.${what} ${file}: ${describe(err)}`, { cause: err });
    }
  };
  const verify = tls.verifyClient ?? 'none';
  return {
    cert: read(tls.certfile, 'certfile'),
    // Patroni: keyfile defaults to the certfile (a PEM holding both).
    key: read(tls.keyfile ?? tls.certfile, tls.keyfile ? 'keyfile' : 'certfile'),
    ...(tls.keyfilePassword !== undefined ? { passphrase: tls.keyfilePassword } : {}),
    ...(tls.cafile ? { ca: read(tls.cafile, 'cafile') } : {}),
    requestCert: verify !== 'none',
    rejectUnauthorized: verify === 'required',
  };
}

