import { ConfigError } from '../lib/errors';
import { formatHostPort, isWildcardHost, parseHostPort } from './address';
import { RESTAPI_KEYS, checkSectionKeys } from './known-keys';
import type { ClientTlsFiles, TlsFile } from '../lib/json-get';
import type { HostPort, RestApiConfig } from './types';
import { parseAllowlist, parseExtraHeaders } from './restapi-access';
import { type ParseContext, type YamlMap, join, optionalBool, optionalMap, optionalString, optionalText, wrongValue } from './values';

const IGNORED_RESTAPI_KEYS = ['ciphers', 'request_queue_size', 'server_tokens'];

export function parseRestApi(doc: YamlMap, ctx: ParseContext): RestApiConfig {
  const map = optionalMap(doc.restapi, 'restapi', ctx);
  if (!map) throw new ConfigError('restapi', 'is missing', 'add restapi: {listen: 127.0.0.1:8008} (or set PATRONI_RESTAPI_LISTEN)');
  checkSectionKeys(map, 'restapi', RESTAPI_KEYS, ctx);
  if (map.listen === undefined || map.listen === null) {
    throw new ConfigError('restapi.listen', 'is missing', 'set it to host:port, e.g. listen: 127.0.0.1:8008 (or PATRONI_RESTAPI_LISTEN)');
  }
  const parsedListen = parseHostPort(map.listen, 'restapi.listen', { example: '127.0.0.1:8008' }, ctx);
  const listen = { host: parsedListen.host === '' || parsedListen.host === '*' ? '0.0.0.0' : parsedListen.host, port: parsedListen.port };
  const connectAddress = map.connect_address === undefined || map.connect_address === null
    ? defaultConnectAddress(listen, 'restapi.connect_address', 'restapi.listen')
    : parseHostPort(map.connect_address, 'restapi.connect_address', { example: '10.0.0.1:8008' }, ctx);
  refuseWildcardConnectAddress(connectAddress, 'restapi.connect_address');

  const config: RestApiConfig = { listen, connectAddress };
  const authentication = parseRestApiAuthentication(map, ctx);
  if (authentication) config.authentication = authentication;
  const certfile = optionalString(map, 'certfile', 'restapi', ctx);
  const keyfile = optionalString(map, 'keyfile', 'restapi', ctx);
  const keyfilePassword = optionalText(map, 'keyfile_password', 'restapi', ctx);
  const cafile = optionalString(map, 'cafile', 'restapi', ctx);
  if (certfile !== undefined) config.certfile = certfile;
  if (keyfile !== undefined) config.keyfile = keyfile;
  if (keyfilePassword !== undefined) config.keyfilePassword = keyfilePassword;
  if (cafile !== undefined) config.cafile = cafile;
  const verifyClient = parseVerifyClient(map, ctx);
  if (verifyClient !== undefined) config.verifyClient = verifyClient;
  if (verifyClient !== undefined && verifyClient !== 'none' && cafile === undefined) {
    throw new ConfigError('restapi.cafile', `is missing, but verify_client is ${verifyClient}`, 'set restapi.cafile to the CA that signs client certificates');
  }
  const allowlist = parseAllowlist(map, ctx);
  if (allowlist) config.allowlist = allowlist;
  if (optionalBool(map, 'allowlist_include_members', 'restapi', ctx)) config.allowlistIncludeMembers = true;
  const httpHeaders = parseExtraHeaders(map, 'http_extra_headers', ctx);
  if (httpHeaders) config.httpExtraHeaders = httpHeaders;
  const httpsHeaders = parseExtraHeaders(map, 'https_extra_headers', ctx);
  if (httpsHeaders) config.httpsExtraHeaders = httpsHeaders;
  for (const key of IGNORED_RESTAPI_KEYS) {
    if (map[key] !== undefined) ctx.warnings.push(`restapi.${key} is not supported by pgha; it is ignored`);
  }
  return config;
}

