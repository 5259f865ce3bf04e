/**
 * The router's own value shapes on the shared parse helpers (values.ts): its unknown-key rule, sections that may be
 * absent, trimmed non-empty strings, sizes, whole numbers in a range and listen addresses. Every error names the
 * field, the value seen and the fix.
 */
import { ConfigError } from '../lib/errors';
import { parseByteSize } from '../model/lsn';
import { describeValue, join, optionalMap, parseWholeNumber, type YamlMap } from './values';

/** Unknown keys are refused: a misspelt router setting would otherwise silently keep its default. */
export function checkKeys(map: YamlMap, known: readonly string[], field: string): void {
  for (const key of Object.keys(map)) {
    if (!known.includes(key)) {
      throw new ConfigError(join(field, key), 'is not a router setting', `remove it or use one of: ${known.join(', ')}`);
    }
  }
}

/** A section of settings; absent (or empty in YAML) gives `{}`, the defaults. */
export function section(value: unknown, field: string): YamlMap {
  return optionalMap(value, field) ?? {};
}

/** A string with its surrounding blanks removed; an empty one is refused (it would name nothing). */
export function str(map: YamlMap, key: string, parent: string): string | undefined {
  const v = map[key];
  const field = join(parent, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(field, `got ${describeValue(v, field)}, expected a non-empty string`, `quote it: ${key}: "..."`);
  return v.trim();
}

/** Bytes as a number, or a string with Patroni's units (`512kB`, `16MB`, `1GB`). */
export function size(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const n = typeof value === 'string' ? parseByteSize(value) : undefined;
  if (n === undefined) throw new ConfigError(field, `got ${describeValue(value, field)}, expected a size`, 'write bytes as a number (1048576) or with a unit: 512kB, 16MB, 1GB');
  return n;
}

/** A whole number (also as digits in a string) from `min` to `max`; undefined when absent. */
export function wholeNumberIn(value: unknown, min: number, max: number): number | 'bad' | undefined {
  if (value === undefined || value === null) return undefined;
  const n = parseWholeNumber(value);
  return n === undefined || n < min || n > max ? 'bad' : n;
}

export function wholeNumber(map: YamlMap, key: string, parent: string, fallback: number, min: number, max: number): number {
  const field = join(parent, key);
  const n = wholeNumberIn(map[key], min, max);
  if (n === 'bad') throw new ConfigError(field, `got ${describeValue(map[key], field)}, expected a whole number from ${min} to ${max}`, `write e.g. ${key}: ${fallback}`);
  return n ?? fallback;
}

/** `host:port`, `[v6]:port` or a bare port; port 0 asks the kernel for a free one (tests). */
export function listenAddress(value: unknown, field: string, example: string): { host: string; port: number } {
  if (typeof value === 'number') return { host: '0.0.0.0', port: checkPort(value, field) };
  const m = typeof value === 'string' ? /^\s*(?:\[([^\]]*)\]|([^:]*|.*)):(\d+)\s*$/.exec(value) : null;
  if (!m) throw new ConfigError(field, `got ${describeValue(value, field)}, expected "host:port"`, `write it as host:port, e.g. ${example}`);
  const host = (m[1] ?? m[2] ?? '').trim();
  return { host: host === '' || host === '*' ? '0.0.0.0' : host, port: checkPort(Number(m[3]), field) };
}

function checkPort(n: number, field: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(field, `port ${n} is not from 0 to 65535`, 'use a free port, e.g. 5000');
  return n;
}
