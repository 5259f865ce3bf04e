/**
 * Session parameters a client keeps across transactions in transaction pooling. PostgreSQL reports some
 * parameters to the client with ParameterStatus whenever they change (the GUC_REPORT ones): the router follows
 * those reports for each client and for each server connection, and when a client's next transaction runs on a
 * server connection whose values differ, it sends the `SET`s that make them equal first (one simple Query whose
 * replies the client never sees). RESET, RESET ALL and DISCARD ALL need nothing special: the server reports the
 * values they restore, and the client's view follows.
 *
 * What is not reported cannot be followed: on PostgreSQL 15, search_path, statement_timeout, work_mem, role… are
 * not GUC_REPORT, so a plain `SET search_path` outside a transaction stays on that server connection (use
 * `SET LOCAL` inside the transaction, `ALTER ROLE … SET`, or session pooling). docs/router.md says so.
 */

import { decodeParameterStatus } from './messages';

/**
 * The reported parameters a client may set and expects to keep. server_version, server_encoding,
 * integer_datetimes, in_hot_standby, is_superuser and session_authorization are reported too, but they describe
 * the server (or need superuser to change): they are passed on, never re-applied.
 */
export const FOLLOWED_PARAMS: readonly string[] = [
  'client_encoding',
  'DateStyle',
  'IntervalStyle',
  'TimeZone',
  'standard_conforming_strings',
  'application_name',
  'default_transaction_read_only',
];

const CANONICAL = new Map(FOLLOWED_PARAMS.map((n) => [n.toLowerCase(), n]));

/** A ParameterStatus name as the server spells it (startup options may be spelt `datestyle`). */
export function canonicalParam(name: string): string {
  return CANONICAL.get(name.toLowerCase()) ?? name;
}

export function isFollowed(name: string): boolean {
  return CANONICAL.has(name.toLowerCase());
}

/** The values one side (a client's view or a server connection) last reported, by canonical name. */
export class ReportedParams {
  readonly values = new Map<string, string>();
  /** The followed values in one string (followedKey), kept until one of them changes. */
  private key: string | undefined;

  constructor(initial: Record<string, string> = {}) {
    for (const [name, value] of Object.entries(initial)) this.set(name, value);
  }

  set(name: string, value: string): void {
    const canonical = canonicalParam(name);
    if (this.values.get(canonical) === value) return;
    this.values.set(canonical, value);
    this.key = undefined;
  }

  /**
   * The followed values as one string ('\u0001' for a value never reported; a value has no NUL): two sides with the
   * same key need no SET, so a transaction's attach compares one string instead of every parameter.
   */
  followedKey(): string {
    this.key ??= FOLLOWED_PARAMS.map((n) => this.values.get(n) ?? '\u0001').join('\0');
    return this.key;
  }

  get(name: string): string | undefined {
    return this.values.get(canonicalParam(name));
  }

  /** Records a ParameterStatus message; returns what it said (undefined when malformed). */
  observe(msg: Buffer): { name: string; value: string } | undefined {
    const p = decodeParameterStatus(msg.subarray(5));
    if (p) this.set(p.name, p.value);
    return p;
  }
}

/**
 * A client's starting view: the pool's server parameters (what the greeting reported), with the followed ones
 * the client asked for in its StartupMessage (application_name, client_encoding, DateStyle, TimeZone…) on top.
 */
export function clientParams(serverParams: Record<string, string>, startup: Record<string, string>): ReportedParams {
  const params = new ReportedParams(serverParams);
  for (const [name, value] of Object.entries(startup)) if (isFollowed(name)) params.set(name, value);
  return params;
}

/** A value as a string literal that means the same whatever the server's standard_conforming_strings. */
function literal(value: string): string {
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * The SET statements (one Query text) that give `server` the client's followed values, or undefined when they
 * already agree. Only values the client knows are applied: a parameter the client never heard of stays as is.
 */
export function setStatements(client: ReportedParams, server: ReportedParams): string | undefined {
  if (client.followedKey() === server.followedKey()) return undefined;
  const sets: string[] = [];
  for (const name of FOLLOWED_PARAMS) {
    const want = client.get(name);
    if (want === undefined || want === server.get(name)) continue;
    sets.push(`SET "${name}" TO ${literal(want)}`);
  }
  return sets.length === 0 ? undefined : sets.join('; ');
}
