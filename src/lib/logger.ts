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
/** Lines are held until this many bytes are waiting (about a dozen request lines) … */
const LOG_BUFFER_BYTES = 3_584;
/** … or this long has passed since the first of them. */
export const LOG_FLUSH_MS = 100;
/** What is kept for a stdout that refuses writes; past it, lines are dropped rather than held in memory. */
const MAX_HELD_BYTES = 1 << 20;

/**
 * stdout, written a few lines at a time: a write per line cost more than the line (a twentieth of intake when
 * synchronous; more, through libuv's thread pool, when asynchronous). A line waits at most LOG_FLUSH_MS, and
 * what is left is written when the process exits (an uncaught error included). Writes are synchronous, so a
 * flush is never stranded behind one in flight, and hold whole lines and at most PIPE_BUF bytes, so the worker
 * thread's lines on the same stdout never land inside one of these. `fd` is for tests.
 */
export function bufferedStdout({ fd = 1, flushMs = LOG_FLUSH_MS } = {}): pino.DestinationStream {
  const stdout = pino.destination({ dest: fd, sync: true, minLength: LOG_BUFFER_BYTES, maxWrite: PIPE_BUF, maxLength: MAX_HELD_BYTES });
  // A stdout that fails (a closed pipe, a vanished collector) loses its lines; it must not throw into the request,
  // the send or the timer that logged, which an 'error' nobody listens to would do.
  stdout.on('error', () => undefined);
  let flushing: NodeJS.Timeout | undefined;
  process.on('exit', () => {
    try {
      stdout.flushSync();
    } catch {
      // stdout is gone (a closed pipe): there is nowhere left to write to.
    }
  });
  return {
    write(line: string) {
      stdout.write(line);
      flushing ??= setTimeout(() => {
        flushing = undefined;
        stdout.flush();
      }, flushMs).unref();
    },
  };
}

export function createLogger(level: string, destination: pino.DestinationStream = bufferedStdout()): Logger {
  return pino(
    {
      level,
      base: { service: 'auth-relay' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: traceLogFields,
      // pino's own merge assigns each line's fields into the object the mixin returned: into traceLogFields'
      // one shared empty object when no span is active, which then carried every field ever logged (a message
      // id, a whole config summary) into every later line of the process.
      mixinMergeStrategy: (line: object, trace: object) => (Object.keys(trace).length === 0 ? line : { ...trace, ...line }),
    },
    destination,
  );
}
