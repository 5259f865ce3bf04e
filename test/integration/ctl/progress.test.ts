/**
 * Progress on long work, end to end (real etcd, agents, PostgreSQL 15): `pgha ctl reinit --wait` on a replica holding
 * ~150 MB prints basebackup progress lines with a percent and a rate, the agent logs `basebackup progress` with
 * rateKbPerSec, and `pgha ctl list -W` on a terminal (a pty from script(1)) redraws in place.
 *
 * The replica clones with `--max-rate=16M`, so the copy takes several seconds whatever the machine: long enough for
 * ctl's 2 s polls to see it under way, and a known rate to check the measured one against.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { startTestCluster, sql, type TestCluster } from '../../support/cluster';
import { waitFor } from '../../support/wait';
import { runCommand } from '../../support/run-file';

const PGHA = join(__dirname, '..', '..', '..', '..', 'bin', 'pgha.js');
const MAX_RATE_KB = 16 * 1024;

interface LogLine {
  msg: string;
  percent?: number;
  doneKb?: number;
  totalKb?: number;
  rateKbPerSec?: number;
  elapsedMs?: number;
}

function logLines(file: string, fromOffset: number): LogLine[] {
  return readFileSync(file).subarray(fromOffset).toString('utf8').split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as LogLine];
    } catch {
      return [];
    }
  });
}

describe('progress of long work (reinit, list -W)', { timeout: 900_000 }, () => {
  let c: TestCluster;
  let cfg = '';
  let replica = 0;

  before(async () => {
    c = await startTestCluster({ nodes: 2, dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 } });
    cfg = join(c.dir, 'patronictl.yaml');
    writeFileSync(cfg, `scope: pgcluster\netcd3:\n  hosts: ${c.etcd.endpoint}\n`);
    const view = await c.waitHealthy(180_000);
    replica = 1 - c.leaderIndex(view);
    // The replica's agent, restarted with a throttled pg_basebackup.
    await c.stopAgent(replica);
    const yml = c.nodes[replica]!.configFile;
    writeFileSync(yml, readFileSync(yml, 'utf8').replace(/^postgresql:\n/m, `postgresql:\n  basebackup:\n  - max-rate: ${MAX_RATE_KB}k\n`));
    c.startAgent(replica);
    const leaderPort = c.nodes[1 - replica]!.pgPort;
    await sql(leaderPort, "CREATE TABLE big AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 500000) g");
    await c.waitHealthy(180_000);
  });
  after(async () => {
    if (c) await c.close();
  });

  it('reinit --wait prints the copy under way with percent and rate; the agent logs basebackup progress with its rate', async (t) => {
    const name = c.nodes[replica]!.name;
    const logFile = c.nodes[replica]!.logFile;
    const offset = readFileSync(logFile).length;
    const r = await runCommand(process.execPath, [PGHA, 'ctl', '-c', cfg, 'reinit', 'pgcluster', name, '--force', '--wait'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    const lines = r.out.split('\n');
    const progress = lines.filter((l) => l.startsWith(`${name}: reinit`));
    const copying = progress.filter((l) => new RegExp(`^${name}: reinit, basebackup \\d+% \\([\\d.]+ [kMGT]B of [\\d.]+ [kMGT]B, [\\d.]+ [kMGT]B/s`).test(l));
    assert.ok(copying.length >= 1, `a copy line with percent and rate in:\n${r.out}`);
    assert.ok(lines.indexOf(progress[0]!) > lines.indexOf(`Waiting for reinitialize to complete on: ${name}`));
    assert.equal(lines.at(-2), `Reinitialize is completed on: ${name}`);
    assert.equal(new Set(progress).size, progress.length, 'not a terminal: no line printed twice');

    const logged = logLines(logFile, offset).filter((l) => l.msg === 'basebackup progress');
    assert.ok(logged.length >= 2, `basebackup progress lines: ${JSON.stringify(logged)}`);
    for (const l of logged) {
      for (const field of ['percent', 'doneKb', 'totalKb', 'rateKbPerSec', 'elapsedMs'] as const) assert.equal(typeof l[field], 'number', `${field} in ${JSON.stringify(l)}`);
    }
    const last = logged.at(-1)!;
    assert.equal(last.percent, 100);
    assert.ok(last.totalKb! > 100 * 1024, `a clone of more than 100 MB: ${JSON.stringify(last)}`);
    assert.ok(last.rateKbPerSec! > 0 && last.rateKbPerSec! < MAX_RATE_KB * 1.5, `the rate follows --max-rate: ${JSON.stringify(last)}`);
    assert.ok(last.elapsedMs! >= ((last.totalKb! / MAX_RATE_KB) * 1000) / 2, `throttled, so it took a while: ${JSON.stringify(last)}`);
    t.diagnostic(`ctl output:\n${r.out}`);
    t.diagnostic(`log:\n${logged.map((l) => JSON.stringify(l)).join('\n')}`);
    await c.waitHealthy(180_000);
  });

  it('reinit --wait on a terminal rewrites one progress line in place, wiped before the last line', async (t) => {
    const name = c.nodes[replica]!.name;
    const command = `${process.execPath} ${PGHA} ctl -c ${cfg} reinit pgcluster ${name} --force --wait`;
    const r = await runCommand('script', ['-qfec', command, '/dev/null'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${r.out}${r.err}`);
    const rewrites = r.out.match(new RegExp(`\r${name}: reinit, basebackup \\d+% \\([^\r\n]+\\), \\d+ s elapsed\x1b\\[K`, 'g')) ?? [];
    assert.ok(rewrites.length >= 1, JSON.stringify(r.out.slice(-1500)));
    assert.match(r.out, new RegExp(`\r\x1b\\[KReinitialize is completed on: ${name}\r?\n$`), 'the progress line is wiped, the end written over it');
    t.diagnostic(`terminal output: ${JSON.stringify(r.out.slice(r.out.indexOf('Waiting')))}`);
    await c.waitHealthy(180_000);
  });

  it('list -W on a terminal clears once, then redraws in place', async () => {
    // script(1) gives ctl a pty for stdout; `-w 0.3` refreshes fast.
    const command = `${process.execPath} ${PGHA} ctl -c ${cfg} list -w 0.3`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('four frames', () => (out.match(/\+ Cluster: pgcluster/g)?.length ?? 0) >= 4, { timeoutMs: 30_000 });
    } finally {
      child.kill('SIGTERM');
    }
    const frames = out.split('\x1b[H').slice(1);
    assert.ok(frames[0]!.startsWith('\x1b[2J+ Cluster: pgcluster'), JSON.stringify(out.slice(0, 200)));
    for (const f of frames.slice(1, 3)) {
      assert.ok(f.startsWith('+ Cluster: pgcluster'), JSON.stringify(f.slice(0, 80)));
      assert.ok(!f.includes('\x1b[2J'), 'no full clear after the first frame');
      assert.match(f, /\x1b\[K\r?\n\x1b\[J$/);
    }
  });
});
