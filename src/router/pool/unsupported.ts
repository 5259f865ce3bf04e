/**
 * What cannot work in transaction pooling, found in a simple Query's text or a Parse's query before it is sent:
 * anything whose effect outlives the transaction on a server connection that the next transaction may not get
 * (and that another client may get instead). The client gets ErrorResponse 0A000 naming the statement, the pool
 * mode and the fix; nothing is forwarded. PgBouncer forwards these silently, which is how sessions end up sharing
 * a LISTEN or an advisory lock; we refuse them instead.
 *
 * A small scanner, not a SQL parser: it skips comments, quoted strings, quoted identifiers and dollar-quoted bodies
 * (so a function body mentioning LISTEN does not count), splits statements at `;`, and reads words.
 */

export interface Unsupported {
  /** What was refused, as the message names it: 'LISTEN', 'pg_advisory_lock', 'PREPARE', 'CREATE TEMP TABLE'… */
  statement: string;
  sqlstate: '0A000';
  message: string;
  hint: string;
}

/** Session-level advisory lock functions (the _xact_ ones end with the transaction and are fine). */
const SESSION_LOCKS = new Set([
  'pg_advisory_lock',
  'pg_advisory_lock_shared',
  'pg_try_advisory_lock',
  'pg_try_advisory_lock_shared',
]);

/** Cheap first look: most queries contain none of these, and skip the scan. */
const SUSPECT = /listen|advisory_lock|prepare|execute|deallocate|temp|hold/i;

/** Words of each statement (upper-cased, outside quotes and comments), statements split at `;`. */
export function statementWords(sql: string): string[][] {
  const statements: string[][] = [];
  let words: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? n : eol + 1;
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(sql, i);
    } else if (c === "'") {
      // E'…' strings honour backslash escapes; a quote doubled is a quote in both kinds.
      const escapes = i > 0 && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && !isWordChar(sql[i - 2]);
      i = skipQuoted(sql, i, "'", escapes);
    } else if (c === '"') {
      i = skipQuoted(sql, i, '"', false);
    } else if (c === '$' && !isWordChar(sql[i - 1])) {
      i = skipDollar(sql, i);
    } else if (c === ';') {
      if (words.length > 0) statements.push(words);
      words = [];
      i++;
    } else if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordChar(sql[j])) j++;
      // E'…' prefix: the quote that follows belongs to the string, not a new word.
      if (!(j - i === 1 && (c === 'E' || c === 'e') && sql[j] === "'")) words.push(sql.slice(i, j).toUpperCase());
      i = j;
    } else {
      i++;
    }
  }
  if (words.length > 0) statements.push(words);
  return statements;
}

function isWordStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c > '\x7f';
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && (isWordStart(c) || (c >= '0' && c <= '9') || c === '$');
}

function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return sql.length;
}

function skipQuoted(sql: string, start: number, quote: string, escapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (escapes && c === '\\') i += 2;
    else if (c === quote && sql[i + 1] === quote) i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
  return sql.length;
}

function skipDollar(sql: string, start: number): number {
  const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start, start + 64));
  if (!m) return start + 1; // $1, a parameter
  const end = sql.indexOf(m[0], start + m[0].length);
  return end < 0 ? sql.length : end + m[0].length;
}

function refuse(statement: string, why: string, hint: string): Unsupported {
  return {
    statement,
    sqlstate: '0A000',
    message: `${statement} is not supported with pool_mode transaction: ${why}`,
    hint,
  };
}

const USE_SESSION = 'use a listener with pool_mode session or passthrough for this client';

function checkStatement(w: string[]): Unsupported | undefined {
  const first = w[0];
  if (first === 'LISTEN') {
    return refuse('LISTEN', 'notifications would reach whichever client holds the server connection next', USE_SESSION);
  }
  if (first === 'PREPARE' || first === 'EXECUTE' || (first === 'DEALLOCATE' && !isDeallocateAll(w))) {
    return refuse(
      first,
      'SQL-level prepared statements stay on one server connection, and the next transaction may run on another',
      'use protocol-level prepared statements (Parse/Bind, a driver\'s named or prepared queries), which the router follows across server connections; or ' + USE_SESSION,
    );
  }
  if (first === 'DECLARE' && hasSequence(w, 'WITH', 'HOLD')) {
    return refuse('DECLARE … WITH HOLD', 'a holdable cursor outlives its transaction on a server connection the client may not get back', 'fetch inside one transaction (a cursor WITHOUT HOLD), or ' + USE_SESSION);
  }
  if (first === 'CREATE') {
    const temp = createTemp(w);
    if (temp && !(temp === 'TABLE' && hasSequence(w, 'ON', 'COMMIT', 'DROP'))) {
      return refuse(`CREATE TEMP ${temp}`, 'a temporary object outlives the transaction on a server connection the client may not get back, and another client may find it there',
        temp === 'TABLE' ? 'add ON COMMIT DROP (the table then lives within one transaction), or ' + USE_SESSION : USE_SESSION);
    }
  }
  const lock = w.find((word) => SESSION_LOCKS.has(word.toLowerCase()));
  if (lock) {
    return refuse(lock.toLowerCase(), 'a session-level advisory lock stays on the server connection after the transaction, held for whichever client gets it next',
      `use the transaction-level ${lock.toLowerCase().replace('advisory_lock', 'advisory_xact_lock')} (released at commit), or ${USE_SESSION}`);
  }
  return undefined;
}

function isDeallocateAll(w: string[]): boolean {
  return w[1] === 'ALL' || (w[1] === 'PREPARE' && w[2] === 'ALL');
}

/** CREATE [GLOBAL|LOCAL] TEMP|TEMPORARY [UNLOGGED] TABLE|VIEW|SEQUENCE…: the object kind, when temporary. */
function createTemp(w: string[]): string | undefined {
  let i = 1;
  if (w[1] === 'OR' && w[2] === 'REPLACE') i = 3;
  if (w[i] === 'GLOBAL' || w[i] === 'LOCAL') i++;
  if (w[i] !== 'TEMP' && w[i] !== 'TEMPORARY') return undefined;
  i++;
  if (w[i] === 'RECURSIVE') i++;
  return w[i] === 'TABLE' || w[i] === 'VIEW' || w[i] === 'SEQUENCE' ? w[i] : undefined;
}

function hasSequence(w: string[], ...seq: string[]): boolean {
  for (let i = 0; i + seq.length <= w.length; i++) {
    if (seq.every((s, k) => w[i + k] === s)) return true;
  }
  return false;
}

/** The first statement in `sql` that cannot work in transaction pooling, or undefined. */
export function findUnsupported(sql: string): Unsupported | undefined {
  if (!SUSPECT.test(sql)) return undefined;
  for (const words of statementWords(sql)) {
    const found = checkStatement(words);
    if (found) return found;
  }
  return undefined;
}
