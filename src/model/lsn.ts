/**
 * WAL positions. Patroni stores LSNs as absolute byte positions (integers); PostgreSQL prints them
 * as `X/Y` hex. Numbers are exact up to 2^53 bytes (8 PiB of WAL), which is what Patroni's JSON holds too.
 */
export type Lsn = number;

export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(text)} (expected X/Y in hex)`);
  return parseInt(m[1]!, 16) * 0x1_0000_0000 + parseInt(m[2]!, 16);
}

export function formatLsn(lsn: Lsn): string {
  const hi = Math.floor(lsn / 0x1_0000_0000);
  const lo = lsn - hi * 0x1_0000_0000;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** Parses Patroni's `?lag=` form: plain bytes or a kB/MB/GB/TB suffix (powers of 1024, case-sensitive). */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+)\s*(B|kB|MB|GB|TB)?\s*$/.exec(text);
  if (!m) return undefined;
  const mult = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2] ?? 'B']!;
  return Number(m[1]) * mult;
}