/**
 * The TLS of the agent's calls to other members (Patroni's PatroniRequest, which the agent builds from its whole
 * YAML): the CA from `ctl.cacert`, else `restapi.cafile`; the client certificate from `ctl.certfile`, else
 * `restapi.certfile` (so with `verify_client: required` every member presents its own REST certificate, which must
 * then allow client authentication). The key and its password come from the section the certificate came from
 * (Patroni picks each one separately; a ctl certificate with a restapi key cannot work).
 */
export function parseMemberTls(doc: YamlMap, restapi: RestApiConfig, ctx: ParseContext): ClientTlsFiles | undefined {
  const ctl = optionalMap(doc.ctl, 'ctl', ctx) ?? {};
  const ctlFile = (key: string): TlsFile | undefined => {
    const v = optionalString(ctl, key, 'ctl', ctx);
    return v ? { file: v, field: `ctl.${key}` } : undefined;
  };
  const rest = (file: string | undefined, key: string): TlsFile | undefined => (file ? { file, field: `restapi.${key}` } : undefined);
  const ca = ctlFile('cacert') ?? rest(restapi.cafile, 'cafile');
  const ctlCert = ctlFile('certfile');
  const cert = ctlCert ?? rest(restapi.certfile, 'certfile');
  const key = ctlCert ? ctlFile('keyfile') : rest(restapi.keyfile, 'keyfile');
  const passphrase = ctlCert ? optionalText(ctl, 'keyfile_password', 'ctl', ctx) : restapi.keyfilePassword;
  if (!ca && !cert) return undefined;
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(passphrase !== undefined ? { passphrase } : {}) };
}

/**
 * When connect_address is not given, the listen address is advertised (as in Patroni), unless it is a wildcard:
 * `0.0.0.0:8008` cannot be reached by anyone else, and guessing an address (127.0.0.1, the hostname) could
 * publish one that other members and the router cannot reach. pgha refuses and asks for the address, as Patroni's
 * own `--validate-config` does.
 */
export function defaultConnectAddress(listen: HostPort, field: string, listenField: string): HostPort {
  if (isWildcardHost(listen.host)) {
    throw new ConfigError(
      field,
      `is missing, and ${listenField} (${formatHostPort(listen)}) listens on every interface, so it cannot be advertised`,
      `set ${field} to the address other members and the router use to reach this node, e.g. 10.0.0.1:${listen.port}, or 127.0.0.1:${listen.port} when all nodes share one host`,
    );
  }
  return { ...listen };
}

export function refuseWildcardConnectAddress(address: HostPort, field: string): void {
  if (isWildcardHost(address.host)) {
    throw new ConfigError(
      field,
      `got "${formatHostPort(address)}", a wildcard address that other members cannot connect to`,
      `set it to this node's reachable address, e.g. 10.0.0.1:${address.port}`,
    );
  }
}

function parseRestApiAuthentication(map: YamlMap, ctx: ParseContext): (RestApiConfig['authentication']) | undefined {
  const auth = optionalMap(map.authentication, 'restapi.authentication', ctx);
  if (!auth) return undefined;
  const field = 'restapi.authentication';
  const username = optionalText(auth, 'username', field, ctx);
  const password = optionalText(auth, 'password', field, ctx);
  if (username === undefined || password === undefined) {
    const missing = username === undefined ? 'username' : 'password';
    throw new ConfigError(join(field, missing), 'is missing', `set both username and password under restapi.authentication (or PATRONI_RESTAPI_USERNAME/PASSWORD), or remove the section`);
  }
  return { username, password };
}

function parseVerifyClient(map: YamlMap, ctx: ParseContext): RestApiConfig['verifyClient'] {
  const value = optionalString(map, 'verify_client', 'restapi', ctx);
  if (value === undefined) return undefined;
  if (value === 'none' || value === 'optional' || value === 'required') return value;
  throw wrongValue('restapi.verify_client', value, 'none, optional or required', 'set verify_client: none, optional or required', ctx);
}
