/**
 * A message-level stand-in for one PostgreSQL backend session, enough to check transaction pooling's rewriting
 * by difference: a client's messages run through the router's rewriter over several of these must give the client
 * the very replies one of them gives when spoken to directly. It keeps named statements and portals, skips to Sync
 * after an error in the extended protocol, reports SET/RESET of followed parameters with ParameterStatus, and
 * tracks the transaction status. Queries are toy SQL: 'BEGIN', 'COMMIT', 'SET x TO v', 'RESET ALL', 'DISCARD ALL',
 * anything containing 'fail' errors (and `broken` texts fail to parse), anything else returns one row.
 */
import { encodeErrorResponse } from '../../../../src/router/wire';
import { decodeBindNames, decodeParse, decodeQuery, decodeTarget } from '../../../../src/router/pool/txn-codec';
import { MSG, encodeMessage, parameterStatus, readyForQuery } from '../../../../src/router/pool/messages';

export const LOGIN_PARAMS: Record<string, string> = {
  application_name: '',
  client_encoding: 'UTF8',
  DateStyle: 'ISO, MDY',
  TimeZone: 'UTC',
  standard_conforming_strings: 'on',
  server_version: '15.0',
};

function message(type: string, body: string): Buffer {
  const b = Buffer.from(body, 'utf8');
  const out = Buffer.alloc(5 + b.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + b.length, 1);
  b.copy(out, 5);
  return out;
}

const commandComplete = (tag: string) => message('C', `${tag}\0`);
const row = () => message('D', '\0\x01\0\0\0\x011');
const rowDescription = () => message('T', '\0\0');
const error = (sqlstate: string, text: string) => encodeErrorResponse({ severity: 'ERROR', sqlstate, message: text });

export class FakeSession {
  readonly statements = new Map<string, string>();
  readonly portals = new Map<string, string>();
  readonly params = new Map(Object.entries(LOGIN_PARAMS));
  /** Every message received, as a short string: 'P pgha_s1 SELECT 1', 'B pgha_s1', 'Q SET …', 'S'. */
  readonly received: string[] = [];
  private ignoreTillSync = false;
  private status: 'I' | 'T' | 'E' = 'I';

  /** `broken`: query texts this server cannot parse (a table missing on this member, say). */
  constructor(readonly broken = new Set<string>()) {}

  handle(msg: Buffer): Buffer[] {
    const type = String.fromCharCode(msg[0]!);
    this.received.push(describe(msg));
    if (this.ignoreTillSync && type !== 'S') return [];
    switch (type) {
      case 'Q': return [...this.simple(decodeQuery(msg)!), readyForQuery(this.status)];
      case 'P': {
        const p = decodeParse(msg)!;
        if (p.name !== '' && this.statements.has(p.name)) return this.fail('42P05', `prepared statement "${p.name}" already exists`);
        if (this.broken.has(p.query) || p.query.includes('syntax')) return this.fail('42601', 'syntax error');
        this.statements.set(p.name, p.query);
        return [encodeMessage(MSG.parseComplete)];
      }
      case 'B': {
        const b = decodeBindNames(msg)!;
        const query = this.statements.get(b.statement);
        if (query === undefined) return this.fail('26000', `prepared statement "${b.statement}" does not exist`);
        this.portals.set(b.portal, query);
        return [encodeMessage(MSG.bindComplete)];
      }
      case 'D': {
        const t = decodeTarget(msg)!;
        if (t.target === 'P') return this.portals.has(t.name) ? [rowDescription()] : this.fail('34000', 'portal does not exist');
        if (!this.statements.has(t.name)) return this.fail('26000', `prepared statement "${t.name}" does not exist`);
        return [message('t', '\0\0'), rowDescription()];
      }
      case 'E': {
        const query = this.portals.get(msg.toString('utf8', 5, msg.indexOf(0, 5)));
        if (query === undefined) return this.fail('34000', 'portal does not exist');
        // Execute sends no RowDescription (Describe does).
        const out = this.statement(query).filter((m) => m[0] !== 0x54);
        if (out.at(-1)?.[0] === 0x45) this.ignoreTillSync = true;
        return out;
      }
      case 'C': {
        const t = decodeTarget(msg)!;
        (t.target === 'S' ? this.statements : this.portals).delete(t.name);
        return [encodeMessage(MSG.closeComplete)];
      }
      case 'S':
        this.ignoreTillSync = false;
        if (this.status === 'I') this.portals.clear();
        return [readyForQuery(this.status)];
      default:
        return [];
    }
  }

  private fail(sqlstate: string, text: string): Buffer[] {
    this.ignoreTillSync = true;
    if (this.status === 'T') this.status = 'E';
    return [error(sqlstate, text)];
  }

  private simple(sql: string): Buffer[] {
    const out: Buffer[] = [];
    for (const stmt of sql.split(';').map((s) => s.trim()).filter(Boolean)) {
      const replies = this.statement(stmt);
      out.push(...replies);
      if (replies.at(-1)?.[0] === 0x45) break;
    }
    return out;
  }

  private statement(stmt: string): Buffer[] {
    const set = /^SET "?(\w+)"? TO E?'(.*)'$/i.exec(stmt);
    if (this.status === 'E' && !/^(COMMIT|ROLLBACK)$/.test(stmt)) return [error('25P02', 'current transaction is aborted')];
    if (this.broken.has(stmt)) return [error('22023', 'invalid value')];
    if (set) return [...this.report(set[1]!, set[2]!.replace(/''/g, "'")), commandComplete('SET')];
    if (stmt === 'BEGIN') this.status = 'T';
    else if (stmt === 'COMMIT' || stmt === 'ROLLBACK') this.status = 'I';
    else if (stmt === 'RESET ALL' || stmt === 'DISCARD ALL') {
      const out = Object.entries(LOGIN_PARAMS).flatMap(([n, v]) => this.report(n, v));
      if (stmt === 'DISCARD ALL') this.statements.clear();
      return [...out, commandComplete(stmt)];
    } else if (stmt.includes('fail')) {
      if (this.status === 'T') this.status = 'E';
      return [error('22012', 'division by zero')];
    } else return [rowDescription(), row(), commandComplete('SELECT 1')];
    return [commandComplete(stmt)];
  }

  private report(name: string, value: string): Buffer[] {
    const canonical = [...this.params.keys()].find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
    if (this.params.get(canonical) === value) return [];
    this.params.set(canonical, value);
    return [parameterStatus(canonical, value)];
  }
}

function describe(msg: Buffer): string {
  const type = String.fromCharCode(msg[0]!);
  switch (type) {
    case 'Q': return `Q ${decodeQuery(msg)}`;
    case 'P': { const p = decodeParse(msg)!; return `P ${p.name} ${p.query}`; }
    case 'B': return `B ${decodeBindNames(msg)!.statement}`;
    case 'D': case 'C': { const t = decodeTarget(msg)!; return `${type}${t.target} ${t.name}`; }
    default: return type;
  }
}
