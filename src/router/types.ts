/**
 * The router's vocabulary: configuration, health observations, lag, and the routing table. Types only: no I/O,
 * so routing.ts (pure) can import them.
 */
import type { ClientTlsFiles } from '../lib/json-get';
import type { PoolConfig, PoolMode } from './pool/types';
import type { AuthConfig } from './auth/types';

/** What a listener routes to (docs/router.md "Listeners"). */
export type ListenerRole = 'primary' | 'replica' | 'read-only' | 'any';
export type BalanceMode = 'least-connections' | 'round-robin';

/**
 * Why the router refused a client with an ErrorResponse: the `reason` label of
 * `pgha_router_refused_connections_total` and the wire parser's verdict on a bad first packet. Defined here, once:
 * the metrics list it, they do not own it.
 */
export type RefusalReason =
  | 'hold_timeout'
  | 'startup_timeout'
  | 'malformed'
  | 'oversized'
  | 'unsupported_protocol'
  | 'unencrypted_data_after_tls_request'
  | 'shutdown'
  | 'max_connections'
  | 'max_connections_per_client'
  | 'max_held'
  /** PROXY protocol listeners: a source outside the trusted networks (closed at once, nothing read). */
  | 'proxy_untrusted'
  /** A PROXY header cut short: closed, or startup_timeout passed, mid-header. */
  | 'proxy_header_truncated'
  | 'proxy_header_oversized'
  | 'proxy_header_malformed';

export interface ListenerConfig {
  /** Unique name: the `listener` metric label and the key in /status. */
  name: string;
  role: ListenerRole;
  host: string;
  /** 0 asks the kernel for a free port (tests); the bound port is in `ports`. */
  port: number;
  /** Replicas further behind than this many bytes are out of the pool; undefined = no byte limit. */
  maxLagBytes?: number;
  /** Replicas further behind than this many seconds are out; undefined = no time limit. */
  maxLagSeconds?: number;
  balance: BalanceMode;
  /** Every `tag: value` here must be set on the member (Patroni's `?tag_k=v` rule: string compare). */
  tagFilters: Readonly<Record<string, string>>;
  /** Members tagged `noloadbalance` get no traffic from this listener unless this is true. */
  includeNoloadbalance: boolean;
  /** `replica` role: send to the confirmed leader when no replica qualifies (`read-only` always does). */
  fallbackToLeader: boolean;
  /** Replicas must report `replication_state: streaming` (when their REST API reports it at all). */
  requireStreaming: boolean;
  /** How long a new connection waits for a backend to qualify before it gets an ErrorResponse. */
  holdTimeoutMs: number;
  /**
   * Client connections open on this listener (routed, held, or still sending their startup packet) past which a
   * new one gets SQLSTATE 53300; 0 = no limit.
   */
  maxConnections: number;
  /** Held connections (waiting for a backend) past which a new one is refused at once with 57P03; 0 = no limit. */
  maxHeld: number;
  /** Client connections from one IP address past which a new one gets 53300; 0 = no limit. */
  maxConnectionsPerClient: number;
  /**
   * PROXY protocol (v1/v2) sources: connections from these networks (validated CIDR texts) must start with a header
   * whose source address becomes the client address; any other source is closed at once. Empty or absent = off.
   */
  proxyProtocol?: readonly string[];
  /** Read listeners: when open sessions on a member that left the pool are ended (read-follow.ts); undefined = defaults. */
  endSessions?: EndSessionsConfig;
  /** passthrough (bytes spliced), or a pooled session: session / transaction (src/router/pool/). */
  poolMode: PoolMode;
}

/** Why a member left a read pool, for the causes that may end its open sessions there (read-follow.ts). */
export type ReadExitCause = 'promoted' | 'lag' | 'tags';

/** Per cause: the grace (ms) before the open sessions on a member that left the pool are ended, or never. */
export type EndSessionsConfig = Readonly<Record<ReadExitCause, number | 'never'>>;

