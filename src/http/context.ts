import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../lib/logger';

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    log: Logger;
  }
  interface Locals {
    /** The message a request recorded or found, for its request log line. */
    messageId?: string;
    /** The request line's level when its status alone would mislead (a 503 for a feature not configured). */
    logLevel?: 'warn';
  }
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Gives every request an id (the caller's `x-request-id` when sane) and a logger that carries it, made on first
 * use: most requests log only their request line, which names the id itself.
 */
export function requestContext(log: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.id = id;
    let child: Logger | undefined;
    Object.defineProperty(req, 'log', { get: () => (child ??= log.child({ req_id: id })), configurable: true });
    res.setHeader('x-request-id', id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.locals.logLevel ?? (res.statusCode >= 500 ? 'error' : 'info');
      // The path only: query strings may carry recipients. A handler that accepted a message names it in
      // `res.locals.messageId`, so this one line ties the request to the message's timeline.
      log[level](
        {
          req_id: id,
          method: req.method,
          path: req.originalUrl.split('?')[0],
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
          message_id: res.locals.messageId,
        },
        'request',
      );
    });
    next();
  };
}
