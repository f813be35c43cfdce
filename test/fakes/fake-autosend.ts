import { hexId, startIdempotentFake, type Behaviour, type IdempotentFake } from './idempotent-fake';

export const FAKE_AUTOSEND_KEY = 'as_test_0123456789';

/**
 * A local Autosend `POST /v1/mails/send` (providers.md §6.1): `{success, data: {emailId}}` (or the older bare
 * `{emailId}`), errors `{success: false, error: {message, code}}`, `X-RateLimit-*` headers.
 */
export function startFakeAutosend(): Promise<IdempotentFake> {
  return startIdempotentFake({
    path: '/v1/mails/send',
    apiKey: FAKE_AUTOSEND_KEY,
    newId: () => hexId(12),
    success: (id, legacy) =>
      legacy ? { emailId: id } : { success: true, data: { emailId: id, message: 'Email queued successfully.', totalRecipients: 1 } },
    error: (_status, code, message) => ({ success: false, error: { message, code } }),
    rateLimitHeaders: (limit, remaining, reset) => ({
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + reset),
    }),
  });
}

export const autosendAnswers = {
  serverError: (): Behaviour => ({ kind: 'error', status: 503, code: 'SERVICE_UNAVAILABLE', message: 'Service unavailable' }),
  rateLimited: (retryAfterSeconds: number): Behaviour => ({
    kind: 'error',
    status: 429,
    code: 'RATE_LIMITED',
    body: { success: false, error: { message: 'Rate limit exceeded', code: 'RATE_LIMITED' }, retryAfter: retryAfterSeconds },
  }),
  validation: (): Behaviour => ({ kind: 'error', status: 400, code: 'VALIDATION_FAILED', message: 'from.email must be a verified domain' }),
  unauthorized: (): Behaviour => ({ kind: 'error', status: 401, code: 'UNAUTHORIZED', message: 'Invalid API key' }),
  planUpgrade: (): Behaviour => ({ kind: 'error', status: 402, code: 'PLAN_UPGRADE_REQUIRED', message: 'Upgrade your plan' }),
  hang: (): Behaviour => ({ kind: 'hang' }),
  ok: (latencyMs?: number): Behaviour => ({ kind: 'ok', latencyMs }),
  legacyOk: (): Behaviour => ({ kind: 'ok', legacy: true }),
};
