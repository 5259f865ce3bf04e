import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import YAML, { isScalar, type Document } from 'yaml';
import { ConfigError } from '../lib/errors';
import { type YamlMap, isMap } from './values';

/** Keys whose values are text even when YAML reads them as a number or boolean (`password: 0123`). */
const TEXT_KEYS = new Set(['password', 'username']);

/**
 * Parses one YAML document the way Patroni (PyYAML) does: YAML 1.1, so `on`/`off`/`yes`/`no` are booleans.
 * Two differences, both to avoid silent surprises: a key repeated in one map is an error (PyYAML keeps the last
 * one), and `password:`/`username:` values keep their exact source text (`0123` stays "0123", not 83).
 */
export function parseYamlText(text: string, source: string): unknown {
  const doc = YAML.parseDocument(text, { version: '1.1', prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new ConfigError(source, `is not valid YAML: ${first?.message.split('\n')[0] ?? 'parse error'}`, 'fix the YAML syntax at that line');
  }
  keepTextOfCredentials(doc);
  return doc.toJS({ maxAliasCount: 1000 }) as unknown;
}

function keepTextOfCredentials(doc: Document): void {
  YAML.visit(doc, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || !isScalar(pair.value)) return;
      const key = pair.key.value;
      const scalar = pair.value;
      if (typeof key === 'string' && TEXT_KEYS.has(key) && typeof scalar.value !== 'string' && scalar.value !== null) {
        scalar.value = typeof scalar.source === 'string' ? scalar.source : String(scalar.value);
      }
    },
  });
}

/**
 * Patroni's patch_config: merges `patch` into `target` recursively. A `null` in the patch removes the key; maps
 * merge; anything else replaces.
 */
export function patchConfig(target: YamlMap, patch: YamlMap): YamlMap {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || value === undefined) {
      delete target[key];
    } else if (isMap(value) && isMap(target[key])) {
      patchConfig(target[key] as YamlMap, value);
    } else {
      target[key] = value;
    }
  }
  return target;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'check the file and its permissions');
  }
}

/** The YAML files of a configuration directory, in the order Patroni merges them (sorted by name). */
export function configFilesOf(directory: string): string[] {
  return readdirSync(directory)
    .filter((f) => (f.endsWith('.yml') || f.endsWith('.yaml')) && statSync(joinPath(directory, f)).isFile())
    .sort()
    .map((f) => joinPath(directory, f));
}

/**
 * Reads a config file, or a directory of YAML files merged in name order (as Patroni does). A missing path is an
 * error here, where Patroni would silently fall back to the environment.
 */
export function readConfigPath(path: string): YamlMap {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (err) {
    throw new ConfigError(path, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'check the -c/--config path');
  }
  const files = isDirectory ? configFilesOf(path) : [path];
  if (files.length === 0) {
    throw new ConfigError(path, 'is a directory with no .yml or .yaml files', 'put the configuration in <dir>/*.yml or pass the file itself');
  }
  const merged: YamlMap = {};
  for (const file of files) {
    const doc = parseYamlText(readText(file), file);
    if (doc === null || doc === undefined) continue;
    if (!isMap(doc)) {
      throw new ConfigError(file, 'does not hold a YAML map at the top', 'start the file with settings such as scope: pgcluster');
    }
    patchConfig(merged, doc);
  }
  return merged;
}
