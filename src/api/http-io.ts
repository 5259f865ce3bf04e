/**
 * The REST API's HTTP wire: request bodies by Patroni's rules (bounded in bytes), draining what an early answer
 * leaves unread, replies (JSON in Python's format, text, the bare status line health checkers read) and the
 * deadline every handler runs under.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { pythonJson } from '../lib/python-format';

export const MAX_BODY_BYTES = 64 * 1024;
/** How much of a refused body we still read (then discard) so the client sees our answer instead of a reset. */
const DRAIN_LIMIT_BYTES = 8 * 1024 * 1024;
const DRAIN_LIMIT_MS = 2_000;
const JSON_TYPE = 'application/json';

/** What readJsonBody needs of a handler: Patroni's body rule for its endpoint. */
export type BodyRule = 'none' | 'optional' | 'required';

export class Timeout extends Error {}

export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Reads the JSON object body by Patroni's rules. Returns the object, or the status code to answer with:
 * 411 (no Content-Length where a body is required), 413 (over 64 KiB), 400 (empty, invalid, or not an object).
 */
export async function readJsonBody(req: IncomingMessage, rule: BodyRule): Promise<Record<string, unknown> | number> {
  if (rule === 'none') {
    await drain(req);
    return {};
  }
  const declared = req.headers['content-length'];
  if (declared === undefined) {
    await drain(req);
    return rule === 'required' ? 411 : {};
  }
  const length = Number(declared);
  if (!Number.isInteger(length) || length < 0) return 400;
  if (length > MAX_BODY_BYTES) {
    await drain(req);
    return 413;
  }
  if (length === 0 && rule === 'optional') return {};
  const text = await readLimited(req, MAX_BODY_BYTES);
  if (text === undefined) return 413;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 400;
    const obj = parsed as Record<string, unknown>;
    return rule === 'required' && Object.keys(obj).length === 0 ? 400 : obj;
  } catch {
    return 400;
  }
}

function readLimited(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (!overflow) {
        overflow = true;
        void drain(req).then(() => resolve(undefined));
      }
    });
    req.once('end', () => resolve(overflow ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.once('error', () => resolve(undefined));
    req.once('close', () => resolve(overflow ? undefined : Buffer.concat(chunks).toString('utf8')));
  });
}

/**
 * Reads and discards what is left of a request body (bounded in bytes and time) before an early answer, so the
 * client reads our status instead of a connection reset caused by unread data.
 */
export function drain(req: IncomingMessage): Promise<void> {
  if (req.complete || req.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT_BYTES) {
        req.pause();
        done();
      }
    };
    const timer = setTimeout(done, DRAIN_LIMIT_MS);
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
    req.resume();
  });
}

export function sendBody(
  res: ServerResponse,
  code: number,
  body: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function sendJson(res: ServerResponse, code: number, value: unknown, headers?: Record<string, string>): void {
  sendBody(res, code, pythonJson(value), JSON_TYPE, headers);
}

export function sendText(res: ServerResponse, code: number, text: string, headers?: Record<string, string>): void {
  sendBody(res, code, text, 'text/html', headers);
}

/**
 * Patroni's `_write_status_code_only`: the status line and an empty line, no headers, no body, then close.
 * HAProxy `option httpchk` and Consul checks read only this.
 */
export function sendStatusLine(res: ServerResponse, code: number): void {
  const line = `HTTP/1.0 ${code} ${STATUS_CODES[code] ?? ''}\r\n\r\n`;
  // A pipelined request gets its socket only once the responses before it are done.
  if (res.socket) res.socket.end(line);
  else res.once('socket', (socket) => socket.end(line));
}
