/**
 * Python's `difflib.unified_diff(a, b)` (n=3, empty file names) over lines, as patronictl's edit-config shows it.
 * Matching is a longest common subsequence, which gives difflib's hunks for configuration-sized inputs.
 */
type Tag = 'equal' | 'replace' | 'delete' | 'insert';
type Opcode = [Tag, number, number, number, number];

function opcodes(a: readonly string[], b: readonly string[]): Opcode[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: LCS length of a[i:] and b[j:]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const codes: Opcode[] = [];
  const push = (tag: Tag, i1: number, i2: number, j1: number, j2: number) => {
    const last = codes[codes.length - 1];
    if (last && last[0] === tag) {
      last[2] = i2;
      last[4] = j2;
    } else if (last && tag !== 'equal' && last[0] !== 'equal') {
      codes[codes.length - 1] = ['replace', last[1], i2, last[3], j2];
    } else {
      codes.push([tag, i1, i2, j1, j2]);
    }
  };
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      push('equal', i, i + 1, j, j + 1);
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      // difflib reports deletions before insertions inside a replace; order within a run does not matter here
      push('insert', i, i, j, j + 1);
      j++;
    } else {
      push('delete', i, i + 1, j, j);
      i++;
    }
  }
  return codes;
}

function groupedOpcodes(codesIn: Opcode[], n = 3): Opcode[][] {
  const codes: Opcode[] = codesIn.length ? codesIn.map((c) => [...c] as Opcode) : [['equal', 0, 1, 0, 1]];
  const first = codes[0]!;
  if (first[0] === 'equal') codes[0] = ['equal', Math.max(first[1], first[2] - n), first[2], Math.max(first[3], first[4] - n), first[4]];
  const last = codes[codes.length - 1]!;
  if (last[0] === 'equal') codes[codes.length - 1] = ['equal', last[1], Math.min(last[2], last[1] + n), last[3], Math.min(last[4], last[3] + n)];
  const groups: Opcode[][] = [];
  let group: Opcode[] = [];
  for (const code of codes) {
    let [tag, i1, i2, j1, j2] = code;
    if (tag === 'equal' && i2 - i1 > 2 * n) {
      group.push([tag, i1, Math.min(i2, i1 + n), j1, Math.min(j2, j1 + n)]);
      groups.push(group);
      group = [];
      i1 = Math.max(i1, i2 - n);
      j1 = Math.max(j1, j2 - n);
    }
    group.push([tag, i1, i2, j1, j2]);
  }
  if (group.length && !(group.length === 1 && group[0]![0] === 'equal')) groups.push(group);
  return groups;
}

function range(start: number, stop: number): string {
  let beginning = start + 1;
  const length = stop - start;
  if (length === 1) return String(beginning);
  if (!length) beginning -= 1;
  return `${beginning},${length}`;
}

/** The diff lines (without newlines), as patronictl prints them on a non-terminal. Empty when equal. */
export function unifiedDiff(before: string, after: string): string[] {
  const lines = (text: string) => text.replace(/\n+$/, '').split('\n');
  const a = lines(before);
  const b = lines(after);
  const out: string[] = [];
  for (const group of groupedOpcodes(opcodes(a, b))) {
    if (!out.length) out.push('--- ', '+++ ');
    const f = group[0]!;
    const l = group[group.length - 1]!;
    out.push(`@@ -${range(f[1], l[2])} +${range(f[3], l[4])} @@`);
    for (const [tag, i1, i2, j1, j2] of group) {
      if (tag === 'equal') {
        for (const line of a.slice(i1, i2)) out.push(` ${line}`);
        continue;
      }
      if (tag === 'replace' || tag === 'delete') for (const line of a.slice(i1, i2)) out.push(`-${line}`);
      if (tag === 'replace' || tag === 'insert') for (const line of b.slice(j1, j2)) out.push(`+${line}`);
    }
  }
  return out;
}

/** Colours for a terminal: red removals, green additions, cyan hunk headers. */
export function colourDiff(lines: readonly string[]): string[] {
  return lines.map((l) => {
    if (l.startsWith('@@')) return `\x1b[36m${l}\x1b[0m`;
    if (l.startsWith('+') && !l.startsWith('+++ ')) return `\x1b[32m${l}\x1b[0m`;
    if (l.startsWith('-') && !l.startsWith('--- ')) return `\x1b[31m${l}\x1b[0m`;
    return l;
  });
}
