/**
 * The second opinion: every member's agent REST API (`api_url` from its member key, which is the `/patroni`
 * URL), fetched every `health.interval` with a deadline, with HAProxy-style rise/fall. A member the view names
 * leader but whose agent does not confirm it is primary yet is checked every `health.fast_interval`, and any
 * member can be checked at once (`checkNow`, used when the leader key moves), so a new leader is admitted
 * within one REST round trip of the leader key change rather than one interval.
 */
import { clientTls, getJson, type ClientTls } from '../lib/json-get';
import type { Logger } from '../log/logger';
import type { Scheduler } from '../lib/clock';
import type { HealthCheckConfig, MemberHealth, PatroniStatus } from './types';

/** GETs a URL and returns its JSON body (any status code: a health endpoint's 503 still carries the document). */
export type FetchJson = (url: string, timeoutMs: number, tls: ClientTls) => Promise<unknown>;

export const fetchJson: FetchJson = getJson;

/** The TLS of the checks: `health.verify_tls`, and `health.cacert`/`cert`/`key`/`key_password` read once. */
export function healthTls(config: HealthCheckConfig): ClientTls {
  return clientTls(config.tls, config.verifyTls);
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads the fields the router uses from a `/patroni` document; throws when it is not one. */
export function parsePatroniStatus(doc: unknown): PatroniStatus {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('answer is not a JSON object');
  const o = doc as Record<string, unknown>;
  if (typeof o.state !== 'string' && typeof o.role !== 'string') throw new Error('answer has neither state nor role');
  const xlog = o.xlog && typeof o.xlog === 'object' ? (o.xlog as Record<string, unknown>) : {};
  const out: PatroniStatus = {};
  const set = <K extends keyof PatroniStatus>(k: K, v: PatroniStatus[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('role', str(o.role));
  set('state', str(o.state));
  set('timeline', num(o.timeline));
  set('location', num(xlog.location));
  set('receivedLocation', num(xlog.received_location));
  set('replayedLocation', num(xlog.replayed_location));
  if (typeof xlog.paused === 'boolean') out.replayPaused = xlog.paused;
  set('replicationState', str(o.replication_state));
  if (o.tags && typeof o.tags === 'object' && !Array.isArray(o.tags)) out.tags = o.tags as Record<string, unknown>;
  return out;
}

interface Target {
  name: string;
  apiUrl: string;
  health: MemberHealth;
  consecutiveSuccesses: number;
  wasDown: boolean;
  inFlight: boolean;
  again: boolean;
  timer?: unknown;
  lastStartMs?: number;
  stopped: boolean;
}

export interface HealthCheckerOptions {
  config: HealthCheckConfig;
  scheduler: Scheduler;
  logger: Logger;
  fetch?: FetchJson;
  /** Called after every finished check (and when targets change). */
  onChange: (member: string) => void;
  /** Called with every check's outcome (metrics). */
  onCheck?: (member: string, ok: boolean, durationMs: number) => void;
}

export class HealthChecker {
  private targets = new Map<string, Target>();
  private fast = new Set<string>();
  private readonly fetch: FetchJson;
  private config: HealthCheckConfig;
  private tls: ClientTls;
  private stopped = false;

  constructor(private readonly opts: HealthCheckerOptions) {
    this.fetch = opts.fetch ?? fetchJson;
    this.config = opts.config;
    this.tls = healthTls(opts.config);
  }

  /** New settings; the certificate files are read again (a reload picks up renewed certificates). */
  reconfigure(config: HealthCheckConfig): void {
    this.tls = healthTls(config);
    this.config = config;
  }

  /** Members to check, by name → api_url. Checks start at once for new ones; removed ones stop. */
  setTargets(urls: ReadonlyMap<string, string>): void {
    if (this.stopped) return;
    for (const [name, t] of this.targets) {
      if (urls.get(name) !== t.apiUrl) {
        this.drop(t);
        this.targets.delete(name);
      }
    }
    for (const [name, apiUrl] of urls) {
      if (this.targets.has(name)) continue;
      const t: Target = {
        name,
        apiUrl,
        health: { apiUrl, up: false, consecutiveFailures: 0 },
        consecutiveSuccesses: 0,
        wasDown: false,
        inFlight: false,
        again: false,
        stopped: false,
      };
      this.targets.set(name, t);
      this.run(t);
    }
  }

  /** Members checked every fast interval instead of every interval. */
  setFast(names: ReadonlySet<string>): void {
    const added = [...names].filter((n) => !this.fast.has(n));
    this.fast = new Set(names);
    for (const n of added) this.checkNow(n);
  }

  /** Checks a member now (or right after the check in flight). */
  checkNow(name: string): void {
    const t = this.targets.get(name);
    if (!t || t.stopped) return;
    if (t.inFlight) {
      t.again = true;
      return;
    }
    this.run(t);
  }

  snapshot(): ReadonlyMap<string, MemberHealth> {
    const out = new Map<string, MemberHealth>();
    for (const [name, t] of this.targets) out.set(name, t.health);
    return out;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.targets.values()) this.drop(t);
    this.targets.clear();
  }

  private drop(t: Target): void {
    t.stopped = true;
    if (t.timer !== undefined) this.opts.scheduler.clearTimer(t.timer);
    t.timer = undefined;
  }

  private run(t: Target): void {
    if (t.timer !== undefined) this.opts.scheduler.clearTimer(t.timer);
    t.timer = undefined;
    t.inFlight = true;
    t.again = false;
    const started = this.opts.scheduler.now();
    t.lastStartMs = started;
    this.fetch(t.apiUrl, this.config.timeoutMs, this.tls)
      .then(parsePatroniStatus)
      .then(
        (status) => this.finish(t, started, status, undefined),
        (err: unknown) => this.finish(t, started, undefined, err instanceof Error ? err.message : String(err)),
      );
  }

  private finish(t: Target, started: number, status: PatroniStatus | undefined, error: string | undefined): void {
    t.inFlight = false;
    if (t.stopped) return;
    const now = this.opts.scheduler.now();
    const h = t.health;
    const wasUp = h.up;
    if (status) {
      t.consecutiveSuccesses++;
      h.consecutiveFailures = 0;
      h.status = status;
      h.okAtMs = now;
      delete h.error;
      delete h.failedAtMs;
      // The first answer ever makes a member up at once; after a down it takes `rise` answers in a row.
      if (!h.up && (!t.wasDown || t.consecutiveSuccesses >= this.config.rise)) h.up = true;
    } else {
      t.consecutiveSuccesses = 0;
      h.consecutiveFailures++;
      h.error = error;
      h.failedAtMs = now;
      if (h.up && h.consecutiveFailures >= this.config.fall) {
        h.up = false;
        t.wasDown = true;
      } else if (!h.up) {
        t.wasDown = true;
      }
    }
    if (wasUp !== h.up) {
      this.opts.logger.info({ member: t.name, up: h.up, err: error, role: h.status?.role }, h.up ? 'agent up' : 'agent down');
    }
    this.opts.onCheck?.(t.name, status !== undefined, now - started);
    this.schedule(t, started);
    this.opts.onChange(t.name);
  }

  private schedule(t: Target, started: number): void {
    if (t.stopped || this.stopped) return;
    if (t.again) {
      this.run(t);
      return;
    }
    const period = this.fast.has(t.name) ? this.config.fastIntervalMs : this.config.intervalMs;
    const delay = Math.max(0, started + period - this.opts.scheduler.now());
    t.timer = this.opts.scheduler.setTimer(() => {
      t.timer = undefined;
      if (!t.stopped && !t.inFlight) this.run(t);
    }, delay);
  }
}
