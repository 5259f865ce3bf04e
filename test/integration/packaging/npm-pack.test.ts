/**
 * Acceptance: `npm pack` output installs into an empty directory and `npx pgha --help` works there.
 *
 * Packs the checkout into a temp dir, checks what the tarball holds (the compiled program, the bin, README, config
 * examples, docs; no tests, benches, TypeScript sources or source maps), installs it into an empty project with
 * `npm install --prefer-offline` (dependencies come from the local npm cache, the registry only for what is missing)
 * and runs the installed `pgha` through `npx`. Temp dirs are removed even when a step fails.
 *
 * `npm pack` runs with --ignore-scripts: `prepare` would rebuild dist/src from src/ while this test runs from dist/,
 * and a half-edited source elsewhere in the tree would fail the pack for a reason unrelated to packaging. The test
 * runs from a built tree anyway (`npm run build` precedes it), so the tarball holds exactly the current build;
 * that `prepare` is the build is asserted on package.json instead.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..', '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string; version: string; bin: Record<string, string>; scripts: Record<string, string>;
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment for npm children: without the npm_* variables of an enclosing `npm test` (lifecycle, package
 * and config values that would leak into the child's own config), but with the cache and registry it chose.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())) env[k] = v;
  }
  return { ...env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: npmEnv(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r;
}

describe('npm pack → npm install into an empty project → npx pgha', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  let packDir = '';
  let project = '';
  let tarball = '';
  let files: string[] = [];

  before(async () => {
    assert.ok(existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')), 'dist/src is not built: run `npm run build` first');
    packDir = mkdtempSync(join(tmpdir(), 'pgha-pack-'));
    dirs.push(packDir);
    project = mkdtempSync(join(tmpdir(), 'pgha-install-'));
    dirs.push(project);
    const packed = ok(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT, 60_000), 'npm pack');
    const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    assert.equal(info.length, 1);
    tarball = join(packDir, info[0]!.filename);
    files = info[0]!.files.map((f) => f.path);
  });

  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('package.json: the pgha bin, and prepare builds the program', () => {
    assert.equal(PKG.bin.pgha, 'bin/pgha.js');
    assert.match(PKG.scripts.prepare ?? '', /\btsc -p tsconfig\.build\.json\b/);
  });

  test('the tarball holds the program, bin, README, config examples and docs, and no tests or sources', () => {
    assert.ok(existsSync(tarball), `no tarball at ${tarball}`);
    for (const f of [
      'package.json', 'README.md', 'bin/pgha.js', 'dist/src/cli/main.js', 'dist/src/cli/agent-command.js',
      'dist/src/cli/router-command.js', 'config/pgha-node1.yml', 'config/router.yml', 'docs/metrics.md',
      'deploy/grafana/pgha.json',
    ]) assert.ok(files.includes(f), `tarball lacks ${f}`);
    const unwanted = files.filter((f) => /^(dist\/(test|bench)|src|test|bench|scripts|node_modules)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts') && !f.endsWith('.d.ts'));
    assert.deepEqual(unwanted, [], 'tarball holds files that are not part of the program');
  });

  test('installs into an empty directory; npx pgha --help and npx pgha version work there', async () => {
    writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'pgha-pack-smoke', version: '1.0.0', private: true }, null, 2)}\n`);
    ok(await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], project, 90_000), 'npm install <tarball>');
    assert.ok(existsSync(join(project, 'node_modules', '.bin', 'pgha')), 'node_modules/.bin/pgha was not linked');

    const help = ok(await run('npx', ['--no-install', 'pgha', '--help'], project, 30_000), 'npx pgha --help');
    assert.match(help.stdout, new RegExp(`^pgha ${PKG.version.replace(/\./g, '\\.')}: high availability for PostgreSQL`));
    for (const command of ['pgha agent -c FILE', 'pgha router -c FILE', 'pgha ctl VERB', 'pgha version']) {
      assert.ok(help.stdout.includes(command), `--help does not mention ${command}:\n${help.stdout}`);
    }

    const version = ok(await run('npx', ['--no-install', 'pgha', 'version'], project, 30_000), 'npx pgha version');
    assert.equal(version.stdout.trim(), `pgha ${PKG.version}`);

    // A command that loads its module lazily: the compiled tree and the dependencies resolve from the install.
    const router = await run('npx', ['--no-install', 'pgha', 'router', '--help'], project, 30_000);
    assert.equal(router.code, 0, `pgha router --help: ${router.stderr}`);
    assert.match(router.stdout, /pgha router/);
  });
});
