/**
 * `pgha ctl edit-config` and `show-config` (reference §8.2): the `config` key shown as YAML, changed with
 * `--set k.path=v` / `--pg guc=v` (values are YAML; `null` or nothing deletes), `--apply FILE|-` (a YAML patch),
 * `--replace FILE|-`, or in `$EDITOR` when on a terminal; the unified diff is shown and the change is written
 * directly to etcd with a compare-and-swap on the key's revision, as patronictl does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import { patchConfig } from '../config/document';
import { tryParseDynamicConfig } from '../config/dynamic';
import { isMap, type YamlMap } from '../config/values';
import { formatYaml } from './history';
import { colourDiff, unifiedDiff } from './diff';
import { CtlError, readExistingView, type CtlSession } from './session';

export function loadYaml(text: string, source: string): unknown {
  const doc = YAML.parseDocument(text, { version: '1.1' });
  if (doc.errors.length) throw new CtlError(`${source}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  return doc.toJS() as unknown;
}

/**
 * patronictl's apply_config_changes: each `key.path=value` sets a dotted path (below `postgresql.parameters` the
 * rest of the path is one GUC name, dots included); a null value deletes, and maps left empty are removed.
 */
export function applyConfigChanges(data: YamlMap, pairs: readonly string[]): YamlMap {
  const changed = structuredClone(data);
  const setPath = (config: YamlMap, path: string[], value: unknown, prefix: string[]): void => {
    if (prefix.length === 2 && prefix[0] === 'postgresql' && prefix[1] === 'parameters') path = [path.join('.')];
    const key = path[0]!;
    if (path.length === 1) {
      if (value === null || value === undefined) delete config[key];
      else config[key] = value;
      return;
    }
    if (!isMap(config[key])) config[key] = {};
    const child = config[key] as YamlMap;
    setPath(child, path.slice(1), value, [...prefix, key]);
    if (Object.keys(child).length === 0) delete config[key];
  };
  for (const pair of pairs) {
    if (!pair || !pair.includes('=')) throw new CtlError(`Invalid parameter setting ${pair}`);
    const i = pair.indexOf('=');
    const path = pair.slice(0, i).trim().split('.');
    setPath(changed, path, loadYaml(pair.slice(i + 1), `value of ${pair.slice(0, i)}`), []);
  }
  return changed;
}

/** `--pg guc=value` is `--set postgresql.parameters.guc=value`. */
export function pgPairs(pairs: readonly string[]): string[] {
  return pairs.map((p) => `postgresql.parameters.${p.trimStart()}`);
}

/** patronictl's apply_yaml_file: the YAML is a patch over `data` (null deletes). */
export function applyYamlPatch(data: YamlMap, text: string, source: string): YamlMap {
  const patch = loadYaml(text, source);
  if (!isMap(patch)) throw new CtlError(`${source}: expected a YAML map of settings`);
  return patchConfig(structuredClone(data), patch);
}

export interface EditConfigOptions {
  quiet: boolean;
  set: string[];
  pg: string[];
  apply?: string;
  replace?: string;
  force: boolean;
}

export async function showConfig(s: CtlSession): Promise<number> {
  const view = await readExistingView(s);
  s.io.out(formatYaml(view.config?.value ?? {}));
  return 0;
}

export async function editConfig(s: CtlSession, o: EditConfigOptions): Promise<number> {
  const view = await readExistingView(s);
  const current: YamlMap = view.config?.value ?? {};
  const modRevision = view.config?.modRevision ?? 0;
  const before = formatYaml(current);
  const readSource = async (file: string): Promise<string> => {
    if (file === '-') return s.io.readStdin();
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new CtlError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  let after: string | undefined;
  let changed = current;
  if (o.replace !== undefined) {
    changed = applyYamlPatch({}, await readSource(o.replace), o.replace === '-' ? 'stdin' : o.replace);
    after = formatYaml(changed);
  }
  if (o.apply !== undefined) {
    changed = applyYamlPatch(changed, await readSource(o.apply), o.apply === '-' ? 'stdin' : o.apply);
    after = formatYaml(changed);
  }
  if (o.set.length || o.pg.length) {
    changed = applyConfigChanges(changed, [...o.set, ...pgPairs(o.pg)]);
    after = formatYaml(changed);
  }
  if (after === undefined) {
    ({ after, changed } = editInEditor(s, before));
  }
  if (isDeepStrictEqual(current, changed)) {
    if (!o.quiet) s.io.out('Not changed');
    return 0;
  }
  const checked = tryParseDynamicConfig(changed, 'config');
  if (!checked.ok) throw new CtlError(`the new configuration is not valid, nothing was changed: ${checked.error.message}`);
  if (!o.quiet) {
    const lines = unifiedDiff(before, after);
    for (const line of s.io.stdoutIsTty ? colourDiff(lines) : lines) s.io.out(line);
  }
  if ((o.apply === '-' || o.replace === '-') && !o.force) {
    s.io.out('Use --force option to apply changes');
    return 0;
  }
  if (!o.force && !(await s.io.prompter.confirm('Apply these changes?'))) return 0;
  if (!(await s.store.putIfModRevision(s.keys.config, JSON.stringify(changed), modRevision))) {
    throw new CtlError('Config modification aborted due to concurrent changes');
  }
  s.io.out('Configuration changed');
  return 0;
}

/** Opens the YAML in `$EDITOR` (a terminal is needed) and reads it back. */
function editInEditor(s: CtlSession, before: string): { after: string; changed: YamlMap } {
  if (!s.io.prompter.interactive) {
    throw new CtlError('edit-config without --set, --pg, --apply or --replace opens $EDITOR, which needs a terminal (stdin is not one)');
  }
  if (!s.io.editor) throw new CtlError('EDITOR environment variable is not set. editor or vi are not available');
  const dir = mkdtempSync(join(tmpdir(), 'pgha-ctl-'));
  const file = join(dir, `${s.scope}-config-.yaml`);
  try {
    writeFileSync(file, before, { mode: 0o600 });
    // through the shell, so EDITOR may carry arguments ("code -w")
    const r = spawnSync('/bin/sh', ['-c', `${s.io.editor} "$1"`, 'sh', file], { stdio: 'inherit' });
    if (r.error) throw new CtlError(`cannot run the editor ${s.io.editor}: ${r.error.message}`);
    if (r.status !== 0) throw new CtlError(`Editor exited with return code ${r.status ?? r.signal ?? 'unknown'}`);
    const after = readFileSync(file, 'utf8');
    const parsed = loadYaml(after, 'the edited configuration');
    if (parsed !== null && parsed !== undefined && !isMap(parsed)) throw new CtlError('the edited configuration is not a YAML map');
    return { after, changed: parsed ?? {} };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
