/**
 * Every field of the shipped agent and router configurations replaced, one at a time, by values of every wrong
 * shape (null, numbers, negative, huge, strings, lists, maps, booleans): the loader either accepts the value
 * (Patroni is lenient in places) or refuses it with a ConfigError that names a field and says how to fix it.
 * Never a TypeError, never a message without a field or a fix.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../../../src/lib/errors';
import { loadRouterConfig } from '../../../src/config/router';
import { parse } from './helpers';

type Json = Record<string, unknown>;
const CONFIG_DIR = join(__dirname, '..', '..', '..', '..', 'config');
const readYaml = (file: string): Json => YAML.parse(readFileSync(join(CONFIG_DIR, file), 'utf8'), { version: '1.1' }) as Json;

const GARBAGE: readonly unknown[] = [null, 0, -1, 1e300, 3.5, '', 'garbage', '-5s', true, [], ['x', 1], {}, { nested: { deep: [] } }];

/** Every path to a value in the document (maps and lists are both entered), the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push([...prefix, i], ...paths(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...paths(v, [...prefix, k]));
  return out;
}

function withValue(doc: Json, path: (string | number)[], value: unknown): Json {
  const copy = structuredClone(doc);
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
  return copy;
}

interface Finding {
  path: string;
  value: string;
  problem: string;
}

function sweep(doc: Json, load: (d: Json) => unknown): { tried: number; refused: number; findings: Finding[] } {
  const findings: Finding[] = [];
  let tried = 0;
  let refused = 0;
  for (const path of paths(doc)) {
    for (const value of GARBAGE) {
      tried++;
      const where = { path: path.join('.'), value: JSON.stringify(value) };
      try {
        load(withValue(doc, path, value));
      } catch (err) {
        refused++;
        if (!(err instanceof ConfigError)) {
          findings.push({ ...where, problem: `not a ConfigError: ${String((err as Error).stack ?? err).split('\n').slice(0, 3).join(' | ')}` });
          continue;
        }
        if (!err.field) findings.push({ ...where, problem: `no field: ${err.message}` });
        if (!err.fix || err.fix.trim().length < 3) findings.push({ ...where, problem: `no fix: ${err.message}` });
      }
    }
  }
  return { tried, refused, findings };
}

describe('every field of the shipped configurations, given every wrong shape', () => {
  for (const file of ['pgha-node1.yml', 'pgha-node2.yml']) {
    test(`agent ${file}: refused with the field and the fix, or accepted; never a crash`, () => {
      const doc = readYaml(file);
      parse(doc); // the file as shipped loads
      const { tried, refused, findings } = sweep(doc, (d) => parse(d));
      console.log(`${file}: ${tried} edits, ${refused} refused with a field and a fix`);
      assert.ok(refused > tried / 3, `only ${refused} of ${tried} garbage edits refused`);
      assert.deepEqual(findings, [], `${findings.length} of ${tried} edits (${refused} refused) break the rule`);
    });
  }

  test('router router.yml: refused with the field and the fix, or accepted; never a crash', () => {
    const doc = readYaml('router.yml');
    loadRouterConfig(doc, 'router.yml');
    const { tried, refused, findings } = sweep(doc, (d) => loadRouterConfig(d, 'router.yml'));
    console.log(`router.yml: ${tried} edits, ${refused} refused with a field and a fix`);
    assert.ok(refused > tried / 3, `only ${refused} of ${tried} garbage edits refused`);
    assert.deepEqual(findings, [], `${findings.length} of ${tried} edits (${refused} refused) break the rule`);
  });

  test('a whole document of the wrong shape names the document', () => {
    for (const doc of [null, 5, 'text', [], [1, 2]]) {
      for (const load of [(d: unknown) => parse(d), (d: unknown) => loadRouterConfig(d, 'router.yml')]) {
        let caught: unknown;
        try {
          load(doc);
        } catch (err) {
          caught = err;
        }
        assert.ok(caught instanceof ConfigError, `${JSON.stringify(doc)}: ${String(caught)}`);
        assert.ok(caught.fix, `${JSON.stringify(doc)}: no fix in ${caught.message}`);
      }
    }
  });

  test('router: a duration longer than a timer can wait is refused, not clamped to 1 ms by node', () => {
    for (const [key, value] of [['startup_timeout', 1e300], ['connect_timeout', '999999h'], ['drain_timeout', 2 ** 31]] as const) {
      const doc = { ...readYaml('router.yml'), [key]: value };
      assert.throws(
        () => loadRouterConfig(doc, 'router.yml'),
        (err: unknown) => err instanceof ConfigError && err.field === key && /longer than the longest timer \(24 days\)/.test(err.message) && /30s/.test(err.fix ?? ''),
      );
    }
    const listeners = (readYaml('router.yml').listeners as Json[]).map((l, i) => (i === 0 ? { ...l, hold_timeout: '600000h' } : l));
    assert.throws(() => loadRouterConfig({ ...readYaml('router.yml'), listeners }, 'router.yml'), /listeners\[0\]\.hold_timeout|hold_timeout.*longer than the longest timer/);
  });

  test('router: an etcd endpoint with no host is refused', () => {
    for (const hosts of ['', ':2379', ['127.0.0.1:2379', ''], 'h1:2379,,h2:2379']) {
      const doc = { ...readYaml('router.yml'), etcd: { hosts } };
      assert.throws(
        () => loadRouterConfig(doc, 'router.yml'),
        (err: unknown) => err instanceof ConfigError && /^etcd\.hosts\[\d\]$/.test(err.field) && /names no host/.test(err.message) && !!err.fix,
        JSON.stringify(hosts),
      );
    }
  });
});
