/**
 * Patroni's `parse_schedule` for `scheduled_at` (switchover) and `schedule` (restart): an ISO 8601 time that must
 * carry a time zone and must not be in the past. Pure: the caller passes the wall clock.
 */

export type ScheduleResult =
  | { ok: true; epochMs: number; /** Python `isoformat()` of the parsed time, in the offset it was given in. */ iso: string }
  | { ok: false; code: 400 | 422; message: string };

const TZ_SUFFIX = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

export function parseSchedule(text: unknown, action: string, nowEpochMs: number): ScheduleResult {
  const unparsable = { ok: false, code: 422, message: 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601' } as const;
  if (typeof text !== 'string' || text.trim() === '') return unparsable;
  const value = text.trim();
  const epochMs = Date.parse(value);
  if (!Number.isFinite(epochMs)) return unparsable;
  const tz = TZ_SUFFIX.exec(value);
  if (!tz) return { ok: false, code: 400, message: `Timezone information is mandatory for the scheduled ${action}` };
  if (epochMs < nowEpochMs) return { ok: false, code: 422, message: `Cannot schedule ${action} in the past` };
  return { ok: true, epochMs, iso: pythonIsoFormat(epochMs, offsetMinutes(tz[0])) };
}

function offsetMinutes(suffix: string): number {
  if (suffix.toUpperCase() === 'Z') return 0;
  const sign = suffix.startsWith('-') ? -1 : 1;
  const digits = suffix.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
}

/** `datetime.isoformat()`: `2026-11-28T14:00:00+01:00`, microseconds only when non-zero. */
export function pythonIsoFormat(epochMs: number, offsetMin: number): string {
  const local = new Date(epochMs + offsetMin * 60_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const ms = local.getUTCMilliseconds();
  const frac = ms ? `.${p(ms, 3)}000` : '';
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${p(local.getUTCFullYear(), 4)}-${p(local.getUTCMonth() + 1)}-${p(local.getUTCDate())}T` +
    `${p(local.getUTCHours())}:${p(local.getUTCMinutes())}:${p(local.getUTCSeconds())}${frac}${sign}${p(Math.floor(abs / 60))}:${p(abs % 60)}`;
}
