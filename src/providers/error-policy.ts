import { parseRetryAfter } from '../lib/retry-after';
import type { FailureDetail, ProviderFailure, RateLimitInfo } from './types';

/**
 * The one classification of provider failures, shared by every adapter, so "retry", "fail over" and "give
 * up" mean the same thing whichever provider answered. Error names are matched case-insensitively: Resend
 * sends `rate_limit_exceeded`, Autosend `VALIDATION_FAILED`.
 */

/** Any header source: a fetch `Headers`, or the plain (lower-cased) record the Resend SDK returns. */
export type HeaderSource = Headers | Record<string, string> | null | undefined;

const header = (headers: HeaderSource, name: string): string | undefined => {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  return headers[name] ?? headers[name.toLowerCase()];
};

/** A quota is spent: waiting minutes will not help, another provider might. Resend answers these with 429. */
const QUOTA_CODES = new Set(['daily_quota_exceeded', 'monthly_quota_exceeded', 'plan_upgrade_required', 'quota_exceeded']);
/** Our key or account is refused: another provider (another key) can still send. */
const AUTH_CODES = new Set([
  'missing_api_key',
  'invalid_api_key',
  'restricted_api_key',
  'suspended_api_key',
  'api_key_expired',
  'invalid_permission',
  'insufficient_permissions',
  'unauthorized',
]);
const RATE_LIMIT_CODES = new Set(['rate_limit_exceeded', 'too_many_requests']);
/** Retrying the same request later can succeed (Resend: "safe to retry later"). */
const TRANSIENT_CODES = new Set(['resource_locked', 'internal_server_error', 'service_unavailable']);
/** The first request with this idempotency key is still being processed: the message is on its way. */
const PENDING_CODES = new Set(['concurrent_idempotent_requests']);

/**
 * A reset given as seconds to wait (IETF ratelimit headers, Resend) or as a unix time (Autosend's
 * `X-RateLimit-Reset`, seconds or milliseconds): told apart by size.
 */
function parseReset(value: string | undefined, now: number): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const n = Number(value);
  if (n > 1e12) return Math.max(0, n - now);
  if (n > 1e9) return Math.max(0, n * 1000 - now);
  return Math.round(n * 1000);
}

/** The `ratelimit-*` (or `x-ratelimit-*`) headers of any answer, success or error. */
export function parseRateLimit(headers: HeaderSource, now = Date.now()): RateLimitInfo | undefined {
  const get = (name: string) => header(headers, `ratelimit-${name}`) ?? header(headers, `x-ratelimit-${name}`);
  const limit = Number(get('limit'));
  const remaining = get('remaining');
  const resetMs = parseReset(get('reset'), now);
  // `ratelimit-policy: 20;w=1` gives the window; without one, both providers document per-second limits.
  const window = Number(/;\s*w=(\d+(?:\.\d+)?)/.exec(get('policy') ?? '')?.[1] ?? 1);
  const info: RateLimitInfo = {
    ...(Number.isFinite(limit) && limit > 0 && window > 0 ? { perSecond: limit / window } : {}),
    ...(remaining !== undefined && /^\d+$/.test(remaining.trim()) ? { remaining: Number(remaining) } : {}),
    ...(resetMs !== undefined ? { resetMs } : {}),
  };
  return Object.keys(info).length > 0 ? info : undefined;
}

/**
 * When the provider asked us to come back: the latest of Retry-After, the rate-limit window's reset, and a
 * body field (Autosend documents `retryAfter`, Unosend `retry_after`, in seconds), so no hint is undercut.
 */
export function retryAfterMs(headers: HeaderSource, body: unknown, now = Date.now()): number | undefined {
  const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const nested = (typeof record.error === 'object' && record.error !== null ? record.error : {}) as Record<string, unknown>;
  const seconds = [record.retryAfter, record.retry_after, nested.retryAfter, nested.retry_after].find((v) => typeof v === 'number');
  const hints = [
    parseRetryAfter(header(headers, 'retry-after'), now),
    parseReset(header(headers, 'ratelimit-reset') ?? header(headers, 'x-ratelimit-reset'), now),
    typeof seconds === 'number' ? Math.round(seconds * 1000) : undefined,
  ].filter((ms): ms is number => ms !== undefined);
  return hints.length > 0 ? Math.max(...hints) : undefined;
}

