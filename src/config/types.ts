import type { ClientTlsFiles } from '../lib/json-get';
import type { CustomBootstrapConfig, ReplicaMethodConfig } from './methods';
/**
 * The normalized local configuration, loaded from Patroni's YAML (reference §9). Field names are camelCase with
 * units; the loader maps Patroni's names onto these and validates them.
 */
export interface HostPort {
  host: string;
  port: number;
}

export interface Credentials {
  username: string;
  password?: string;
  /** Other libpq settings given for this user (sslmode, sslcert, sslkey, sslpassword, sslrootcert, sslcrl,
   * sslcrldir, gssencmode, channel_binding), as Patroni passes them on. */
  libpq?: Record<string, string>;
}

export interface EtcdConfig {
  /** Which section the YAML used: `etcd` (v2 in Patroni) or `etcd3`. pgha speaks the v3 API either way. */
  section: 'etcd' | 'etcd3';
  hosts: HostPort[];
  protocol: 'http' | 'https';
  username?: string;
  password?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

export interface RestApiConfig {
  listen: HostPort;
  /** `host:port` advertised in api_url. */
  connectAddress: HostPort;
  authentication?: Credentials & { password: string };
  certfile?: string;
  keyfile?: string;
  keyfilePassword?: string;
  /** CA used to verify client certificates (`restapi.cafile`). */
  cafile?: string;
  /** `restapi.verify_client`: whether clients must present a certificate. */
  verifyClient?: 'none' | 'optional' | 'required';
  /** `restapi.allowlist`: addresses, CIDR networks and host names allowed to call the write endpoints. */
  allowlist?: string[];
  /** `restapi.allowlist_include_members`: the members' REST addresses (from etcd) are allowed too. */
  allowlistIncludeMembers?: boolean;
  /** `restapi.http_extra_headers` (every response) and `https_extra_headers` (added when serving HTTPS). */
  httpExtraHeaders?: Record<string, string>;
  httpsExtraHeaders?: Record<string, string>;
}

export interface PostgresLocalConfig {
  listen: { hosts: string[]; port: number };
  connectAddress: HostPort;
  dataDir: string;
  binDir: string;
  pgpass: string;
  database: string;
  authentication: { superuser: Credentials; replication: Credentials; rewind?: Credentials };
  /** Local `postgresql.parameters`; they win over the dynamic ones key by key. */
  parameters: Record<string, string | number | boolean>;
  /** `postgresql.pg_hba`: when set, overwrites pg_hba.conf. */
  pgHba?: string[];
  /** `postgresql.recovery_conf`: a replica's extra recovery settings; when set, the dynamic one is not used. */
  recoveryConf?: Record<string, string>;
  usePgRewind?: boolean;
  removeDataDirectoryOnRewindFailure: boolean;
  removeDataDirectoryOnDivergedTimelines: boolean;
  /** Seconds pg_ctl waits for start/stop. */
  pgCtlTimeoutSeconds: number;
  basebackupArgs: string[];
  /** `create_replica_methods` in order (default `[basebackup]`), each with its `postgresql.<method>` section. */
  replicaMethods?: ReplicaMethodConfig[];
  /** `callbacks`, `pre_promote`, `before_stop` (config/hooks.ts). */
  hooks?: PostgresHooks;
}

/** The user's scripts around postgres transitions: command strings, split as shlex.split does when run. */
export interface PostgresHooks {
  callbacks?: Partial<Record<'on_start' | 'on_stop' | 'on_restart' | 'on_reload' | 'on_role_change', string>>;
  prePromote?: string;
  beforeStop?: string;
}

export interface BootstrapConfig {
  /** `bootstrap.dcs`, verbatim: written as the `config` key by the node that bootstraps. */
  dcs: Record<string, unknown>;
  /** initdb arguments rendered from the option list, e.g. ['--encoding=UTF8', '--data-checksums']. */
  initdbArgs: string[];
  pgHba: string[];
  users: Record<string, { password?: string; options: string[] }>;
  /** `bootstrap.post_bootstrap` (alias `post_init`): a command run with the superuser DSN after initdb or the custom bootstrap (§5.3). */
  postBootstrap?: string;
  /** `bootstrap.method` other than initdb, with its `bootstrap.<method>` section. */
  custom?: CustomBootstrapConfig;
  /** `bootstrap.dcs` parsed with defaults and validated; used when the `config` key is absent. */
  dynamic?: DynamicConfig;
}

export interface LogConfig {
  level: string;
}

export interface AgentConfig {
  scope: string;
  namespace: string;
  name: string;
  restapi: RestApiConfig;
  etcd: EtcdConfig;
  bootstrap: BootstrapConfig;
  postgresql: PostgresLocalConfig;
  tags: Record<string, unknown>;
  log: LogConfig;
  /** The `router:` section, kept raw here; the router's own loader validates it. */
  router?: Record<string, unknown>;
  /** `switchover_drain:` (switchover-drain.ts); absent in hand-built configs: the default 5 s. */
  switchoverDrain?: { timeoutMs: number };
  /** The fence process that stops a primary whose agent died or froze (docs/fence.md); off with `watchdog.mode: off`. */
  fence?: boolean;
  /**
   * How this agent calls the other members' REST APIs (peer queries in elections, a switchover's candidate check):
   * the CA and client certificate from `ctl.*`, else `restapi.*`, as Patroni's PatroniRequest. Undefined: the
   * system CA store, no client certificate.
   */
  memberTls?: ClientTlsFiles;
  /** Where the file came from, for messages. */
  source: string;
  /** Settings accepted but ignored or adjusted (one sentence each); the agent logs them once at startup. */
  warnings?: string[];
}

/** The dynamic configuration (the `config` key, reference §4.1), with defaults applied. */
export interface DynamicConfig {
  ttlSeconds: number;
  loopWaitSeconds: number;
  retryTimeoutSeconds: number;
  maximumLagOnFailoverBytes: number;
  primaryStartTimeoutSeconds: number;
  checkTimeline: boolean;
  pause: boolean;
  synchronousMode: boolean;
  synchronousModeStrict: boolean;
  synchronousNodeCount: number;
  /** `maximum_lag_on_syncnode` (bytes, -1 = off). */
  maximumLagOnSyncnodeBytes?: number;
  /** `primary_stop_timeout` (seconds, 0 = wait forever; sync mode only). */
  primaryStopTimeoutSeconds?: number;
  failsafeMode?: boolean;
  /** `max_timelines_history` (0 = unlimited). */
  maxTimelinesHistory?: number;
  /** The map as read (bootstrap.dcs or the `config` key), for writing back and for keys pgha does not model. */
  raw?: Record<string, unknown>;
  postgresql: {
    useSlots: boolean;
    usePgRewind: boolean;
    parameters: Record<string, string | number | boolean>;
    pgHba?: string[];
    /** `postgresql.recovery_conf`, used by replicas whose local file has none (Patroni's effective configuration). */
    recoveryConf?: Record<string, string>;
  };
}
