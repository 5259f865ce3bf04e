/**
 * `PATCH /config` (JSON merge-patch with Patroni's `patch_config`: `null` deletes, compare-and-swap on the key's
 * mod_revision → 409 when someone wrote in between) and `PUT /config` (replace, unconditional). pgha also refuses
 * a result that its own dynamic-config validation rejects (400 with the error), where Patroni would store it and
 * let every agent fail on it.
 */
import { tryParseDynamicConfig } from '../../config/dynamic';
import { describe } from '../../lib/errors';
import type { UnsafeHandler } from '../server';
import type { OperationDeps } from './deps';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Python's `str()` of a JSON value, as patch_config compares scalars (so `"10"` equals `10`, `true` → `True`). */
function pyStr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null) return 'None';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Patroni's `patch_config` (utils.py): patches `config` in place; true when something changed. */
export function patchConfig(config: Json, patch: Json): boolean {
  let changed = false;
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) {
      if (name in config) {
        if (config[name] !== null) changed = true;
        delete config[name];
      }
    } else if (name in config) {
      const current = config[name];
      if (isObject(value)) {
        if (isObject(current)) {
          if (patchConfig(current, value)) changed = true;
        } else {
          config[name] = value;
          changed = true;
        }
      } else if (pyStr(current) !== pyStr(value)) {
        config[name] = value;
        changed = true;
      }
    } else {
      config[name] = value;
      changed = true;
    }
  }
  return changed;
}

/** Deep equality of JSON values (Patroni's `deep_compare` for PUT). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameJson(a[k], b[k]));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  return a === b;
}

/**
 * How deep a config body may nest. Merging, validating, storing and echoing a body all recurse, so a hostile
 * body 5,000 levels deep (well inside the 64 KiB body limit) would overflow the stack: it is refused first, with
 * a 400, as Patroni refuses it (Python's json recursion limit, a bare 400). Real configs nest a few levels.
 */
export const MAX_CONFIG_DEPTH = 64;

/** Why a JSON value nests deeper than `limit`, or undefined. Iterative, so it cannot overflow itself. */
export function nestingProblem(value: unknown, limit = MAX_CONFIG_DEPTH): string | undefined {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return `the body nests deeper than ${limit} levels: a configuration is a few levels deep`;
    for (const child of Array.isArray(v) ? v : Object.values(v as Json)) stack.push([child, depth + 1]);
  }
  return undefined;
}

/** 400 with the validation error when the resulting dynamic configuration is refused. */
export function configProblem(config: Json): string | undefined {
  const result = tryParseDynamicConfig(config);
  return result.ok ? undefined : result.error.message;
}

export function patchConfigHandler(deps: OperationDeps): UnsafeHandler {
  const log = deps.logger.child({ component: 'operations', action: 'patch_config' });
  return {
    body: 'required',
    async handle(req) {
      const tooDeep = nestingProblem(req.body);
      if (tooDeep) return { code: 400, body: tooDeep };
      let kv;
      try {
        kv = await deps.store.get(deps.keys.config);
      } catch (err) {
        return { code: 503, body: `cannot read the config key: ${describe(err)}` };
      }
      let current: unknown;
      try {
        current = kv ? JSON.parse(kv.value) : undefined;
      } catch {
        current = undefined;
      }
      if (!kv || !isObject(current)) return { code: 503, body: 'Service Unavailable' };
      const data = structuredClone(current);
      if (patchConfig(data, req.body)) {
        const problem = configProblem(data);
        if (problem) return { code: 400, body: problem };
        const written = await deps.store.putIfModRevision(deps.keys.config, JSON.stringify(data), kv.modRevision)
          .catch((err: unknown) => err);
        if (written !== true) {
          if (written !== false) log.warn({ err: written }, 'writing the config key failed');
          return { code: 409, body: 'Conflict' };
        }
        log.info({ revision: kv.modRevision, patch: req.body }, 'config key patched');
      }
      deps.wakeUp?.();
      return { code: 200, body: data };
    },
  };
}

export function putConfigHandler(deps: OperationDeps): UnsafeHandler {
  const log = deps.logger.child({ component: 'operations', action: 'put_config' });
  return {
    body: 'required',
    async handle(req) {
      const problem = nestingProblem(req.body) ?? configProblem(req.body);
      if (problem) return { code: 400, body: problem };
      let current: unknown;
      try {
        const kv = await deps.store.get(deps.keys.config);
        current = kv ? JSON.parse(kv.value) : undefined;
      } catch (err) {
        // Unreadable or not JSON: the PUT replaces it whole anyway, so it is written rather than compared.
        log.warn({ err }, 'reading the config key before replacing it failed');
        current = undefined;
      }
      if (!sameJson(req.body, current)) {
        try {
          await deps.store.put(deps.keys.config, JSON.stringify(req.body));
        } catch (err) {
          log.warn({ err }, 'writing the config key failed');
          return { code: 502, body: 'Bad Gateway' };
        }
        log.info({}, 'config key replaced');
        deps.wakeUp?.();
      }
      return { code: 200, body: req.body };
    },
  };
}
