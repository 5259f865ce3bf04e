/**
 * One client's stream in transaction pooling, rewritten for whichever server connection runs it. The pooled
 * session hands over whole messages both ways; this class decides, without I/O:
 *  - named prepared statements (prepared.ts): Parse(name) is recorded for the client and sent under the server's
 *    shared name unless already prepared there (then the router answers ParseComplete itself); Bind, Describe 'S'
 *    and Close 'S' are renamed, with the Parse injected first where the server lacks it; Close 'S' is answered by
 *    the router (the server keeps the shared statement). The unnamed statement and portals pass untouched.
 *  - reported parameters (params.ts): on attaching a server connection whose values differ, the `SET`s first.
 *  - what cannot work (unsupported.ts): refused with 0A000, never forwarded.
 *
 * Replies come back in request order, so every message sent to the server that gets a reply holds a slot in one
 * queue; the replies to injected messages are swallowed at their slot, and the router's own replies
 * (ParseComplete, CloseComplete, errors) wait for their turn in the same queue. After an ErrorResponse in the
 * extended protocol the server skips everything up to Sync, and so does the queue (undoing what those messages
 * would have recorded): the client sees exactly what one PostgreSQL session would have sent it.
 */

import { decodeErrorResponse, encodeErrorResponse, type ErrorFields } from '../wire';
import { ClientStatements, ServerStatements, statementKey, type ClientStatement } from './prepared';
import { ReportedParams, setStatements } from './params';
import {
  CLOSE_COMPLETE, PARSE_COMPLETE, decodeBindNames, decodeCommandTag, decodeParse, decodeQuery, decodeTarget,
  encodeParse, encodeQuery, encodeTarget, renameBind,
} from './txn-codec';
import { decodeParameterStatus, readyForQuery, type TxStatus } from './messages';
import { findUnsupported } from './unsupported';

/** What the router keeps with each server connection of a transaction-mode pool. */
export class ServerSide {
  readonly statements: ServerStatements;
  readonly params: ReportedParams;

  /** `params`: the ParameterStatus values the server sent at login. */
  constructor(params: Record<string, string> = {}, capacity?: number) {
    this.statements = new ServerStatements(capacity);
    this.params = new ReportedParams(params);
  }
}

export type ClientStep =
  /** The message needs a server connection: acquire one and call again with it (nothing was changed). */
  | { kind: 'need-server' }
  | { kind: 'ok'; toServer: Buffer[]; toClient: Buffer[] };


type SlotKind = 'parse' | 'bind' | 'describe-s' | 'describe-p' | 'execute' | 'close' | 'sync' | 'query' | 'setup' | 'reply';

interface Slot {
  kind: SlotKind;
  /** Injected: the client never sees its replies (errors aside: an injected Parse's error is its Bind's). */
  swallow?: boolean;
  /** Reverts what sending it recorded, when it fails or the server skips it. */
  undo?: () => void;
  /** The router's own reply, built when its turn comes ('reply' slots). */
  reply?: () => Buffer[];
  /** The router's answer to a Sync: it ends a skip as the server's ReadyForQuery would. */
  sync?: boolean;
}

/** Which backend message types end a slot (an ErrorResponse ends the extended ones too). */
const ENDS: Record<Exclude<SlotKind, 'reply'>, string> = {
  parse: '1',
  bind: '2',
  close: '3',
  'describe-s': 'Tn',
  'describe-p': 'Tn',
  execute: 'CIs',
  sync: 'Z',
  query: 'Z',
  setup: 'Z',
};
const UNTIL_READY = new Set<SlotKind>(['sync', 'query', 'setup']);

/** Parse, Bind, Describe, Execute, Close, Flush: the server holds their state until a Sync. */
const EXTENDED = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48]);

const OK: ClientStep = { kind: 'ok', toServer: [], toClient: [] };
const NEED: ClientStep = { kind: 'need-server' };

