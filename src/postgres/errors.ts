import { PghaError, describe } from '../lib/errors';

/** A PostgreSQL tool (initdb, pg_ctl, pg_basebackup, pg_rewind, ...) failed, timed out or could not be run. */
export class PostgresToolError extends PghaError {
  constructor(
    readonly tool: string,
    readonly problem: string,
    /** The last lines of the tool's stderr (and stdout when stderr was empty). */
    readonly outputTail: string,
    retryable = false,
    options?: { cause?: unknown },
  ) {
    super('postgres_tool_failed', `${tool}: ${problem}${outputTail ? `\n${outputTail}` : ''}`, retryable, options);
    this.name = 'PostgresToolError';
  }
}

/** Connecting to postgres or running a statement failed. Retryable: postgres may just be starting. */
export class PostgresQueryError extends PghaError {
  constructor(
    what: string,
    readonly target: string,
    cause: unknown,
    /** SQLSTATE when the server answered with an error. */
    readonly sqlState?: string,
  ) {
    super('postgres_query_failed', `${what} on ${target}: ${describe(cause)}`, true, { cause });
    this.name = 'PostgresQueryError';
  }
}

/** postgres is not in the state an action needs (already running, not running, bad data dir). */
export class PostgresStateError extends PghaError {
  constructor(code: string, message: string, retryable = false) {
    super(code, message, retryable);
    this.name = 'PostgresStateError';
  }
}
