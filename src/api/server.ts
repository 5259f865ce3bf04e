/**
 * The agent's REST API (reference §3), a thin node:http layer over the status snapshot:
 * - GET `/patroni`, `/cluster`, `/history`, `/config`, `/failsafe`, `/metrics`, `/liveness`, `/readiness`, and every
 *   other GET path through the generic health check (503 + status JSON for unknown paths);
 * - GET `/` from a browser (an `Accept` header naming `text/html`): the live status page (src/status-page), with
 *   the status code the health check gives (200 on the leader, 503 elsewhere), so a checker that sends such a
 *   header still reads the same answer; every other GET `/` gets Patroni's JSON, as in Patroni;
 * - HEAD and OPTIONS: the generic health check, answered with the bare status line `HTTP/1.0 200 OK\r\n\r\n`;
 * - POST/PUT/PATCH/DELETE: handlers plugged in by the agent (`'POST /reload'` …) behind Basic auth, with
 *   Patroni's body rules (411 without Content-Length where a body is required, 400 on bad JSON) and a 64 KiB limit.
 * HTTPS when `tls` is given (restapi.certfile/keyfile/keyfile_password; cafile + verify_client for client certificates).
 * Every request is answered within a bounded time and the server never throws on malformed input.
 */
import { createServer, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { AgentStatus } from '../agent/status';
import type { ClusterView } from '../model/cluster';
import type { Logger } from '../log/logger';
import { describe } from '../lib/errors';
import { clusterDocument } from './cluster-doc';
import { evaluateGenericHealth, evaluateHealth, firstSegment } from './health';
import { patroniDocument } from '../model/patroni-format';
import { statusPage, wantsHtml } from '../status-page/page';
import { type AccessSettings, RestAccess } from './access';
import { type BodyRule, Timeout, drain, readJsonBody, sendBody, sendJson, sendStatusLine, sendText, withTimeout } from './http-io';
import { type RestApiTls, tlsOptions } from './server-tls';

export type { RestApiTls } from './server-tls';

export type UnsafeMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface UnsafeRequest {
  method: UnsafeMethod;
  path: string;
  query: URLSearchParams;
  /** The JSON object sent; `{}` when the endpoint takes no body or an optional body was absent. */
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
  remoteAddress?: string;
}

export interface UnsafeReply {
  code: number;
  /** A string is sent as `text/html` (Patroni's plain messages); anything else as JSON. */
  body?: string | Record<string, unknown> | unknown[];
  headers?: Record<string, string>;
}

export interface UnsafeHandler {
  /** Patroni's body rule for the endpoint: `required` → 411 without Content-Length, 400 on an empty object. */
  body: BodyRule;
  /** Deadline for `handle` (default 30 s: a switchover waits for its outcome); past it the reply is 503. */
  timeoutMs?: number;
  handle(req: UnsafeRequest): Promise<UnsafeReply> | UnsafeReply;
}

export interface RestApiOptions {
  listen: { host: string; port: number };
  status: () => AgentStatus;
  /** Monotonic milliseconds, the clock of `leaderValidUntilMs` (default performance.now()). */
  now?: () => number;
  /** A fresh read of the cluster (for `/cluster`); rejects when etcd is unreachable. */
  readCluster: () => Promise<ClusterView>;
  /** The `config` key's JSON; undefined when the key is missing or invalid (→ 502). */
  readConfig?: () => Promise<Record<string, unknown> | undefined>;
  metrics: () => Promise<string>;
  logger: Logger;
  /** Write endpoints keyed by `METHOD /segment`, e.g. `'POST /reload'`, `'DELETE /switchover'`. */
  unsafe?: Record<string, UnsafeHandler>;
  authentication?: { username: string; password: string };
  /** allowlist and extra headers (src/api/access.ts). */
  access?: AccessSettings;
  /** HTTPS (`restapi.certfile`/`keyfile`/`keyfile_password`, `cafile` + `verify_client` for client certificates). */
  tls?: RestApiTls;
  /** Deadline for reads behind GET handlers (`/cluster`, `/config`, `/metrics`); default 5 s. */
  readTimeoutMs?: number;
}

export interface RestApi {
  port: number;
  /** Takes over reloaded settings (the YAML re-read on SIGHUP or POST /reload); the socket stays as it is. */
  update(s: { authentication?: { username: string; password: string }; access: AccessSettings }): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_READ_TIMEOUT_MS = 5_000;
const DEFAULT_UNSAFE_TIMEOUT_MS = 30_000;
const UNSAFE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** GET segments with a dedicated handler: a write method on them is 405, not 404. */
const GET_SEGMENTS: ReadonlySet<string> = new Set([
  'patroni', 'cluster', 'history', 'config', 'failsafe', 'metrics', 'liveness', 'readiness',
]);
const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Path and query exactly as Patroni splits them: the path is not decoded or normalized. */
export function splitRequestTarget(target: string): { path: string; query: URLSearchParams } {
  const withoutFragment = target.split('#')[0] ?? '';
  const q = withoutFragment.indexOf('?');
  const path = q < 0 ? withoutFragment : withoutFragment.slice(0, q);
  return { path: path || '/', query: new URLSearchParams(q < 0 ? '' : withoutFragment.slice(q + 1)) };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export async function startRestApi(opts: RestApiOptions): Promise<RestApi> {
  const log = opts.logger.child({ component: 'restapi' });
  const now = opts.now ?? (() => performance.now());
  const readTimeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const unsafe = new Map(Object.entries(opts.unsafe ?? {}));
  const authKey = (a: RestApiOptions['authentication']) => (a ? sha256(Buffer.from(`${a.username}:${a.password}`, 'utf8').toString('base64')) : undefined);
  let expectedAuth = authKey(opts.authentication);
  const access = new RestAccess(opts.tls !== undefined, log);
  await access.update(opts.access ?? {});

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    for (const [name, value] of Object.entries(access.headers())) res.setHeader(name, value);
    handle(req, res).catch((err: unknown) => {
      log.warn({ err, method: req.method, path: req.url }, 'REST request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
  const server = opts.tls ? createHttpsServer(tlsOptions(opts.tls), onRequest) : createServer(onRequest);
  // Node hands CONNECT to a 'connect' listener and closes the socket without one; Patroni answers 501.
  server.on('connect', (_req: IncomingMessage, socket: { end(data: string): void }) =>
    socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
  // Bounded time for every request: slow headers, slow bodies and idle sockets are cut.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.setTimeout(60_000, (socket) => socket.destroy());
  // Malformed requests: node's default clientError handling answers 400/408/431 and closes the socket.

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const { path, query } = splitRequestTarget(req.url ?? '/');
    if (method === 'GET') {
      if (path === '/' && wantsHtml(req.headers.accept)) {
        const { code } = evaluateHealth(path, query, opts.status(), now());
        return sendBody(res, code, statusPage('agent'), 'text/html; charset=utf-8', { 'Cache-Control': 'no-store' });
      }
      return handleGet(path, query, res);
    }
    if (method === 'HEAD' || method === 'OPTIONS') {
      return sendStatusLine(res, evaluateGenericHealth(path, query, opts.status(), now()).code);
    }
    if (UNSAFE_METHODS.has(method)) return handleUnsafe(method as UnsafeMethod, path, query, req, res);
    await drain(req);
    return sendText(res, 501, `Unsupported method (${JSON.stringify(method)})`, { Connection: 'close' });
  }

  async function handleGet(path: string, query: URLSearchParams, res: ServerResponse): Promise<void> {
    switch (firstSegment(path)) {
      case 'patroni':
        return sendJson(res, 200, patroniDocument(opts.status(), now()));
      case 'cluster':
        return getCluster(res);
      case 'history':
        return getHistory(res);
      case 'config':
        return getConfig(res);
      case 'failsafe': {
        // The /failsafe key of the last view, as Patroni; 502 when it is absent or not an object.
        const failsafe = opts.status().view?.failsafe;
        return failsafe ? sendJson(res, 200, failsafe) : sendJson(res, 502, { error: 'the failsafe key is absent' });
      }
      case 'metrics':
        return sendBody(res, 200, await withTimeout(opts.metrics(), readTimeoutMs, 'rendering metrics'), METRICS_TYPE);
      case 'liveness':
      case 'readiness':
        return sendStatusLine(res, evaluateHealth(path, query, opts.status(), now()).code);
      default: {
        const status = opts.status();
        const nowMs = now();
        const { code } = evaluateHealth(path, query, status, nowMs);
        return sendJson(res, code, patroniDocument(status, nowMs));
      }
    }
  }

  async function getCluster(res: ServerResponse): Promise<void> {
    const status = opts.status();
    try {
      const view = await withTimeout(opts.readCluster(), readTimeoutMs, 'reading the cluster from etcd');
      sendJson(res, 200, clusterDocument(view, status.scope));
    } catch (err) {
      sendJson(res, 503, { error: `cannot read the cluster: ${describe(err)}` });
    }
  }

  async function getHistory(res: ServerResponse): Promise<void> {
    try {
      const view = opts.status().view ?? (await withTimeout(opts.readCluster(), readTimeoutMs, 'reading the cluster'));
      sendJson(res, 200, view.history ?? []);
    } catch (err) {
      sendJson(res, 503, { error: `cannot read the history: ${describe(err)}` });
    }
  }

  async function getConfig(res: ServerResponse): Promise<void> {
    try {
      const config = opts.readConfig
        ? await withTimeout(opts.readConfig(), readTimeoutMs, 'reading the config key')
        : validConfig(opts.status().view);
      if (config) return sendJson(res, 200, config);
      sendJson(res, 502, { error: 'the config key is missing or invalid' });
    } catch (err) {
      sendJson(res, 502, { error: `cannot read the config key: ${describe(err)}` });
    }
  }

  async function handleUnsafe(
    method: UnsafeMethod,
    path: string,
    query: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const segment = firstSegment(path);
    const handler = unsafe.get(`${method} /${segment}`);
    if (!handler) {
      await drain(req);
      const allowed = allowedMethods(segment);
      if (allowed.length === 0) return sendText(res, 404, 'Not Found', { Connection: 'close' });
      return sendText(res, 405, 'Method Not Allowed', { Allow: allowed.join(', '), Connection: 'close' });
    }
    if (!(await access.allows(req.socket.remoteAddress, () => memberApiUrls(opts.status().view)))) {
      await drain(req);
      return sendText(res, 403, 'Access is denied', { Connection: 'close' });
    }
    if (opts.tls?.verifyClient === 'optional' && !(req.socket as TLSSocket).authorized) {
      await drain(req);
      return sendText(res, 403, 'client certificate required', { Connection: 'close' });
    }
    const authProblem = checkAuth(req.headers.authorization);
    if (authProblem) {
      await drain(req);
      return sendText(res, 401, authProblem, { 'WWW-Authenticate': 'Basic realm="Patroni"', Connection: 'close' });
    }
    const body = await readJsonBody(req, handler.body);
    if (typeof body === 'number') return sendText(res, body, STATUS_CODES[body] ?? 'Error', { Connection: 'close' });

    const request: UnsafeRequest = { method, path, query, body, headers: req.headers, remoteAddress: req.socket.remoteAddress };
    let reply: UnsafeReply;
    try {
      reply = await withTimeout(
        Promise.resolve().then(() => handler.handle(request)),
        handler.timeoutMs ?? DEFAULT_UNSAFE_TIMEOUT_MS,
        `${method} ${path}`,
      );
    } catch (err) {
      log.warn({ err, method, path }, 'REST write handler failed');
      return sendText(res, err instanceof Timeout ? 503 : 500, describe(err));
    }
    if (reply.body === undefined || typeof reply.body === 'string') {
      return sendText(res, reply.code, reply.body ?? '', reply.headers);
    }
    return sendJson(res, reply.code, reply.body, reply.headers);
  }

  function allowedMethods(segment: string): string[] {
    const methods = [...unsafe.keys()].filter((k) => k.endsWith(` /${segment}`)).map((k) => k.split(' ')[0]!);
    if (GET_SEGMENTS.has(segment)) methods.unshift('GET');
    return methods;
  }

  /** Patroni's messages: `no auth header received` / `not authenticated`; compared in constant time. */
  function checkAuth(header: string | undefined): string | undefined {
    if (!expectedAuth) return undefined;
    if (header === undefined) return 'no auth header received';
    const given = header.startsWith('Basic ') ? header.slice('Basic '.length) : undefined;
    if (given === undefined || !timingSafeEqual(sha256(given), expectedAuth)) return 'not authenticated';
    return undefined;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.listen.port, host: listenHost(opts.listen.host) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'REST server error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ host: opts.listen.host, port, tls: opts.tls !== undefined }, 'REST API listening');

  return {
    port,
    update: async (u) => {
      await access.update(u.access);
      expectedAuth = authKey(u.authentication);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1_000).unref();
      }),
  };
}

/** `*` or empty: every interface, IPv6 and IPv4 (Patroni binds the wildcard); `0.0.0.0`: every IPv4 interface. */
export function listenHost(host: string): string | undefined {
  return host === '*' || host === '' ? undefined : host;
}

function memberApiUrls(view: ClusterView | undefined): string[] {
  return [...(view?.members.values() ?? [])].flatMap((m) => (typeof m.doc.api_url === 'string' ? [m.doc.api_url] : []));
}

function validConfig(view: ClusterView | undefined): Record<string, unknown> | undefined {
  return view?.config?.valid ? view.config.value : undefined;
}

