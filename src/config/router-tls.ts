/**
 * `tls:` (top level): the router's own certificate, so TLS is terminated at the router (docs/router.md "TLS at the
 * router"), and how the router then talks to PostgreSQL (`server_mode`, libpq's sslmode names). The files are read
 * where the router starts or reloads (router/tls/context.ts), so an unreadable or mismatched one is refused there,
 * naming its field; here only the shape is checked. Without the section, TLS stays end to end (passthrough).
 */
import { ConfigError } from '../lib/errors';
import type { RouterTlsConfig, ServerTlsMode } from '../router/types';
import { checkKeys, section, str } from './router-values';
import { describeValue } from './values';

const TLS_KEYS = ['cert_file', 'key_file', 'ca_file', 'server_mode'];
const SERVER_MODES: readonly ServerTlsMode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

export function parseRouterTls(value: unknown, field = 'tls'): RouterTlsConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const t = section(value, field);
  checkKeys(t, TLS_KEYS, field);
  const certFile = str(t, 'cert_file', field);
  const keyFile = str(t, 'key_file', field);
  const caFile = str(t, 'ca_file', field);
  if (!certFile) throw new ConfigError(`${field}.cert_file`, 'is missing', 'give the PEM certificate clients see (with its chain), e.g. cert_file: /etc/pgha/router.crt');
  if (!keyFile) throw new ConfigError(`${field}.key_file`, 'is missing', 'give the PEM private key of cert_file, e.g. key_file: /etc/pgha/router.key');
  const raw = t.server_mode ?? 'prefer';
  const serverMode = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
  if (!(SERVER_MODES as readonly unknown[]).includes(serverMode)) {
    throw new ConfigError(`${field}.server_mode`, `got ${describeValue(raw, `${field}.server_mode`)}`, `use one of: ${SERVER_MODES.join(', ')} (libpq's sslmode names; default prefer)`);
  }
  // verify-ca has no host name to fall back on: without a CA file nothing would say which certificates are good.
  if (serverMode === 'verify-ca' && !caFile) throw new ConfigError(`${field}.ca_file`, 'is missing while server_mode is verify-ca', 'give the PEM file of the CA that signs the PostgreSQL servers\' certificates');
  return { certFile, keyFile, ...(caFile ? { caFile } : {}), serverMode: serverMode as ServerTlsMode };
}
