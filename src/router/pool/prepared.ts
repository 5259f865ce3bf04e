/**
 * Named prepared statements in transaction pooling, as PgBouncer >= 1.21 does it: a client's statements live in
 * the router (name -> its Parse: query and parameter types), and each server connection holds the statements
 * prepared on it under server-side names, one per distinct (query, parameter types). Two clients preparing the
 * same text share one server statement; a client's next transaction can run on any server connection, which gets
 * the Parse injected before the first use that lacks it. Pure bookkeeping: the rewriting is in txn-rewriter.ts.
 */

import type { ParseMsg } from './txn-codec';

/** PgBouncer's max_prepared_statements default: enough for an application's working set, bounded per server. */
export const DEFAULT_SERVER_STATEMENTS = 200;

/** What identifies a statement on a server: its query and parameter types (the client's name does not matter). */
export function statementKey(p: { query: string; paramTypes: number[] }): string {
  return p.paramTypes.length === 0 ? p.query : `${p.query}\0${p.paramTypes.join(',')}`;
}

export interface ClientStatement {
  name: string;
  key: string;
  query: string;
  paramTypes: number[];
}

/** One client's named statements (the unnamed statement is never kept: it passes untouched). */
export class ClientStatements {
  private readonly byName = new Map<string, ClientStatement>();

  get size(): number {
    return this.byName.size;
  }

  get(name: string): ClientStatement | undefined {
    return this.byName.get(name);
  }

  add(p: ParseMsg): ClientStatement {
    const s: ClientStatement = { name: p.name, key: statementKey(p), query: p.query, paramTypes: p.paramTypes };
    this.byName.set(p.name, s);
    return s;
  }

  /** Forgets `name` only if it still is this very statement (an undo must not drop a later definition). */
  remove(s: ClientStatement): void {
    if (this.byName.get(s.name) === s) this.byName.delete(s.name);
  }

  delete(name: string): void {
    this.byName.delete(name);
  }

  clear(): void {
    this.byName.clear();
  }
}

interface ServerEntry {
  name: string;
  /** The request batch (between Syncs) that last used it: statements in use by the current batch are never evicted. */
  batch: number;
}

/**
 * The statements prepared on one server connection, least recently used first (Map order, re-inserted on use).
 * Server names are `pgha_s<n>` with n never reused on that connection, so a statement whose Close was skipped by
 * the server (after an error) can never collide with a later one.
 */
export class ServerStatements {
  private readonly byKey = new Map<string, ServerEntry>();
  private counter = 0;
  /** Bumped at every Sync sent: the current batch's statements stay. */
  batch = 0;

  constructor(readonly capacity = DEFAULT_SERVER_STATEMENTS) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The server name of `key` when prepared here (and marks it used). */
  use(key: string): string | undefined {
    const e = this.byKey.get(key);
    if (!e) return undefined;
    this.byKey.delete(key);
    e.batch = this.batch;
    this.byKey.set(key, e);
    return e.name;
  }

  /** Records `key` as prepared under a new name, returned with the names to close first (LRU, over capacity). */
  add(key: string): { name: string; evict: string[] } {
    const evict: string[] = [];
    for (const [k, e] of this.byKey) {
      if (this.byKey.size < this.capacity) break;
      if (e.batch === this.batch) continue;
      this.byKey.delete(k);
      evict.push(e.name);
    }
    const name = `pgha_s${++this.counter}`;
    this.byKey.set(key, { name, batch: this.batch });
    return { name, evict };
  }

  /** Forgets `key` if it is still prepared under `name` (its Parse failed or was skipped). */
  remove(key: string, name: string): void {
    if (this.byKey.get(key)?.name === name) this.byKey.delete(key);
  }

  /** DISCARD ALL / DEALLOCATE ALL ran on the server: nothing is prepared there any more. */
  clear(): void {
    this.byKey.clear();
  }
}