export interface RouterConfig {
  /** Where this came from (file name, `flags`, `agent.yml (router:)`): used in messages. */
  source: string;
  /** Settings accepted but ignored (e.g. etcd `hosts` beside `url`): logged once at startup; absent when none. */
  warnings?: readonly string[];
  scope: string;
  namespace: string;
  etcd: {
    hosts: string[]; deadlineMs: number; username?: string; password?: string;
    /** https (TLS to etcd) when set, or when cacert/cert is given: as the agent's etcd3 section. */
    protocol?: 'http' | 'https'; cacert?: string; cert?: string; key?: string;
  };
  listeners: ListenerConfig[];
  /** /metrics, /status and /health; undefined = not served. */
  metrics?: { host: string; port: number };
  health: HealthCheckConfig;
  lag: LagConfig;
  lease: LeaseConfig;
  startup: { timeoutMs: number; maxPacketBytes: number };
  connectTimeoutMs: number;
  /** stop(): how long open sessions may keep running before they are cut. */
  drainTimeoutMs: number;
  /** Member tag holding a balancing weight (a number; 0 takes the member out of every pool). */
  weightTag: string;
  /** TCP keepalive on client and backend sockets (ms before the first probe; 0 = off). */
  tcpKeepaliveMs: number;
  /**
   * While a planned switchover is pending (the `failover` key names the current leader, or no leader, and a
   * candidate), new write connections are held for the new leader; for at most this long, after which the old
   * leader gets writes again if it is still the confirmed primary (a stale key must not block writes). 0 = off.
   */
  switchoverHoldMs: number;
  /**
   * Processes serving the listeners: 1 = this process; N > 1 = N worker processes sharing the listening sockets
   * (the kernel spreads accepted connections), fed one routing table by this process (src/router/workers/).
   */
  workers: number;
  /** The limits of every server pool (pooled listeners). */
  pool: PoolConfig;
  /** The router's own authentication for pooled listeners (`auth:`); undefined = not configured. */
  auth?: AuthConfig;
  /** The switchover drain handshake with the agents (drain.ts); absent in hand-built configs: the defaults. */
  switchoverDrain?: SwitchoverDrainConfig;
  /** TLS terminated at the router with its own certificate (config/router-tls.ts); undefined = TLS end to end. */
  tls?: RouterTlsConfig;
}

export interface SwitchoverDrainConfig {
  /** How long in-flight transactions on a draining leader may run before the router acknowledges anyway. */
  timeoutMs: number;
  /** Register in etcd for the handshake: auto = when a listener pools. */
  register: 'auto' | 'always' | 'never';
}

/** How the router talks to PostgreSQL after terminating a client's TLS: libpq's sslmode values. */
export type ServerTlsMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface RouterTlsConfig {
  certFile: string;
  keyFile: string;
  /** CA of the PostgreSQL servers' certificates (verify-ca, verify-full); else the system store. */
  caFile?: string;
  serverMode: ServerTlsMode;
}

export interface HealthCheckConfig {
  /** Period of the REST check of every member. */
  intervalMs: number;
  /** Per-request deadline (≤ interval). */
  timeoutMs: number;
  /** Consecutive successes before a member that was down counts as up again. */
  rise: number;
  /** Consecutive failures before a member counts as down. */
  fall: number;
  /** Period used for a member the view names leader while its agent does not (yet) confirm it is primary. */
  fastIntervalMs: number;
  /** Verify the agents' HTTPS certificates (https api_url). */
  verifyTls: boolean;
  /**
   * `health.cacert` (the private CA of the agents' certificates), `cert` + `key` (+ `key_password`): the client
   * certificate for agents with `verify_client: required`. Undefined: the system CA store, no client certificate.
   */
  tls?: ClientTlsFiles;
  /**
   * An agent answer older than this is unknown: it confirms no leader and gives no lag (and unknown never
   * qualifies). A backstop for fall: a check that hangs is also a failure, after `timeoutMs`.
   */
  maxAgeMs: number;
}

export interface LagConfig {
  /** Which replica position lag is measured from: replayed (Patroni's rule) or received. */
  position: 'replay' | 'receive';
  /** Keep leader-position history this long for seconds lag (at least 3 × the largest max_lag_seconds). */
  historyMs: number;
}

export interface LeaseConfig {
  /** Used when the cluster's `config` key has no `ttl`. Patroni's default is 30 s. */
  defaultTtlMs: number;
  /**
   * Writes stop once etcd has not been reached for `ttl - margin`: past that, the leader's lease may have
   * expired without the router seeing it (and another member may have been promoted).
   */
  marginMs: number;
}

