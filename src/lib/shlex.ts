/**
 * Python's `shlex.split(s)` (posix mode, no comments): how Patroni turns a `callbacks`, `pre_promote` or `before_stop`
 * string into an argv, so a script path with spaces or quoted arguments means the same to pgha as to Patroni.
 * - outside quotes, whitespace separates words and a backslash takes the next character literally;
 * - single quotes keep everything literally;
 * - double quotes keep everything but `\"` and `\\`, where the backslash escapes (any other backslash stays);
 * - an unclosed quote or a trailing backslash is an error (Python: "No closing quotation", "No escaped character").
 */
export function shlexSplit(s: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) word += s[++i];
      else word += c;
    } else if (c === '\\') {
      if (i + 1 >= s.length) throw new Error('No escaped character');
      word = (word ?? '') + s[++i];
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error('No closing quotation');
  if (word !== undefined) words.push(word);
  return words;
}