export class TxnRewriter {
  readonly statements = new ClientStatements();
  private readonly queue: Slot[] = [];
  private attached?: ServerSide;
  /** The server reported an error in the extended protocol: it skips to Sync, so does the queue. */
  private skipReplies = false;
  /** The router refused an extended-protocol message: the client's messages up to Sync are dropped. */
  private skipClient = false;
  /** Extended-protocol messages went to the server since its last Sync: it must get that Sync too. */
  private openBatch = false;
  /** The last ReadyForQuery status ('I' until a server says otherwise). */
  private status: TxStatus = 'I';

  /** `params`: the client's view (params.ts clientParams), followed across server connections. */
  constructor(readonly params: ReportedParams) {}

  /** No reply is outstanding and no extended batch is open: the server connection may go (after ReadyForQuery 'I'). */
  get idle(): boolean {
    return this.queue.length === 0 && !this.openBatch;
  }

  /** The server connection goes back to the pool (call only when idle). */
  release(): void {
    this.attached = undefined;
  }

  /** The server connection was lost: its outstanding replies never come, and nothing they recorded holds. */
  serverLost(): void {
    for (const slot of this.queue) slot.undo?.();
    this.queue.length = 0;
    this.attached = undefined;
    this.skipReplies = false;
    this.skipClient = false;
    this.openBatch = false;
    this.status = 'I';
  }

  fromClient(msg: Buffer, server: ServerSide | undefined): ClientStep {
    const type = msg[0]!;
    if (this.skipClient && type !== 0x53 /* Sync */) return OK;
    switch (type) {
      case 0x51: return this.query(msg, server); // 'Q'
      case 0x50: return this.parse(msg, server); // 'P'
      case 0x42: return this.bind(msg, server); // 'B'
      case 0x44: return this.describe(msg, server); // 'D'
      case 0x43: return this.close(msg, server); // 'C'
      case 0x45: return this.send(server, msg, { kind: 'execute' }); // 'E' Execute
      case 0x53: // 'S' Sync
        if (!server && this.queue.length === 0) {
          // Nothing outstanding and no server connection: the router is the whole session, it answers.
          this.skipClient = false;
          this.push({ kind: 'reply', reply: () => [readyForQuery(this.status)], sync: true });
          return this.flush([]);
        }
        if (!server) return NEED;
        this.skipClient = false;
        server.statements.batch++;
        return this.send(server, msg, { kind: 'sync' });
      case 0x46: return this.send(server, msg, { kind: 'query' }); // 'F' FunctionCall: … ReadyForQuery
      case 0x48: return server ? this.send(server, msg) : OK; // 'H' Flush: no reply of its own
      case 0x58: return OK; // 'X' Terminate: the pooled session ends the client, never the server connection
      case 0x64: case 0x63: case 0x66: // CopyData, CopyDone, CopyFail after the server ended the COPY: it ignores them too
        return server ? this.send(server, msg) : OK;
      default: return this.send(server, msg); // CopyData/CopyDone/CopyFail and the rest: replies belong to an open slot
    }
  }

  /**
   * Pushes onto `toClient` what the client gets for this server message (on the hot path: no allocation for a
   * message that passes). Returns the fields of an error the injected SET got (not the client's error: worth a
   * log line; the client goes on), else undefined.
   */
  fromServer(msg: Buffer, toClient: Buffer[]): Record<string, string> | undefined {
    const type = String.fromCharCode(msg[0]!);
    const head = this.queue[0];
    const injected = head?.kind === 'setup';
    if (type === 'S') {
      // ParameterStatus: the server's value changed; the client's too unless it came from our own SET, which
      // applied the client's value (the server now spells it canonically: the client's view takes that form).
      const p = decodeParameterStatus(msg.subarray(5));
      if (p) {
        this.attached?.params.set(p.name, p.value);
        this.params.set(p.name, p.value);
      }
      if (!injected) toClient.push(msg);
      return undefined;
    }
    if (type === 'Z') this.status = String.fromCharCode(msg[5] ?? 0x49) as TxStatus;
    if (type === 'A' || !head) {
      // A notification, or nothing outstanding (a FATAL before the server closes): pass it on.
      toClient.push(msg);
      return undefined;
    }
    if (type === 'N') {
      if (!head.swallow) toClient.push(msg);
      return undefined;
    }
    let setupError: Record<string, string> | undefined;
    if (type === 'E' && injected) setupError = decodeErrorResponse(msg);
    else if (!head.swallow || type === 'E') toClient.push(msg);
    if (type === 'C' && !injected) this.commandComplete(msg);
    const failed = type === 'E' && !UNTIL_READY.has(head.kind);
    if (failed || (head.kind !== 'reply' && ENDS[head.kind].includes(type))) {
      this.queue.shift();
      if (failed) {
        head.undo?.();
        this.skipReplies = true;
      }
      this.drain(toClient);
    }
    return setupError;
  }

