/**
 * The router's TLS material, read from the files `tls:` names (config/router-tls.ts) where the router starts or
 * reloads: the SecureContext that terminates clients' TLS, and the CA the PostgreSQL servers' certificates are
 * checked against (verify-ca / verify-full). An unreadable file, a key that does not belong to the certificate, or
 * a bad CA is a ConfigError naming its field, so a reload with a broken file keeps the running certificate.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { check, readPem } from '../../lib/json-get';
import type { RouterTlsConfig, ServerTlsMode } from '../types';

/** Clients must speak TLS 1.2 or later (PostgreSQL's own ssl_min_protocol_version default). */
export const MIN_TLS_VERSION = 'TLSv1.2';

export interface RouterTls {
  /** The router's certificate and key, for terminateTls. */
  readonly server: SecureContext;
  readonly serverMode: ServerTlsMode;
  /** PEM of the CA that signs the PostgreSQL servers' certificates; undefined = the system store. */
  readonly ca?: Buffer;
}

export function loadRouterTls(config: RouterTlsConfig): RouterTls {
  const certFile = { file: config.certFile, field: 'tls.cert_file' };
  const keyFile = { file: config.keyFile, field: 'tls.key_file' };
  const cert = readPem(certFile);
  const key = readPem(keyFile);
  let server: SecureContext | undefined;
  check(() => (server = createSecureContext({ cert, key, minVersion: MIN_TLS_VERSION })), keyFile, 'check that key_file is the PEM private key of cert_file (unencrypted)');
  if (config.caFile === undefined) return { server: server!, serverMode: config.serverMode };
  const caFile = { file: config.caFile, field: 'tls.ca_file' };
  const ca = readPem(caFile);
  // createSecureContext skips what is not a certificate in `ca`: parse it, so a wrong file is named here.
  check(() => new X509Certificate(ca), caFile, 'give the PEM file of the CA that signs the PostgreSQL servers\' certificates');
  return { server: server!, serverMode: config.serverMode, ca };
}
