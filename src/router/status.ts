/**
 * The router's HTTP side on the metrics address: `GET /metrics` (Prometheus), `GET /status` (the routing table as
 * JSON: each member, each pool, and why each member is in or out), `GET /health` (200 while the router runs;
 * the body says whether writes and reads are currently routable). `GET /` is the live status page for a browser
 * (an `Accept` header naming `text/html`; the page polls `/status`), and `/health`'s answer for anything else, as
 * before the page existed. `POST /pause` and `POST /resume` (optional `?member=NAME`) pause and resume new
 * transactions on pooled listeners, as PgBouncer's PAUSE and RESUME.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from '../log/logger';
import { wantsHtml } from '../status-page/page';

export interface StatusHandlers {
  metrics(): Promise<string>;
  status(): unknown;
  health(): { ok: boolean; body: unknown };
  /** The status page's HTML (src/status-page). */
  page?(): string;
  /** `POST /pause` and `POST /resume` (`?member=NAME`, else every member): the operator's PAUSE (drainable.ts). */
  control?(action: 'pause' | 'resume', member: string | undefined): unknown;
}

export async function startStatusServer(host: string, port: number, handlers: StatusHandlers, logger: Logger): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const [path, query] = (req.url ?? '/').split('?');
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if ((path === '/pause' || path === '/resume') && handlers.control) {
      if (req.method !== 'POST') send(405, 'text/plain', `use POST ${path}[?member=NAME]\n`);
      else send(200, 'application/json', `${JSON.stringify(handlers.control(path === '/pause' ? 'pause' : 'resume', new URLSearchParams(query ?? '').get('member') || undefined))}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain', 'method not allowed\n');
      return;
    }
    try {
      if (path === '/metrics') {
        handlers.metrics().then(
          (text) => send(200, 'text/plain; version=0.0.4; charset=utf-8', text),
          (err: unknown) => send(500, 'text/plain', `${String(err)}\n`),
        );
      } else if (path === '/' && handlers.page && wantsHtml(req.headers.accept)) {
        send(200, 'text/html; charset=utf-8', handlers.page());
      } else if (path === '/status') {
        send(200, 'application/json', `${JSON.stringify(handlers.status(), null, 2)}\n`);
      } else if (path === '/health' || path === '/') {
        const h = handlers.health();
        send(h.ok ? 200 : 503, 'application/json', `${JSON.stringify(h.body)}\n`);
      } else {
        send(404, 'text/plain', 'not found: try / (in a browser), /metrics, /status, /health\n');
      }
    } catch (err) {
      logger.error({ err }, 'status request failed');
      send(500, 'text/plain', 'internal error\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`metrics: cannot listen on ${host}:${port}: ${err.code ?? err.message}`);
  });
  const addr = server.address();
  return { server, port: addr && typeof addr === 'object' ? addr.port : port };
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
