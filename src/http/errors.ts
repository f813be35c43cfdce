import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { databaseMessage, isDataError } from '../db/storable';
import { AppError, NotConfiguredError } from '../lib/errors';
import type { Logger } from '../lib/logger';

interface HttpErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** body-parser's errors carry a `type`; these are the ones a client can cause. */
const BODY_PARSER_ERRORS: Record<string, [number, string, string]> = {
  'entity.too.large': [413, 'payload_too_large', 'Request body is too large'],
  'entity.parse.failed': [400, 'invalid_json', 'Request body is not valid JSON'],
  'encoding.unsupported': [415, 'unsupported_encoding', 'Unsupported content encoding'],
  'charset.unsupported': [415, 'unsupported_charset', 'Unsupported charset'],
  'request.aborted': [400, 'request_aborted', 'Request was aborted'],
  'request.size.invalid': [400, 'invalid_request', 'Request size did not match Content-Length'],
};

/** A body that does not decompress: zlib's or brotli's error, passed on by body-parser as a 400 without a `type`. */
const isUndecodableBody = (err: unknown): boolean => {
  const e = err as { status?: unknown; type?: unknown; errno?: unknown } | null;
  return e?.status === 400 && e.type === undefined && typeof e.errno === 'number';
};

export function toHttpError(err: unknown): { status: number; body: HttpErrorBody; headers?: Record<string, string> } {
  if (err instanceof AppError) {
    return {
      status: err.status,
      headers: err.headers,
      body: { error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } },
    };
  }
  if (err instanceof ZodError) {
    const message = err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
    return { status: 422, body: { error: { code: 'invalid_request', message } } };
  }
  const type = (err as { type?: string } | null)?.type;
  const known = type ? BODY_PARSER_ERRORS[type] : undefined;
  if (known) return { status: known[0], body: { error: { code: known[1], message: known[2] } } };
  // What the intake checks did not foresee: still the request's value, not the database being away.
  if (isDataError(err)) {
    return {
      status: 422,
      body: { error: { code: 'invalid_request', message: `The request holds a value the database refused: ${databaseMessage(err)}` } },
    };
  }
  if (isUndecodableBody(err)) {
    return {
      status: 400,
      body: { error: { code: 'invalid_encoding', message: 'Request body does not decode as its Content-Encoding says' } },
    };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'Something went wrong' } } };
}

/**
 * Logs a request's error: a 500 with its stack, for whoever fixes it. A feature left unconfigured (503
 * naming the variable) is the operator's choice, not a fault: a warning without a stack, and the request's
 * own line is a warning too. `status` is the answer's, from the caller's own `toHttpError`.
 */
export function logRequestError(req: Request, res: Response, err: unknown, status: number, what: string, log: Logger = req.log): void {
  if (err instanceof NotConfiguredError) {
    res.locals.logLevel = 'warn';
    log.warn({ code: err.code }, err.message);
  } else if (isDataError(err)) {
    log.warn({ err: databaseMessage(err) }, 'request refused by the database');
  } else if (status >= 500) {
    log.error({ err }, what);
  }
}

/** The one place errors become HTTP answers; a 500 never leaks internals, but is logged with the request id. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const { status, body, headers } = toHttpError(err);
    logRequestError(req, res, err, status, 'request failed', req.log ?? log);
    if (res.headersSent) return;
    if (headers) res.set(headers);
    res.status(status).json(body);
  };
}

export const notFound: RequestHandler = (req, res) => {
  res.status(404).json({ error: { code: 'not_found', message: `No route for ${req.method} ${req.path}` } });
};
