import pino, { type Logger } from 'pino';
import { REDACTED } from './redact';
import { traceLogFields } from './tracing';

export type { Logger };

/** Request headers that carry credentials, censored wherever a line holds `req.headers`. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'svix-signature', 'webhook-signature', 'x-webhook-signature']);

/** Fields censored in any object a line holds at its top level (`{ provider: { apiKey } }`, an `err`'s `body`). */
const SECRET_FIELDS = new Set([
  'authorization',
  'Authorization',
  'apiKey',
  'api_key',
  'secret',
  'token',
  'code',
  'otp',
  'otp_code',
  'html',
  'text',
  'body',
  'password',
]);

/** `value` with its fields named in `secret` censored: `value` itself, uncopied, when it holds none. */
function withoutSecretFields(value: object, secret: ReadonlySet<string>): object {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    if (!secret.has(key) || (value as Record<string, unknown>)[key] === undefined) continue;
    // Copied with its prototype and every own property, so an error stays an error, message and stack kept.
    if (!copy) {
      copy = Object.create(Object.getPrototypeOf(value) as object, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
      // V8's `stack` reads the error it was made for, and gives nothing on a copy.
      if (value instanceof Error) Object.defineProperty(copy, 'stack', { value: value.stack, writable: true, configurable: true });
    }
    Object.defineProperty(copy, key, { value: REDACTED, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}

/**
 * Secrets, API keys and codes never reach the logs: what a line (or a child logger's bindings) holds at its top level
 * is censored by name, one level down (SECRET_FIELDS) and in `req.headers` (SECRET_HEADERS). Code never logs
 * message bodies in the first place; this catches what it logs by mistake. It replaces pino's `redact`, whose
 * library parsed every path for every field of every line and copied the line: most of what a line cost.
 */
export function redactLine<T extends Record<string, unknown>>(line: T): T {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(line)) {
    const value = line[key];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    let clean = withoutSecretFields(value, SECRET_FIELDS);
    const headers = key === 'req' ? (clean as { headers?: unknown }).headers : undefined;
    if (typeof headers === 'object' && headers !== null) {
      const cleanHeaders = withoutSecretFields(headers, SECRET_HEADERS);
      if (cleanHeaders !== headers) clean = { ...clean, headers: cleanHeaders };
    }
    if (clean !== value) (out ??= { ...line })[key] = clean;
  }
  return (out ?? line) as T;
}

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
  const logger = pino(
    {
      level,
      base: { service: 'auth-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactLine },
      mixin: traceLogFields,
      // pino's own merge assigns each line's fields into the object the mixin returned: into traceLogFields'
      // one shared empty object when no span is active, which then carried every field ever logged (a message
      // id, a whole config summary) into every later line of the process.
      mixinMergeStrategy: (line: object, trace: object) => (Object.keys(trace).length === 0 ? line : { ...trace, ...line }),
    },
    destination,
  );
  // pino passes a child's bindings through no formatter of ours, so they are censored as they are bound (every
  // descendant inherits this `child` from the root).
  const child = logger.child;
  logger.child = function (this: Logger, ...[bindings, options]: Parameters<Logger['child']>) {
    return Reflect.apply(child, this, [redactLine(bindings), options]) as ReturnType<Logger['child']>;
  } as Logger['child'];
  return logger;
}
