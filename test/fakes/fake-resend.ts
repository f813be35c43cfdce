import { hexId, startIdempotentFake, type Behaviour, type IdempotentFake } from './idempotent-fake';

export const FAKE_RESEND_KEY = 're_test_0123456789';

/**
 * A local Resend `POST /emails`: the real SDK is pointed at it with RESEND_BASE_URL. Errors are Resend's
 * `{statusCode, message, name}`; rate-limit headers follow draft-ietf-httpapi-ratelimit-headers as Resend's do.
 */
export function startFakeResend(): Promise<IdempotentFake> {
  return startIdempotentFake({
    path: '/emails',
    apiKey: FAKE_RESEND_KEY,
    newId: () => `${hexId(4)}-${hexId(2)}-${hexId(2)}-${hexId(2)}-${hexId(6)}`,
    success: (id) => ({ id }),
    error: (status, name, message) => ({ statusCode: status, message, name }),
    rateLimitHeaders: (limit, remaining, reset) => ({
      'ratelimit-limit': String(limit),
      'ratelimit-remaining': String(remaining),
      'ratelimit-reset': String(reset),
      'ratelimit-policy': `${limit};w=1`,
    }),
  });
}

/** Resend's documented failures (providers.md §1.7). */
export const resendAnswers = {
  serverError: (): Behaviour => ({ kind: 'error', status: 500, code: 'application_error', message: 'Internal server error' }),
  rateLimited: (retryAfterSeconds: number): Behaviour => ({
    kind: 'error',
    status: 429,
    code: 'rate_limit_exceeded',
    message: 'Too many requests. You can only make 2 requests per second.',
    headers: { 'retry-after': String(retryAfterSeconds) },
  }),
  dailyQuota: (): Behaviour => ({
    kind: 'error',
    status: 429,
    code: 'daily_quota_exceeded',
    message: 'You have reached your daily email sending quota.',
  }),
  validation: (): Behaviour => ({ kind: 'error', status: 422, code: 'validation_error', message: 'Invalid `to` field.' }),
  hang: (): Behaviour => ({ kind: 'hang' }),
  ok: (latencyMs?: number): Behaviour => ({ kind: 'ok', latencyMs }),
};
