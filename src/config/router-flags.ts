/**
 * `pgha router --etcd HOST:PORT --scope NAME …`: the short form of router.yml (the flags `pgha router --help`
 * lists), turned into a router document and validated by the same loader.
 */
import { ConfigError } from '../lib/errors';
import type { RouterConfig } from '../router/types';
import { loadRouterConfig } from './router';
import { DEFAULT_READ_PORT, DEFAULT_WRITE_PORT } from './router-listeners';
import type { YamlMap } from './values';

const FLAG_HELP = '--etcd HOST:PORT --scope NAME [--namespace /service/] [--write ADDR:PORT] [--read ADDR:PORT] [--metrics ADDR:PORT] [--read-max-lag SIZE] [--read-max-lag-seconds N] [--read-fallback-to-leader] [--hold-timeout DURATION] [--max-connections N] [--workers N|auto] [--proxy-protocol CIDR[,CIDR...]] [--pool-mode passthrough|session|transaction] [--pool-size N] [--auth-file FILE] [--auth-user USER] [--auth-query SQL] [--tls-cert FILE --tls-key FILE]';

/** `pgha router --etcd HOST:PORT --scope NAME …`: the short form, validated by the same loader. */
export function parseRouterFlags(argv: string[]): RouterConfig {
  const doc: YamlMap = {};
  const etcd: string[] = [];
  let write: string | undefined;
  let read: string | undefined;
  const readExtra: YamlMap = {};
  let poolMode: string | undefined;
  const auth: YamlMap = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    const inline = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new ConfigError(flag, 'needs a value', `write ${flag} VALUE (${FLAG_HELP})`);
      return v;
    };
    switch (flag) {
      case '--etcd':
        etcd.push(...value().split(','));
        break;
      case '--scope':
        doc.scope = value();
        break;
      case '--namespace':
        doc.namespace = value();
        break;
      case '--write':
        write = value();
        break;
      case '--read':
        read = value();
        break;
      case '--metrics':
        doc.metrics = { listen: value() };
        break;
      case '--hold-timeout':
        doc.hold_timeout = value();
        break;
      case '--max-connections':
        doc.max_connections = value();
        break;
      case '--workers':
        doc.workers = value();
        break;
      case '--proxy-protocol':
        doc.proxy_protocol = value();
        break;
      case '--pool-mode':
        poolMode = value();
        break;
      case '--pool-size':
        doc.pool = { size: value() };
        break;
      case '--auth-file':
        auth.file = value();
        break;
      case '--auth-user':
        auth.user = value();
        break;
      case '--auth-query':
        auth.query = value();
        break;
      case '--tls-cert':
        doc.tls = { ...(doc.tls as YamlMap | undefined), cert_file: value() };
        break;
      case '--tls-key':
        doc.tls = { ...(doc.tls as YamlMap | undefined), key_file: value() };
        break;
      case '--read-max-lag':
        readExtra.max_lag = value();
        break;
      case '--read-max-lag-seconds':
        readExtra.max_lag_seconds = value();
        break;
      case '--read-fallback-to-leader':
        readExtra.fallback_to_leader = true;
        break;
      default:
        throw new ConfigError(arg, 'is not a router flag', `use ${FLAG_HELP}, or -c router.yml`);
    }
  }
  if (etcd.length === 0) throw new ConfigError('--etcd', 'is missing', 'pass the etcd endpoint, e.g. --etcd 127.0.0.1:2379');
  doc.etcd = { hosts: etcd };
  const mode = poolMode === undefined ? {} : { pool_mode: poolMode };
  if (Object.keys(auth).length > 0) doc.auth = auth;
  doc.listeners = [
    { name: 'write', role: 'primary', listen: write ?? `0.0.0.0:${DEFAULT_WRITE_PORT}`, ...mode },
    { name: 'read', role: 'replica', listen: read ?? `0.0.0.0:${DEFAULT_READ_PORT}`, max_lag: '16MB', ...readExtra, ...mode },
  ];
  return loadRouterConfig(doc, 'command-line flags');
}
