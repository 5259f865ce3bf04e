/** One base class for every error pgha raises on purpose: a stable code, a retryable flag and a cause. */
export class PghaError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PghaError';
  }
}

/** A configuration problem: names the field, the value seen and what is expected. */
export class ConfigError extends PghaError {
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly fix?: string,
  ) {
    super('config_invalid', `${field}: ${problem}${fix ? ` (${fix})` : ''}`);
    this.name = 'ConfigError';
  }
}

/** A transport failure talking to the DCS (etcd down, deadline passed). Always retryable. */
export class DcsUnavailableError extends PghaError {
  constructor(what: string, cause?: unknown) {
    super('dcs_unavailable', `${what}: ${describe(cause)}`, true, { cause });
    this.name = 'DcsUnavailableError';
  }
}

export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
