/**
 * PgBouncer's auth_file ("userlist.txt") format: one user a line, `"user" "password-or-secret"`, each field in
 * double quotes with `""` standing for a quote inside it; anything after the second field is ignored (PgBouncer
 * does the same); blank lines and lines starting with `;` or `#` are comments.
 *
 * Errors name the source and the line number and what is wrong, never the secret's text: a userlist is read at
 * start and on reload, and an error goes to the log and the operator's terminal.
 */
import { PghaError } from '../../lib/errors';
import { parseSecret, type Secret } from './secrets';

export function parseUserlist(text: string, source: string): Map<string, Secret> {
  const users = new Map<string, Secret>();
  const lineOf = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const number = i + 1;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) continue;
    const fail = (what: string): never => {
      throw new PghaError('invalid_userlist', `${source} line ${number}: ${what} (expected "user" "password-or-secret")`);
    };
    const user = quoted(trimmed, 0);
    if (!user) fail('expected a user name in double quotes');
    if (user!.value === '') fail('empty user name');
    let pos = user!.end;
    if (pos < trimmed.length && !/\s/.test(trimmed[pos]!)) fail(`no space after the user name "${user!.value}"`);
    while (pos < trimmed.length && /\s/.test(trimmed[pos]!)) pos++;
    const secret = quoted(trimmed, pos);
    if (!secret) fail(`expected the password or secret of "${user!.value}" in double quotes`);
    const name = user!.value;
    const previous = lineOf.get(name);
    if (previous !== undefined) fail(`user "${name}" is already listed on line ${previous}`);
    try {
      users.set(name, parseSecret(secret!.value));
    } catch (err) {
      fail(`user "${name}": ${(err as Error).message}`);
    }
    lineOf.set(name, number);
  }
  return users;
}

/** A double-quoted field at `start` ("" is a quote): its value and the index after the closing quote. */
function quoted(line: string, start: number): { value: string; end: number } | undefined {
  if (line[start] !== '"') return undefined;
  let value = '';
  let pos = start + 1;
  for (;;) {
    const close = line.indexOf('"', pos);
    if (close < 0) return undefined;
    value += line.slice(pos, close);
    if (line[close + 1] === '"') {
      value += '"';
      pos = close + 2;
      continue;
    }
    return { value, end: close + 1 };
  }
}
