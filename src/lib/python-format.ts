/**
 * Python-compatible formatting: Patroni's REST bodies are Python `json.dumps`, and patronictl prints `str(value)`.
 * Pure, shared by the REST API (api/) and patronictl (ctl/).
 */

/** Python's str() of a JSON value. */
export function pythonStr(value: unknown): string {
  return typeof value === 'string' ? value : pythonRepr(value);
}

function pythonRepr(value: unknown): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'number') return pythonNumber(value, 'inf', 'nan');
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`;
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pythonRepr(k)}: ${pythonRepr(v)}`);
    return `{${items.join(', ')}}`;
  }
  return String(value);
}

function pythonNumber(n: number, infinity: string, nan: string): string {
  if (Number.isNaN(n)) return nan;
  if (!Number.isFinite(n)) return n > 0 ? infinity : `-${infinity}`;
  return String(n);
}

/**
 * Python's `json.dumps(value)` with default settings: `, ` and `: ` separators, non-ASCII escaped as \uXXXX.
 * Patroni's REST API answers in this form, and scripts sometimes grep it (`"role": "master"`).
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return asciiJsonString(value);
  if (typeof value === 'number') return pythonNumber(value, 'Infinity', 'NaN');
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${asciiJsonString(k)}: ${pythonJson(v)}`);
    return `{${items.join(', ')}}`;
  }
  return 'null';
}

function asciiJsonString(text: string): string {
  return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
