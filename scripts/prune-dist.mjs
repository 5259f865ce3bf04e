// Removes compiled files under dist/src whose TypeScript source no longer exists (a renamed or deleted module),
// so `npm pack` never ships orphans. Runs after the build in `prepare`. Deletes only .js/.js.map/.d.ts files
// that have no src/**/*.ts counterpart; everything else is left alone.
import { readdirSync, statSync, existsSync, rmSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'src');
const removed = [];
const walk = (dir) => {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      walk(p);
      continue;
    }
    const m = /^(.*)\.(js|js\.map|d\.ts)$/.exec(name);
    if (!m) continue;
    const source = join(root, 'src', relative(out, dir), `${m[1]}.ts`);
    if (!existsSync(source)) {
      rmSync(p);
      removed.push(relative(root, p));
    }
  }
};
walk(out);
if (removed.length) console.log(`prune-dist: removed ${removed.length} orphan file(s): ${removed.join(', ')}`);
