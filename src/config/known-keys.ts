import { ConfigError } from '../lib/errors';
import { type ParseContext, type YamlMap, join } from './values';

/** Top-level sections pgha reads. */
export const SUPPORTED_SECTIONS = [
  'scope', 'namespace', 'name', 'restapi', 'etcd', 'etcd3', 'bootstrap', 'postgresql', 'tags', 'log', 'router',
  'switchover_drain',
] as const;

/**
 * Patroni sections pgha accepts without their own schema: patronictl settings (of which the agent reads only the TLS
 * files, for calls to other members: restapi.ts parseMemberTls), the watchdog when not required.
 */
export const IGNORED_SECTIONS = ['ctl', 'watchdog'] as const;

/** Patroni DCS sections pgha cannot use: it speaks etcd v3 only. */
export const UNSUPPORTED_DCS = ['consul', 'zookeeper', 'exhibitor', 'kubernetes', 'raft'] as const;

/** Patroni features that change what the cluster is, so pgha refuses them instead of ignoring them. */
export const UNSUPPORTED_SECTIONS = ['citus'] as const;

/**
 * Dynamic-only settings (reference §4.1). Patroni ignores them at the top of the local file; pgha does too, with a
 * warning that says where they belong.
 */
export const DYNAMIC_ONLY_KEYS = [
  'ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'maximum_lag_on_syncnode',
  'primary_start_timeout', 'master_start_timeout', 'primary_stop_timeout', 'master_stop_timeout',
  'check_timeline', 'max_timelines_history', 'synchronous_mode', 'synchronous_mode_strict',
  'synchronous_node_count', 'failsafe_mode', 'member_slots_ttl', 'pause', 'primary_race_backoff',
  'slots', 'permanent_slots', 'permanent_replication_slots', 'ignore_slots', 'standby_cluster',
] as const;

export const ALL_TOP_LEVEL_KEYS: readonly string[] = [
  ...SUPPORTED_SECTIONS, ...IGNORED_SECTIONS, ...UNSUPPORTED_DCS, ...UNSUPPORTED_SECTIONS, ...DYNAMIC_ONLY_KEYS,
];

/** Keys of the `restapi` section Patroni knows (reference §9.2). */
export const RESTAPI_KEYS = [
  'listen', 'connect_address', 'authentication', 'certfile', 'keyfile', 'keyfile_password', 'cafile', 'ciphers',
  'verify_client', 'allowlist', 'allowlist_include_members', 'http_extra_headers', 'https_extra_headers',
  'request_queue_size', 'server_tokens',
] as const;

/** Keys of the `etcd`/`etcd3` sections Patroni knows (reference §9.3). */
export const ETCD_KEYS = [
  'host', 'hosts', 'port', 'url', 'proxy', 'srv', 'srv_suffix', 'protocol', 'use_proxies', 'username', 'password',
  'cacert', 'cert', 'key', 'key_password',
] as const;

/** Keys of the local `postgresql` section Patroni knows (reference §9.5), legacy forms included. */
export const POSTGRESQL_KEYS = [
  'listen', 'connect_address', 'proxy_address', 'data_dir', 'bin_dir', 'bin_name', 'config_dir', 'pgpass',
  'authentication', 'parameters', 'pg_hba', 'pg_ident', 'pg_ctl_timeout', 'use_unix_socket', 'use_unix_socket_repl',
  'callbacks', 'create_replica_methods', 'create_replica_method', 'basebackup', 'rewind', 'recovery_conf',
  'remove_data_directory_on_rewind_failure', 'remove_data_directory_on_diverged_timelines', 'pre_promote',
  'before_stop', 'database', 'custom_conf', 'use_pg_rewind', 'use_slots', 'replication', 'superuser', 'pg_rewind',
  'name', 'config_base_name', 'krbsrvname',
] as const;

/** Keys of the `bootstrap` section (reference §9.4); custom method names are added by the caller. */
export const BOOTSTRAP_KEYS = ['dcs', 'method', 'initdb', 'pg_hba', 'users', 'post_bootstrap', 'post_init'] as const;

/** Edit distance counting an insertion, deletion, substitution or swap of neighbours as one edit (OSA). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => rows[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The closest known key when it is close enough to be a typo. At the top level up to 2 edits (and fewer than half
 * the letters); inside sections 1 edit, since Patroni has settings pgha does not list and they must not be
 * mistaken for typos.
 */
export function closestKey(word: string, known: readonly string[], maxEdits = 2): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const candidate of known) {
    const d = editDistance(lower, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.min(maxEdits, Math.floor(word.length / 2));
  return best !== undefined && bestDistance > 0 && bestDistance <= limit ? best : undefined;
}

/** Edits allowed for "did you mean" inside a section. */
export const NESTED_TYPO_EDITS = 1;

/**
 * Unknown keys inside a section: a near miss of a known key is an error ("did you mean"); anything else may be a
 * Patroni setting pgha does not use, so it is accepted with a warning.
 */
export function checkSectionKeys(
  map: YamlMap,
  section: string,
  known: readonly string[],
  ctx: ParseContext,
  extraAllowed: readonly string[] = [],
): void {
  for (const key of Object.keys(map)) {
    if (known.includes(key) || extraAllowed.includes(key)) continue;
    const suggestion = closestKey(key, known, NESTED_TYPO_EDITS);
    if (suggestion) {
      throw new ConfigError(join(section, key), 'is not a known setting', `did you mean ${join(section, suggestion)}?`);
    }
    ctx.warnings.push(`${join(section, key)} is not a setting pgha knows; it is ignored`);
  }
}