/** The subset of an agent's `GET /patroni` document the router uses (reference §3.5). */
export interface PatroniStatus {
  role?: string;
  state?: string;
  timeline?: number;
  /** Primary: `xlog.location` (flush LSN). */
  location?: number;
  receivedLocation?: number;
  replayedLocation?: number;
  replayPaused?: boolean;
  replicationState?: string;
  tags?: Record<string, unknown>;
}

/** What the health checker knows about one member's agent. Times are monotonic ms. */
export interface MemberHealth {
  apiUrl: string;
  /** After rise/fall: true once reachable (first success, or `rise` successes after a down). */
  up: boolean;
  /** The last successful answer and when it arrived. */
  status?: PatroniStatus;
  okAtMs?: number;
  /** The last failure, cleared on success. */
  error?: string;
  failedAtMs?: number;
  consecutiveFailures: number;
}

/** Lag of one replica, from the freshest positions available (lag.ts). */
export interface MemberLag {
  /** Reference (leader) position minus the replica's position; undefined = unknown. */
  bytes?: number;
  /** See lag.ts: how long the leader has had WAL that the replica has not replayed. */
  seconds?: number;
  /** True when `seconds` is only a lower bound (the replica is behind every leader position seen). */
  secondsLowerBound?: boolean;
  /** When the replica's position was observed (its REST answer). */
  observedAtMs?: number;
  referenceLsn?: number;
  positionLsn?: number;
}

export interface Backend {
  member: string;
  host: string;
  port: number;
  /** Balancing weight (> 0). */
  weight: number;
}

export interface PoolVerdict {
  in: boolean;
  reason: string;
  /** Out of a read pool because it was promoted, by a measured lag, or by its tags (what read-follow.ts acts on). */
  cause?: ReadExitCause;
}

/** Why a member is (or is not) where it is, for /status. */
export interface MemberVerdict {
  member: string;
  host?: string;
  port?: number;
  apiUrl?: string;
  /** Role from the member key and from the agent's REST answer. */
  keyRole?: string;
  restRole?: string;
  state?: string;
  /** From the agent's answer, else the member key. */
  timeline?: number;
  up: boolean;
  isLeaderKey: boolean;
  lagBytes?: number;
  lagSeconds?: number;
  lagAgeMs?: number;
  /** Per listener name. */
  pools: Record<string, PoolVerdict>;
}

export interface PoolTable {
  listener: string;
  role: ListenerRole;
  backends: readonly Backend[];
  /** True when the leader is in this pool only as the fallback for missing replicas. */
  fallback: boolean;
  /** One sentence: why the pool is what it is (mostly interesting when it is empty). */
  reason: string;
}

/**
 * A planned switchover the router is following (docs/router.md "Planned switchover"): the `failover` key names
 * the current leader (or no leader) and a candidate other than it, and its `scheduled_at` (if any) has come.
 */
export interface SwitchoverState {
  /** The failover key's mod revision: identifies one request. */
  revision: number;
  /** The leader it switches from (the `leader` field, else the leader key holder when it was seen). */
  leader: string;
  /** The `member` field, when the request names one. */
  candidate?: string;
  /** Monotonic ms when the router first saw this request pending. */
  sinceMs: number;
  /** True while new writes are held for it; false once `switchover_hold` has passed (the old leader gets writes). */
  holding: boolean;
}

/** An immutable snapshot of where every listener sends new connections. */
export interface RoutingTable {
  /** Bumped by the topology each time the routing content (leader or any pool) changes. */
  generation: number;
  computedAtMs: number;
  /**
   * The confirmed leader: named leader by a fresh view AND confirmed primary by its agent. Open write sessions to
   * any other backend are closed. New write connections go to the `primary` pools, which are empty (held) while
   * a switchover away from this leader is pending (`switchover.holding`), though the leader stays confirmed.
   */
  leader?: Backend;
  /** A pending planned switchover (see SwitchoverState). */
  switchover?: SwitchoverState;
  /** Why writes go where they go (or nowhere). */
  writeReason: string;
  /** Writes must stop at this monotonic time unless a fresher table replaces this one (lease bound). */
  writeValidUntilMs: number;
  /** Earliest time a time-based condition flips; the topology recomputes then. */
  nextChangeAtMs?: number;
  /** The view's leader key (whatever its confirmation). */
  leaderKey?: string;
  ttlMs: number;
  /** ms since the last successful etcd contact; undefined = never. */
  etcdAgeMs?: number;
  pools: Readonly<Record<string, PoolTable>>;
  members: readonly MemberVerdict[];
}
