/**
 * Domain errors carry the HTTP status and the stable `code` of the contract's error shape
 * (`{"error":{"code","message"}}`); the one error middleware (src/http/errors.ts) maps them.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super(422, 'invalid_request', message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid credentials', code = 'unauthorized') {
    super(401, code, message, undefined, { 'WWW-Authenticate': 'Bearer' });
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string, code = 'forbidden') {
    super(403, code, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}

export class RateLimitedError extends AppError {
  constructor(message: string, retryAfterSeconds: number, code = 'rate_limited') {
    super(429, code, message, { retry_after: retryAfterSeconds }, { 'Retry-After': String(retryAfterSeconds) });
  }
}

/** A feature whose configuration is missing: the message says which variable to set. */
export class NotConfiguredError extends AppError {
  constructor(message: string) {
    super(503, 'not_configured', message);
  }
}

/** Postgres or Redis did not answer: the caller should retry (Svix does on 503). */
export class DependencyUnavailableError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(503, 'unavailable', message, undefined, { 'Retry-After': '5' });
    this.cause = cause;
  }
}

/** A Redis call whose failure the caller answers with 503, so the client retries. */
export async function viaRedis<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new DependencyUnavailableError('Redis unavailable; retry later', err);
  }
}
