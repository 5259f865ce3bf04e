import { ConfigError } from '../lib/errors';

/** A YAML mapping as parsed: string keys, any values. */
export type YamlMap = Record<string, unknown>;

/** What the parsers share while reading one document: where values came from and the warnings to log. */
export interface ParseContext {
  /** Field path (e.g. `restapi.listen`) → the `PATRONI_*` variable that set it. */
  envOrigins: ReadonlyMap<string, string>;
  /** Things accepted but ignored or adjusted; the agent logs them once at startup. */
  warnings: string[];
}

export function newContext(envOrigins: ReadonlyMap<string, string> = new Map()): ParseContext {
  return { envOrigins, warnings: [] };
}

export function isMap(value: unknown): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function join(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

const SECRET_FIELD = /(^|\.)(password|keyfile_password|key_password|sslpassword)$/;

/**
 * How a value is shown in an error: quoted strings, type names for the rest. Secrets are never echoed, only their
 * type. A value set by an environment variable says so.
 */
export function describeValue(value: unknown, field: string, ctx?: ParseContext): string {
  const fromEnv = ctx?.envOrigins.get(field);
  const origin = fromEnv ? ` from ${fromEnv}` : '';
  if (SECRET_FIELD.test(field)) return `${kindOf(value)}${origin}`;
  if (typeof value === 'string') return `${JSON.stringify(value)}${origin}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${String(value)} (${kindOf(value)})${origin}`;
  return `${kindOf(value)}${origin}`;
}

export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return typeof value;
}

/** `got <value>, expected <what>` with the fix: the one shape of every type error. */
export function wrongValue(field: string, value: unknown, expected: string, fix: string, ctx?: ParseContext): ConfigError {
  return new ConfigError(field, `got ${describeValue(value, field, ctx)}, expected ${expected}`, fix);
}

/** A section that must be a map; `null`/absent gives `undefined` (YAML `section:` with nothing under it). */
export function optionalMap(value: unknown, field: string, ctx?: ParseContext): YamlMap | undefined {
  if (value === null || value === undefined) return undefined;
  if (!isMap(value)) throw wrongValue(field, value, 'a map of settings', `indent the settings under ${lastKey(field)}:`, ctx);
  return value;
}

export function optionalString(map: YamlMap, key: string, parent: string, ctx?: ParseContext): string | undefined {
  const value = map[key];
  const field = join(parent, key);
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') throw wrongValue(field, value, 'a string', `quote it: ${key}: "${String(value)}"`, ctx);
  return value;
}

export function requiredString(map: YamlMap, key: string, parent: string, ctx: ParseContext, example: string): string {
  const value = optionalString(map, key, parent, ctx);
  const field = join(parent, key);
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(field, value === undefined ? 'is missing' : 'is empty', `set it, e.g. ${key}: ${example}`);
  }
  return value;
}

/**
 * Passwords and user names: YAML turns `password: 123456` into a number and `password: yes` into a boolean;
 * both are meant as text. (The document reader already restores the exact source text of such scalars.)
 */
export function optionalText(map: YamlMap, key: string, parent: string, ctx?: ParseContext): string | undefined {
  const value = map[key];
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw wrongValue(join(parent, key), value, 'a string', `write it as a quoted string`, ctx);
}

const TRUE_WORDS = new Set(['true', 'on', 'yes', '1']);
const FALSE_WORDS = new Set(['false', 'off', 'no', '0']);

/** Patroni's parse_bool: booleans, and the words on/off, yes/no, true/false, 1/0 in any case. */
export function parseBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  const word = String(value).trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

export function optionalBool(map: YamlMap, key: string, parent: string, ctx?: ParseContext): boolean | undefined {
  const value = map[key];
  if (value === null || value === undefined) return undefined;
  const parsed = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? parseBool(value) : undefined;
  if (parsed === undefined) {
    throw wrongValue(join(parent, key), value, 'true or false', `write ${key}: true or ${key}: false`, ctx);
  }
  return parsed;
}

/** Whole numbers, also as digit strings ("30"), as Patroni's int() accepts them. */
export function parseWholeNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) {
    const n = Number(value.trim());
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

export function optionalWholeNumber(
  map: YamlMap,
  key: string,
  parent: string,
  unit: string,
  ctx?: ParseContext,
): number | undefined {
  const value = map[key];
  if (value === null || value === undefined) return undefined;
  const n = parseWholeNumber(value);
  if (n === undefined) {
    throw wrongValue(join(parent, key), value, `a whole number of ${unit}`, `write e.g. ${key}: 30`, ctx);
  }
  return n;
}

export function optionalStringList(map: YamlMap, key: string, parent: string, ctx?: ParseContext): string[] | undefined {
  const value = map[key];
  const field = join(parent, key);
  if (value === null || value === undefined) return undefined;
  if (!Array.isArray(value)) throw wrongValue(field, value, 'a list of strings', `write it as a YAML list, e.g. ${key}: ["..."]`, ctx);
  return value.map((item, i) => {
    if (typeof item !== 'string') {
      throw wrongValue(`${field}[${i}]`, item, 'a string', 'quote the item', ctx);
    }
    return item;
  });
}

function lastKey(field: string): string {
  const dot = field.lastIndexOf('.');
  return dot === -1 ? field : field.slice(dot + 1);
}
