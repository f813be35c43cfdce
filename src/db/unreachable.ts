import { REDACTED } from '../lib/redact';

/** A connection URL as it may be logged: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return parsed.toString();
    // Not through the password setter, which would percent-encode the brackets.
    const { protocol, username, host, pathname, search } = parsed;
    return `${protocol}//${username}:${REDACTED}@${host}${pathname}${search}`;
  } catch {
    return REDACTED;
  }
}

/** Node reports a refused dual-stack connect as an AggregateError with an empty message. */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map(errorText).join('; ');
  return err instanceof Error ? err.message : String(err);
}

/**
 * Postgres did not accept a connection. Says which variable to look at and what was tried (password
 * redacted), because `connect ECONNREFUSED 127.0.0.1:5999` alone leaves an operator guessing.
 */
export class DatabaseUnreachableError extends Error {
  constructor(
    readonly variable: string,
    url: string,
    cause: unknown,
  ) {
    super(`cannot reach Postgres at ${redactUrl(url)} (${variable}): ${errorText(cause)}`);
    this.name = 'DatabaseUnreachableError';
    this.cause = cause;
  }
}
