import type { LogConfig } from './types';
import { type ParseContext, type YamlMap, optionalMap, optionalString, wrongValue } from './values';

/** Patroni (Python) level names and pino's, mapped onto pino's. */
const LEVELS: Record<string, string> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  silent: 'silent',
};

const IGNORED_LOG_KEYS = ['traceback_level', 'format', 'dateformat', 'max_queue_size', 'dir', 'file_size', 'file_num', 'loggers'];

/** `log.level` (env PATRONI_LOG_LEVEL, legacy PATRONI_LOGLEVEL), default info. pgha logs JSON lines to stdout. */
export function parseLogSection(doc: YamlMap, ctx: ParseContext): LogConfig {
  const map = optionalMap(doc.log, 'log', ctx) ?? {};
  const level = optionalString(map, 'level', 'log', ctx);
  for (const key of IGNORED_LOG_KEYS) {
    if (map[key] !== undefined) ctx.warnings.push(`log.${key} is not supported by pgha (it logs JSON lines to stdout); it is ignored`);
  }
  if (level === undefined) return { level: 'info' };
  const mapped = LEVELS[level.trim().toLowerCase()];
  if (!mapped) {
    throw wrongValue('log.level', level, 'one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or trace, warn, fatal, silent)', 'set log.level: INFO', ctx);
  }
  return { level: mapped };
}