  /** DISCARD ALL and DEALLOCATE ALL dropped every prepared statement of the server connection and the client. */
  private commandComplete(msg: Buffer): void {
    const tag = decodeCommandTag(msg);
    if (tag !== 'DISCARD ALL' && tag !== 'DEALLOCATE ALL') return;
    this.attached?.statements.clear();
    this.statements.clear();
  }

  private query(msg: Buffer, server: ServerSide | undefined): ClientStep {
    const text = decodeQuery(msg);
    const refused = text === undefined ? undefined : findUnsupported(text);
    if (refused) {
      // A simple Query answers with ReadyForQuery after its error; nothing to skip.
      const err = encodeErrorResponse({ severity: 'ERROR', sqlstate: refused.sqlstate, message: refused.message, hint: refused.hint });
      return this.answer(() => [err, readyForQuery(this.status)]);
    }
    return this.send(server, msg, { kind: 'query' });
  }

  private parse(msg: Buffer, server: ServerSide | undefined): ClientStep {
    const p = decodeParse(msg);
    if (!p) return this.refuse({ sqlstate: '08P01', message: 'invalid Parse message' });
    const refused = findUnsupported(p.query);
    if (refused) return this.refuse({ sqlstate: refused.sqlstate, message: refused.message, hint: refused.hint });
    if (p.name === '') return this.send(server, msg, { kind: 'parse' });
    if (this.statements.get(p.name)) return this.refuse({ sqlstate: '42P05', message: `prepared statement "${p.name}" already exists` });
    if (!server) return NEED;
    const out = this.attach(server);
    this.openBatch = true;
    const key = statementKey(p);
    const s = this.statements.add(p);
    if (server.statements.use(key) !== undefined) {
      // Prepared there already (by this client before, or another): the router answers in the server's stead.
      this.push({ kind: 'reply', reply: () => [PARSE_COMPLETE], undo: () => this.statements.remove(s) });
      return this.flush(out);
    }
    const name = this.prepare(server, s, out);
    this.push({ kind: 'parse', undo: () => { this.statements.remove(s); server.statements.remove(key, name); } });
    out.push(encodeParse({ name, query: p.query, paramTypes: p.paramTypes }));
    return this.flush(out);
  }

  private bind(msg: Buffer, server: ServerSide | undefined): ClientStep {
    const names = decodeBindNames(msg);
    if (!names) return this.refuse({ sqlstate: '08P01', message: 'invalid Bind message' });
    if (names.statement === '') return this.send(server, msg, { kind: 'bind' });
    const s = this.statements.get(names.statement);
    if (!s) return this.refuse(missing(names.statement));
    if (!server) return NEED;
    const out = this.attach(server);
    this.openBatch = true;
    const name = this.ensure(server, s, out);
    this.push({ kind: 'bind' });
    out.push(renameBind(msg, names, name));
    return this.flush(out);
  }

  private describe(msg: Buffer, server: ServerSide | undefined): ClientStep {
    const t = decodeTarget(msg);
    if (!t) return this.refuse({ sqlstate: '08P01', message: 'invalid Describe message' });
    const kind = t.target === 'S' ? 'describe-s' : 'describe-p';
    if (t.target === 'P' || t.name === '') return this.send(server, msg, { kind });
    const s = this.statements.get(t.name);
    if (!s) return this.refuse(missing(t.name));
    if (!server) return NEED;
    const out = this.attach(server);
    this.openBatch = true;
    const name = this.ensure(server, s, out);
    this.push({ kind });
    out.push(encodeTarget('D', { target: 'S', name }));
    return this.flush(out);
  }

