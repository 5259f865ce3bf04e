/**
 * Drives a TxnRewriter the way a transaction-mode session does, over FakeSessions as server connections: a
 * message that needs a server connection takes the next one the test lines up, and the connection goes back after
 * ReadyForQuery 'I' with nothing outstanding. `direct` runs the same messages on one FakeSession: the reference.
 */
import { decodeErrorResponse } from '../../../../src/router/wire';
import { encodeParse, encodeQuery, encodeTarget } from '../../../../src/router/pool/txn-codec';
import { MSG, decodeParameterStatus, encodeMessage } from '../../../../src/router/pool/messages';
import { ServerSide, TxnRewriter } from '../../../../src/router/pool/txn-rewriter';
import { clientParams } from '../../../../src/router/pool/params';
import { FakeSession, LOGIN_PARAMS } from './fake-session';

export const parse = (name: string, query: string, types: number[] = []) => encodeParse({ name, query, paramTypes: types });
export const describeS = (name: string) => encodeTarget('D', { target: 'S', name });
export const describeP = (name = '') => encodeTarget('D', { target: 'P', name });
export const closeS = (name: string) => encodeTarget('C', { target: 'S', name });
export const sync = () => encodeMessage(MSG.sync);
export const flush = () => encodeMessage(MSG.flush);
export const query = (text: string) => encodeQuery(text);

export function bind(statement: string, params: string[] = [], portal = ''): Buffer {
  const parts = [Buffer.from(`${portal}\0${statement}\0`), Buffer.from([0, 0])];
  const count = Buffer.alloc(2);
  count.writeInt16BE(params.length);
  parts.push(count);
  for (const p of params) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(Buffer.byteLength(p));
    parts.push(len, Buffer.from(p));
  }
  parts.push(Buffer.from([0, 0]));
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head[0] = 0x42;
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

export function execute(portal = ''): Buffer {
  const body = Buffer.concat([Buffer.from(`${portal}\0`), Buffer.alloc(4)]);
  const head = Buffer.alloc(5);
  head[0] = 0x45;
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/** A reply as a short string: '1', 'Z I', 'E 26000', 'S application_name=x', 'C SELECT 1'. */
export function show(msg: Buffer): string {
  const type = String.fromCharCode(msg[0]!);
  if (type === 'Z') return `Z ${String.fromCharCode(msg[5]!)}`;
  if (type === 'E') return `E ${decodeErrorResponse(msg)?.C}`;
  if (type === 'S') {
    const p = decodeParameterStatus(msg.subarray(5))!;
    return `S ${p.name}=${p.value}`;
  }
  if (type === 'C') return `C ${msg.toString('utf8', 5, msg.length - 1)}`;
  return type;
}

export class Pooled {
  readonly rewriter: TxnRewriter;
  readonly sides: ServerSide[];
  readonly received: Buffer[] = [];
  readonly setupErrors: Record<string, string>[] = [];
  /** Indexes of the servers that acquisitions get, in order (then the last one again). */
  lineup: number[] = [0];
  current?: number;
  acquisitions = 0;
  /** Take a server connection for every message, needed or not (as the pooled session does). */
  eager = false;
  private replies: Buffer[] = [];

  constructor(readonly servers: FakeSession[], readonly startup: Record<string, string> = {}, capacity?: number) {
    this.rewriter = new TxnRewriter(clientParams(LOGIN_PARAMS, startup));
    this.sides = servers.map(() => new ServerSide(LOGIN_PARAMS, capacity));
  }

  /** Sends `msgs` one by one, each one's replies read before the next is sent (no pipelining). */
  lockstep(msgs: Buffer[]): string[] {
    const start = this.received.length;
    for (const m of msgs) this.run([m]);
    return this.received.slice(start).map(show);
  }

  /** Sends all of `msgs` before reading any reply (a pipelining driver), then reads them all. */
  run(msgs: Buffer[]): string[] {
    const start = this.received.length;
    for (const m of msgs) {
      if (this.eager && this.current === undefined) this.acquire();
      let step = this.rewriter.fromClient(m, this.side());
      if (step.kind === 'need-server') {
        this.acquire();
        step = this.rewriter.fromClient(m, this.side());
      }
      if (step.kind !== 'ok') throw new Error('asked for a server twice');
      this.received.push(...step.toClient);
      for (const out of step.toServer) this.replies.push(...this.servers[this.current!]!.handle(out));
    }
    const replies = this.replies;
    this.replies = [];
    for (const r of replies) {
      const setupError = this.rewriter.fromServer(r, this.received);
      if (setupError) this.setupErrors.push(setupError);
      if (r[0] === 0x5a && r[5] === 0x49 && this.rewriter.idle) {
        this.rewriter.release();
        this.current = undefined;
      }
    }
    return this.received.slice(start).map(show);
  }

  private acquire(): void {
    this.current = this.lineup[Math.min(this.acquisitions++, this.lineup.length - 1)];
  }

  private side(): ServerSide | undefined {
    return this.current === undefined ? undefined : this.sides[this.current];
  }
}

/** The replies one PostgreSQL session gives to `batches` (each sent whole, then read). */
export function direct(batches: Buffer[][], broken?: Set<string>): string[] {
  const pg = new FakeSession(broken);
  return batches.flatMap((b) => b.flatMap((m) => pg.handle(m))).map(show);
}
