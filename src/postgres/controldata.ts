/**
 * pg_controldata, parsed. Run with LC_ALL=C: the labels are translated in other locales.
 */
import { parseLsn, type Lsn } from '../model/lsn';
import { runTool, type PgTools } from './tool';

export interface ControlData {
  /** Database system identifier: a 64-bit number, kept as a string (it does not fit a JS number). */
  systemId: string;
  /** 'in production' | 'shut down' | 'in archive recovery' | 'shut down in recovery' | 'in crash recovery' | 'starting up' | 'shutting down' */
  clusterState: string;
  /** Latest checkpoint's TimeLineID. */
  timeline: number;
  checkpointLsn: Lsn;
  redoLsn: Lsn;
  minRecoveryEndLsn: Lsn;
  minRecoveryEndTimeline: number;
  /** 0 when checksums are off. */
  dataChecksumVersion: number;
  walLogHints: boolean;
  /** Every line, label → value, for anything not lifted above. */
  raw: Record<string, string>;
}

/** Splits `Label:   value` lines at the first colon (values such as `0:724` or times hold colons too). */
export function parseControlDataLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Parses pg_controldata output. Throws naming the missing label when the output is not what PG prints. */
export function parseControlData(text: string): ControlData {
  const raw = parseControlDataLines(text);
  const get = (label: string): string => {
    const value = raw[label];
    if (value === undefined) throw new Error(`pg_controldata output has no "${label}" line`);
    return value;
  };
  const int = (label: string): number => {
    const n = Number(get(label));
    if (!Number.isInteger(n)) throw new Error(`pg_controldata "${label}" is not a number: ${get(label)}`);
    return n;
  };
  return {
    systemId: get('Database system identifier'),
    clusterState: get('Database cluster state'),
    timeline: int("Latest checkpoint's TimeLineID"),
    checkpointLsn: parseLsn(get('Latest checkpoint location')),
    redoLsn: parseLsn(get("Latest checkpoint's REDO location")),
    minRecoveryEndLsn: parseLsn(get('Minimum recovery ending location')),
    minRecoveryEndTimeline: int("Min recovery ending loc's timeline"),
    dataChecksumVersion: int('Data page checksum version'),
    walLogHints: get('wal_log_hints setting') === 'on',
    raw,
  };
}

/** Patroni's rule for a valid system identifier (reference §5.5): all digits, at least 10 long. */
export function isValidSystemId(systemId: string | undefined): boolean {
  return systemId !== undefined && /^\d{10,}$/.test(systemId);
}

/** Runs pg_controldata on the data dir (as the postgres user: the data dir is 0700). */
export async function controlData(tools: PgTools, dataDir: string, timeoutMs = 30_000): Promise<ControlData> {
  const { stdout } = await runTool(tools, 'pg_controldata', ['-D', dataDir], { timeoutMs, env: { LC_ALL: 'C', LANG: 'C' } });
  return parseControlData(stdout);
}