  private close(msg: Buffer, server: ServerSide | undefined): ClientStep {
    const t = decodeTarget(msg);
    if (!t) return this.refuse({ sqlstate: '08P01', message: 'invalid Close message' });
    if (t.target === 'P' || t.name === '') return this.send(server, msg, { kind: 'close' });
    // The client forgets it; the server keeps it for whoever prepares the same text (and the LRU bounds it).
    // Closing a name that does not exist is no error in PostgreSQL either.
    const s = this.statements.get(t.name);
    this.statements.delete(t.name);
    return this.answer([CLOSE_COMPLETE], s && (() => { if (!this.statements.get(s.name)) this.statements.add(s); }));
  }

  /** The server name of `s` on `server`, injecting its Parse (replies swallowed) when it is not prepared there. */
  private ensure(server: ServerSide, s: ClientStatement, out: Buffer[]): string {
    const known = server.statements.use(s.key);
    if (known !== undefined) return known;
    const name = this.prepare(server, s, out);
    this.push({ kind: 'parse', swallow: true, undo: () => server.statements.remove(s.key, name) });
    out.push(encodeParse({ name, query: s.query, paramTypes: s.paramTypes }));
    return name;
  }

  /** Records `s` on `server` under a new name, closing what the LRU evicts first (replies swallowed). */
  private prepare(server: ServerSide, s: ClientStatement, out: Buffer[]): string {
    const { name, evict } = server.statements.add(s.key);
    for (const old of evict) {
      this.push({ kind: 'close', swallow: true });
      out.push(encodeTarget('C', { target: 'S', name: old }));
    }
    return name;
  }

  /** The SET query that gives a newly attached server connection the client's reported parameters. */
  private attach(server: ServerSide): Buffer[] {
    if (server === this.attached) return [];
    this.attached = server;
    const sql = setStatements(this.params, server.params);
    if (!sql) return [];
    this.queue.push({ kind: 'setup', swallow: true });
    return [encodeQuery(sql)];
  }

  private send(server: ServerSide | undefined, msg: Buffer, slot?: Slot): ClientStep {
    if (!server) return NEED;
    const out = this.attach(server);
    this.openBatch = EXTENDED.has(msg[0]!) || (this.openBatch && msg[0] !== 0x53 /* Sync */);
    if (slot) this.push(slot);
    out.push(msg);
    return this.flush(out);
  }

  /** The router answers (in turn) without the server. */
  private answer(reply: Buffer[] | (() => Buffer[]), undo?: () => void): ClientStep {
    this.push({ kind: 'reply', reply: typeof reply === 'function' ? reply : () => reply, undo });
    return this.flush([]);
  }

  /**
   * The router refuses an extended-protocol message: its error in turn, then the client's messages up to Sync are
   * dropped (never sent, so the server has nothing to skip: its replies keep their slots).
   */
  private refuse(fields: Omit<ErrorFields, 'severity'>): ClientStep {
    const err = encodeErrorResponse({ ...fields, severity: 'ERROR' });
    this.skipClient = true;
    this.push({ kind: 'reply', reply: () => [err] });
    return this.flush([]);
  }

  private push(slot: Slot): void {
    this.queue.push(slot);
  }

  private flush(toServer: Buffer[]): ClientStep {
    const toClient: Buffer[] = [];
    this.drain(toClient);
    return { kind: 'ok', toServer, toClient };
  }

  /** Moves past what needs no server reply: the router's own answers in turn, and what the server skips. */
  private drain(toClient: Buffer[]): void {
    for (let head = this.queue[0]; head; head = this.queue[0]) {
      if (head.kind === 'sync') {
        this.skipReplies = false;
        return;
      }
      if (head.sync) this.skipReplies = false;
      if (this.skipReplies) {
        this.queue.shift();
        head.undo?.();
        continue;
      }
      if (head.kind !== 'reply') return;
      this.queue.shift();
      toClient.push(...head.reply!());
    }
  }
}

function missing(name: string): Omit<ErrorFields, 'severity'> {
  return { sqlstate: '26000', message: `prepared statement "${name}" does not exist` };
}
