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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
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
