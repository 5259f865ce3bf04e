import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths redacted in every log line: secrets never reach the logs. */
const REDACT = [
  'password', '*.password', '*.*.password', '*.*.*.password',
  'authentication', '*.authentication', 'conninfo', '*.conninfo', 'dsn', '*.dsn',
];

/** The one pino factory. Components take `logger.child({ component: 'x' })`. */
export function createLogger(opts: { level?: string; base?: Record<string, unknown>; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: opts.base ?? {},
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

/** A logger that drops everything: for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
