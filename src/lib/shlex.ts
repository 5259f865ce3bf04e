/**
 * Python's `shlex.split(text)` (POSIX mode, no comments), which Patroni applies to every configured command
 * (replica methods, custom bootstrap, post_bootstrap): the same YAML string must give the same argv under pgha.
 * - whitespace separates words; quotes may join parts of one word (`a"b c"d` is `ab cd`);
 * - inside single quotes nothing is special;
 * - inside double quotes a backslash escapes only `"` and `\`, otherwise it stays;
 * - outside quotes a backslash escapes any character;
 * - an unclosed quote or a trailing backslash is an error, as in Python.
 */
export function shlexSplit(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && (text[i + 1] === '"' || text[i + 1] === '\\')) word += text[++i];
      else word += c;
      continue;
    }
    if (c === '\\') {
      if (i + 1 >= text.length) throw new Error(`No escaped character in ${JSON.stringify(text)}`);
      word += text[++i];
      inWord = true;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`No closing quotation in ${JSON.stringify(text)}`);
  if (inWord) words.push(word);
  return words;
}
