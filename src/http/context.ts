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

/** Gives every request an id (the caller's `x-request-id` when sane) and a logger that carries it. */
export function requestContext(log: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.log = log.child({ req_id: req.id });
    res.setHeader('x-request-id', req.id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.locals.logLevel ?? (res.statusCode >= 500 ? 'error' : 'info');
      // The path only: query strings may carry recipients. A handler that accepted a message names it in
      // `res.locals.messageId`, so this one line ties the request to the message's timeline.
      req.log[level](
        { method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(ms * 10) / 10, message_id: res.locals.messageId },
        'request',
      );
    });
    next();
  };
}