export interface FailedCall {
  /** HTTP status; null when no answer came (network error, timeout). */
  status: number | null;
  /** The provider's error name or code. */
  code?: string;
  message: string;
  timedOut?: boolean;
  headers?: HeaderSource;
  /** The provider's answer as received, for the timeline. */
  body?: unknown;
}

/** Why a request got no answer: undici hides the socket error (ECONNREFUSED, …) in `cause`. */
export function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? err.cause.message : err.message;
}

/** No answer after the request may have reached the provider (a timeout, a connection cut mid-answer). */
const CUT_MID_ANSWER = /ECONNRESET|socket hang up|other side closed|EPIPE/i;

/**
 * retry (network, timeout, 5xx): retry with backoff, the same idempotency key, after Retry-After when given;
 * `unanswered` when the provider may have taken it. No answer is coded `timeout` or `network_error` whatever
 * the client called it.
 * rate_limited (429): the provider's whole account is limited (e.g. Unosend's), not just this message.
 * pending: a concurrent request with our idempotency key; the provider has the message, only it may be asked again.
 * fail_over (auth, quota, sender refused): this provider cannot send it, another may.
 * failed (validation, anything else 4xx): no provider will; fail the message with the reason.
 */
export function classifyFailure(call: FailedCall, now = Date.now()): ProviderFailure {
  const code = call.code?.toLowerCase();
  const base: FailureDetail = {
    message: call.message,
    status: call.status,
    code: call.code,
    raw: call.body ?? null,
    rateLimit: parseRateLimit(call.headers, now),
  };
  const after = { retryAfterMs: retryAfterMs(call.headers, call.body, now) };

  if (call.timedOut) return { kind: 'retry', ...base, ...after, code: 'timeout', unanswered: true };
  if (call.status === null) {
    return {
      kind: 'retry',
      ...base,
      ...after,
      message: `network error: ${call.message}`,
      code: 'network_error',
      unanswered: CUT_MID_ANSWER.test(call.message),
    };
  }
  if (code && QUOTA_CODES.has(code)) return { kind: 'fail_over', ...base, message: `quota exceeded: ${call.message}` };
  if ((code && AUTH_CODES.has(code)) || call.status === 401)
    return { kind: 'fail_over', ...base, message: `API key refused: ${call.message}` };
  if (code && PENDING_CODES.has(code)) return { kind: 'pending', ...base, ...after, message: `already in progress: ${call.message}` };
  if ((code && RATE_LIMIT_CODES.has(code)) || call.status === 429)
    return { kind: 'rate_limited', ...base, ...after, message: `rate limited: ${call.message}` };
  if ((code && TRANSIENT_CODES.has(code)) || call.status >= 500 || call.status === 408)
    return { kind: 'retry', ...base, ...after, unanswered: false };
  // 402: payment required (Autosend's plan, an empty Unosend wallet). 403: this provider refuses the sender (domain not verified here, key not allowed).
  if (call.status === 402 || call.status === 403) return { kind: 'fail_over', ...base };
  return { kind: 'failed', ...base };
}

/** Transient or permanent, as the timeline and the send-attempt metric name a failure. */
export function failureClass(failure: ProviderFailure): 'transient' | 'permanent' {
  switch (failure.kind) {
    case 'retry':
    case 'rate_limited':
    case 'pending':
      return 'transient';
    case 'fail_over':
    case 'failed':
      return 'permanent';
    default:
      return unreachable(failure);
  }
}

/** The compiler's proof that a switch over an outcome (or a decision about one) left no case out. */
export function unreachable(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}

/** A message this adapter refuses before calling its API (no body, a number that is not E.164): no provider would send it. */
export function refused(message: string, code: string): ProviderFailure {
  return { kind: 'failed', message, status: null, code };
}

/**
 * An adapter asked to send without its API key. Configuration refuses a provider in a chain without its key;
 * the adapter itself exists for its webhook too, so say what is missing rather than call the API.
 */
export function missingApiKeyError(variable: string): ProviderFailure {
  return { kind: 'fail_over', message: `${variable} is not set`, status: null, code: 'not_configured' };
}

/** The From a message cannot do without: a configuration problem no provider can fix. */
export function missingFromError(): ProviderFailure {
  return refused('no usable From address: set EMAIL_FROM (e.g. "Acme <auth@acme.com>") or EMAIL_FROM_DOMAIN', 'missing_from');
}

