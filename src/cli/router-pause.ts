/**
 * `pgha router --pause|--resume [--member NAME] (--metrics ADDR:PORT | -c router.yml)`: the operator's PAUSE and
 * RESUME (PgBouncer's), sent to a running router's metrics/status address as `POST /pause` or `POST /resume`. New
 * transactions on pooled listeners wait while paused; connections stay open.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadRouterConfig } from '../config/router';
import { listenAddress } from '../config/router-values';

/** Long enough for a loaded router to answer, short enough for an operator's terminal. */
const REQUEST_TIMEOUT_MS = 10_000;

export function isPauseCommand(argv: string[]): boolean {
  return argv.includes('--pause') || argv.includes('--resume');
}

export async function runPauseCommand(argv: string[], out: (text: string) => void): Promise<number> {
  const action = argv.includes('--pause') ? 'pause' : 'resume';
  if (argv.includes('--pause') && argv.includes('--resume')) throw new Error('--pause and --resume exclude each other');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (!v || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  const member = value('--member');
  const file = value('-c') ?? value('--config');
  const metrics = value('--metrics');
  const addr = metrics
    ? listenAddress(metrics, '--metrics', '127.0.0.1:9187')
    : file
      ? loadRouterConfig(parseYaml(readFileSync(file, 'utf8')) as unknown, file).metrics
      : undefined;
  if (!addr) throw new Error(`--${action} needs the router's metrics address: --metrics ADDR:PORT, or -c router.yml with metrics: set`);
  // A router listening on every address is reached on this host's loopback.
  const host = addr.host === '0.0.0.0' || addr.host === '::' || addr.host === '' ? '127.0.0.1' : addr.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}/${action}${member ? `?member=${encodeURIComponent(member)}` : ''}`;
  const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const body = await res.text();
  out(body);
  return res.ok ? 0 : 1;
}
