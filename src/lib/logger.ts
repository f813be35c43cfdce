import pino, { type Logger } from 'pino';
import { traceLogFields } from './tracing';

export type { Logger };

/**
 * Secrets, API keys and codes never reach the logs. Paths cover the shapes we log (request headers,
 * provider requests, config); code never logs message bodies in the first place.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["svix-signature"]',
  'req.headers["webhook-signature"]',
  'req.headers["x-webhook-signature"]',
  '*.authorization',
  '*.Authorization',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  '*.token',
  '*.code',
  '*.otp',
  '*.otp_code',
  '*.html',
  '*.text',
  '*.body',
  '*.password',
];

/** POSIX's PIPE_BUF: a write up to this size to a pipe is never interleaved with another process's. */
const PIPE_BUF = 4096;

/**
 * Without a destination, stdout written asynchronously: lines that arrive while a write is under way go out
 * together in the next one (one write per request was a twentieth of intake), and pino flushes what is left
 * when the process exits. Each write holds whole lines and at most PIPE_BUF bytes, so the worker process's
 * lines on the same stdout never land inside one of these.
 */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ dest: 1, sync: false, maxWrite: PIPE_BUF }),
): Logger {
  return pino(
    {
      level,
      base: { service: 'auth-relay' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: traceLogFields,
    },
    destination,
  );
}