/**
 * A 2xx whose answer names no message id: the provider probably accepted it, so neither a retry nor another
 * provider may send it again. Fails the message with the reason rather than risk a second code.
 */
export function acceptedWithoutId(provider: string, body: unknown): ProviderFailure {
  return {
    kind: 'failed',
    message: `${provider} accepted the request but its answer carried no message id; not resent to avoid a duplicate`,
    status: null,
    code: 'missing_message_id',
    raw: body ?? null,
  };
}

/**
 * RFC 3463 enhanced statuses that say the address itself cannot take mail: 5.1.1 (no such user), 5.1.2 (bad
 * domain), 5.1.3 (bad address), 5.1.10 (null MX), 5.2.1 (mailbox disabled). A full mailbox (5.2.2) or a
 * policy block (5.7.x) is not: only these justify suppressing the address and telling Clerk.
 */
export const HARD_BOUNCE_STATUS = /\b5\.(1\.(1|2|3|10)|2\.1)\b/;

/** What nodemailer reports of a failed SMTP transaction. */
export interface SmtpFailedCall {
  /** nodemailer's error code: EAUTH, ETIMEDOUT, ECONNECTION, ESOCKET, ETLS, EENVELOPE, EMESSAGE, … */
  code?: string;
  /** The server's reply code, when it replied. */
  responseCode?: number;
  /** The server's reply text. */
  response?: string;
  /** The SMTP command the reply answered (`MAIL FROM`, `RCPT TO`, `DATA`, `AUTH PLAIN`, `CONN`). */
  command?: string;
  message: string;
}

/** Reply codes of a refused login (RFC 4954): 530 auth required, 534 mechanism too weak, 535 bad credentials, 538 encryption required. */
const SMTP_AUTH_REPLIES = new Set([530, 534, 535, 538]);
const SMTP_NO_ANSWER = new Set(['ETIMEDOUT', 'ECONNECTION', 'ESOCKET', 'EDNS', 'EPROTOCOL']);

/**
 * SMTP replies onto the same classes as HTTP answers. No answer (timeout, dropped connection) is classified by
 * `classifyFailure` exactly as an HTTP request without answer is. A refused login or TLS set-up is this
 * server's (credentials, configuration): fail over. 4xx is transient (421 closes the whole session, so it
 * holds the provider back); 5xx is permanent, except a sender refused at MAIL FROM (this server will not send
 * for that address; another might). A 5xx naming the address as unusable (HARD_BOUNCE_STATUS) suppresses it.
 * The timeline keeps the reply code as `status` and the reply as `raw`.
 */
export function classifySmtpFailure(call: SmtpFailedCall): ProviderFailure {
  const reply = call.responseCode;
  const raw = { smtp_code: reply ?? null, response: call.response ?? null, command: call.command ?? null, error_code: call.code ?? null };
  const base: FailureDetail = { message: call.message, status: reply ?? null, code: reply ? `smtp_${reply}` : call.code, raw };
  if (!reply && call.code && SMTP_NO_ANSWER.has(call.code)) {
    const timedOut = call.code === 'ETIMEDOUT';
    return classifyFailure({ status: null, message: timedOut ? `no answer: ${call.message}` : call.message, timedOut, body: raw });
  }
  if (call.code === 'EAUTH' || call.code === 'ENOAUTH' || (reply && SMTP_AUTH_REPLIES.has(reply))) {
    return { kind: 'fail_over', ...base, message: `SMTP login refused: ${call.message}` };
  }
  if (call.code === 'ETLS' || call.code === 'EREQUIRETLS')
    return { kind: 'fail_over', ...base, message: `SMTP TLS failed: ${call.message}` };
  // 421 closes the whole session: the server is holding us back, not refusing this message.
  if (reply === 421) return { kind: 'rate_limited', ...base };
  if (reply && reply >= 400 && reply < 500) return { kind: 'retry', ...base, unanswered: false };
  if (reply && reply >= 500) {
    if (call.command === 'MAIL FROM') return { kind: 'fail_over', ...base, message: `sender refused: ${call.message}` };
    const unusable = HARD_BOUNCE_STATUS.test(call.response ?? '');
    return { kind: 'failed', ...base, ...(unusable ? { suppress: 'hard_bounce' as const } : {}) };
  }
  // Anything else nodemailer raises before talking to a server (a malformed message): no retry will change it.
  return { kind: 'failed', ...base };
}
