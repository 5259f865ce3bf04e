/**
 * One pgbench run: TPS and transaction count from its summary, p50/p99 latency from its per-transaction log
 * (`-l`; a sample of the transactions with `--sampling-rate`, as writing every line costs pgbench CPU on a
 * machine it shares with the proxy and PostgreSQL).
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const PGBENCH_PASSWORD = 'test%123';

export interface PgbenchRun {
  port: number;
  clients: number;
  /** Workload flags: [] (TPC-B-like), ['-S'], ['-S', '-C']. */
  args: string[];
  protocol: 'simple' | 'prepared';
  durationSec: number;
  /** Directory for the per-transaction logs (removed after parsing). */
  logDir: string;
  /** Fraction of transactions logged (pgbench --sampling-rate). */
  samplingRate: number;
}

export interface PgbenchResult {
  tps: number;
  transactions: number;
  latencyAvgMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Transactions in the log the percentiles come from. */
  logged: number;
  /** Clients pgbench aborted on an error (e.g. a prepared statement missing on a transaction pooler's server connection). */
  aborted: number;
  /** The first error pgbench printed, when clients were aborted. */
  error?: string;
}

/** Clients pgbench aborted (`client N script M aborted in command …`) and the first of their errors. */
export function abortedClients(out: string): { aborted: number; error?: string } {
  const aborted = out.match(/client \d+ (?:script \d+ )?aborted/g)?.length ?? 0;
  const error = /aborted in command \d+ query \d+: (.*)/.exec(out)?.[1]?.trim();
  return { aborted, ...(aborted > 0 && error ? { error } : {}) };
}

let runCounter = 0;

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Latencies in ms from pgbench's per-transaction logs: one file per thread, `<prefix>.<pid>` and
 * `<prefix>.<pid>.<thread>`, lines `client_id transaction_no time_us script_no time_epoch time_us_part`.
 */
function readLatencies(logDir: string, prefix: string): Float64Array {
  const values: number[] = [];
  for (const name of readdirSync(logDir)) {
    if (!name.startsWith(`${prefix}.`)) continue;
    const file = join(logDir, name);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (line && Number.isFinite(us)) values.push(us / 1000);
    }
    rmSync(file, { force: true });
  }
  return Float64Array.from(values).sort();
}

/** Async: the stub agent lives in the calling process and must keep answering while pgbench runs. */
export function pgbench(run: PgbenchRun): Promise<PgbenchResult> {
  const prefix = `pgbench-${process.pid}-${++runCounter}`;
  const args = [
    ...['-h', '127.0.0.1', '-p', String(run.port), '-U', 'admin', '-n'],
    ...['-T', String(run.durationSec), '-c', String(run.clients), '-j', String(Math.min(run.clients, 2)), '-M', run.protocol],
    ...['-l', `--log-prefix=${join(run.logDir, prefix)}`, `--sampling-rate=${run.samplingRate}`],
    ...run.args,
    'postgres',
  ];
  return new Promise((resolveRun, reject) => {
    const child = spawn('pgbench', args, { env: { ...process.env, PGPASSWORD: PGBENCH_PASSWORD } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (run.durationSec + 60) * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
      const lat = /latency average = ([\d.]+) ms/.exec(out);
      const count = /number of transactions actually processed: (\d+)/.exec(out);
      let latencies: Float64Array;
      try {
        latencies = readLatencies(run.logDir, prefix);
      } catch (err) {
        return reject(err);
      }
      const failed = abortedClients(out);
      // Aborted clients are a figure (counted and printed), not a failed bench; no summary and none aborted is.
      if ((!tps || !lat || !count) && failed.aborted === 0) return reject(new Error(`pgbench failed (pgbench ${args.join(' ')}):\n${out}`));
      resolveRun({
        tps: Number(tps?.[1] ?? 0),
        transactions: Number(count?.[1] ?? 0),
        latencyAvgMs: Number(lat?.[1] ?? NaN),
        p50Ms: quantile(latencies, 0.5),
        p99Ms: quantile(latencies, 0.99),
        logged: latencies.length,
        ...failed,
      });
    });
  });
}
