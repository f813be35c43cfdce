import { parseRetryAfter } from '../src/lib/retry-after';
import { classifyFailure, failureClass, parseRateLimit, retryAfterMs } from '../src/providers/error-policy';
import { createAutosendProvider, toMailbox } from '../src/providers/autosend/autosend-provider';
import { createResendProvider } from '../src/providers/resend/resend-provider';
import type { OutgoingEmail } from '../src/providers/types';
import { providerError, sentOutcome } from './helpers/provider-tests';
import { autosendAnswers, FAKE_AUTOSEND_KEY, startFakeAutosend } from './fakes/fake-autosend';
import { FAKE_RESEND_KEY, resendAnswers, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';

const email = (overrides: Partial<OutgoingEmail> = {}): OutgoingEmail => ({
  messageId: 'msg_test1',
  to: 'maria@example.com',
  from: 'Acme <notifications@acme.test>',
  replyTo: 'support@acme.test',
  subject: '123456 is your verification code',
  html: '<p>123456</p>',
  text: '123456 is your code',
  headers: { 'X-Entity-Ref-ID': 'msg_test1' },
  tags: [
    { name: 'message_id', value: 'msg_test1' },
    { name: 'template', value: 'verification_code' },
  ],
  idempotencyKey: 'auth-message/msg_test1',
  ...overrides,
});

const failure = providerError;

describe('error policy', () => {
  const now = Date.parse('2026-11-21T20:00:00Z');

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Sat, 21 Nov 2026 20:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('falls back to ratelimit-reset, an epoch reset, then a body field', () => {
    expect(retryAfterMs({ 'ratelimit-reset': '2' }, undefined, now)).toBe(2000);
    expect(retryAfterMs(new Headers({ 'x-ratelimit-reset': String(now / 1000 + 4) }), undefined, now)).toBe(4000);
    expect(retryAfterMs(null, { success: false, retryAfter: 7 }, now)).toBe(7000);
  });

  it('learns the rate from ratelimit-limit over the policy window', () => {
    expect(
      parseRateLimit({ 'ratelimit-limit': '20', 'ratelimit-policy': '20;w=1', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' }),
    ).toEqual({
      perSecond: 20,
      remaining: 0,
      resetMs: 1000,
    });
    expect(parseRateLimit({ 'ratelimit-limit': '120', 'ratelimit-policy': '120;w=60' })?.perSecond).toBe(2);
  });

  it('codes no answer as timeout or network_error, whatever the client called it', () => {
    // The Resend SDK reports both as `application_error` with `statusCode: null`.
    expect(classifyFailure({ status: null, code: 'application_error', message: 'no answer within 300 ms', timedOut: true })).toMatchObject({
      kind: 'retry',
      code: 'timeout',
    });
    expect(classifyFailure({ status: null, code: 'application_error', message: 'Unable to fetch data' })).toMatchObject({
      kind: 'retry',
      code: 'network_error',
    });
  });

  it.each([
    ['network error', { status: null, message: 'ECONNRESET' }, 'transient', 'retry'],
    ['timeout', { status: null, message: 'no answer', timedOut: true }, 'transient', 'retry'],
    ['500', { status: 500, code: 'application_error', message: 'x' }, 'transient', 'retry'],
    ['409 concurrent', { status: 409, code: 'concurrent_idempotent_requests', message: 'x' }, 'transient', 'pending'],
    ['429 rate limit', { status: 429, code: 'rate_limit_exceeded', message: 'x' }, 'transient', 'rate_limited'],
    ['429 daily quota', { status: 429, code: 'daily_quota_exceeded', message: 'x' }, 'permanent', 'fail_over'],
    ['429 monthly quota', { status: 429, code: 'monthly_quota_exceeded', message: 'x' }, 'permanent', 'fail_over'],
    ['403 invalid key', { status: 403, code: 'invalid_api_key', message: 'x' }, 'permanent', 'fail_over'],
    ['401 Autosend', { status: 401, code: 'UNAUTHORIZED', message: 'x' }, 'permanent', 'fail_over'],
    ['402 Autosend plan', { status: 402, code: 'PLAN_UPGRADE_REQUIRED', message: 'x' }, 'permanent', 'fail_over'],
    ['422 validation', { status: 422, code: 'validation_error', message: 'x' }, 'permanent', 'failed'],
    ['400 Autosend validation', { status: 400, code: 'VALIDATION_FAILED', message: 'x' }, 'permanent', 'failed'],
    ['409 different body', { status: 409, code: 'invalid_idempotent_request', message: 'x' }, 'permanent', 'failed'],
  ] as const)('%s', (_label, call, cls, kind) => {
    const outcome = classifyFailure(call);
    expect({ class: failureClass(outcome), kind: outcome.kind }).toEqual({ class: cls, kind });
  });
});

describe('Resend adapter', () => {
  let fake: IdempotentFake;
  beforeAll(async () => {
    fake = await startFakeResend();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
    fake.setDefault(resendAnswers.ok());
  });
  const resend = (timeoutMs = 2_000) => createResendProvider({ apiKey: FAKE_RESEND_KEY, baseUrl: fake.url, timeoutMs });

  it('sends From, headers, tags, both bodies, reply-to and the idempotency key', async () => {
    const result = await sentOutcome(resend().send(email()));
    expect(result.providerMessageId).toBe(fake.deliveries.at(-1)!.id);
    expect(result.rateLimit).toEqual({ perSecond: 1000, remaining: 999, resetMs: 1000 });
    const [req] = fake.requests;
    expect(req!.headers).toMatchObject({
      authorization: `Bearer ${FAKE_RESEND_KEY}`,
      'idempotency-key': 'auth-message/msg_test1',
      'content-type': 'application/json',
    });
    expect(req!.headers['user-agent']).toMatch(/^resend-node/);
    expect(req!.json).toEqual({
      from: 'Acme <notifications@acme.test>',
      to: 'maria@example.com',
      subject: '123456 is your verification code',
      html: '<p>123456</p>',
      text: '123456 is your code',
      headers: { 'X-Entity-Ref-ID': 'msg_test1' },
      tags: [
        { name: 'message_id', value: 'msg_test1' },
        { name: 'template', value: 'verification_code' },
      ],
      reply_to: 'support@acme.test',
    });
    expect(Object.keys(req!.json.headers)).not.toEqual(expect.arrayContaining(['Precedence']));
    expect(req!.json.headers['List-Unsubscribe']).toBeUndefined();
  });

  it('answers a repeat of the same key with the first id, as Resend does', async () => {
    const first = await sentOutcome(resend().send(email({ idempotencyKey: 'auth-message/repeat' })));
    const again = await sentOutcome(resend().send(email({ idempotencyKey: 'auth-message/repeat' })));
    expect(again.providerMessageId).toBe(first.providerMessageId);
    expect(fake.deliveries.filter((d) => d.idempotencyKey === 'auth-message/repeat')).toHaveLength(1);
  });

  it('gives up on a provider that does not answer, as a transient timeout', async () => {
    fake.setDefault(resendAnswers.hang());
    const error = await failure(resend(300).send(email()));
    expect(error).toMatchObject({ kind: 'retry', status: null });
    expect(error.message).toMatch(/no answer within 300 ms/);
  });

  it('turns a 429 rate limit into a provider-wide transient error with its Retry-After', async () => {
    fake.setDefault(resendAnswers.rateLimited(2));
    const error = await failure(resend().send(email()));
    expect(error).toMatchObject({ kind: 'rate_limited', retryAfterMs: 2000, status: 429, code: 'rate_limit_exceeded' });
  });

  it('classifies a 429 quota error by name: permanent, fail over', async () => {
    fake.setDefault(resendAnswers.dailyQuota());
    const error = await failure(resend().send(email()));
    expect(error).toMatchObject({ kind: 'fail_over', status: 429, code: 'daily_quota_exceeded' });
    expect(error.raw).toEqual({
      statusCode: 429,
      name: 'daily_quota_exceeded',
      message: 'You have reached your daily email sending quota.',
    });
  });

  it('fails a message with no From permanently, naming the settings, without calling Resend', async () => {
    const error = await failure(resend().send(email({ from: null })));
    expect(error).toMatchObject({ kind: 'failed' });
    expect(error.message).toMatch(/EMAIL_FROM.*EMAIL_FROM_DOMAIN/);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('Autosend adapter', () => {
  let fake: IdempotentFake;
  beforeAll(async () => {
    fake = await startFakeAutosend();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
    fake.setDefault(autosendAnswers.ok());
  });
  const autosend = (timeoutMs = 2_000) => createAutosendProvider({ apiKey: FAKE_AUTOSEND_KEY, apiUrl: fake.url, timeoutMs });

  it('posts one recipient per call with the documented body, Bearer key and Idempotency-Key', async () => {
    const result = await sentOutcome(autosend().send(email()));
    expect(result.providerMessageId).toMatch(/^[0-9a-f]{24}$/);
    const [req] = fake.requests;
    expect(req!.path).toBe('/v1/mails/send');
    expect(req!.headers).toMatchObject({ authorization: `Bearer ${FAKE_AUTOSEND_KEY}`, 'idempotency-key': 'auth-message/msg_test1' });
    expect(req!.json).toEqual({
      to: { email: 'maria@example.com' },
      from: { email: 'notifications@acme.test', name: 'Acme' },
      subject: '123456 is your verification code',
      html: '<p>123456</p>',
      text: '123456 is your code',
      replyTo: { email: 'support@acme.test' },
      metadata: { message_id: 'msg_test1' },
    });
    expect(result.rateLimit?.perSecond).toBe(1000);
  });

  it('reads the older success body too', async () => {
    fake.setDefault(autosendAnswers.legacyOk());
    const result = await sentOutcome(autosend().send(email({ idempotencyKey: 'auth-message/legacy' })));
    expect(result.providerMessageId).toBe(fake.deliveries.at(-1)!.id);
  });

  it.each([
    ['a 503', autosendAnswers.serverError(), { kind: 'retry' }],
    ['a 400 validation error', autosendAnswers.validation(), { kind: 'failed', code: 'VALIDATION_FAILED' }],
    ['a 401', autosendAnswers.unauthorized(), { kind: 'fail_over' }],
    ['a 402', autosendAnswers.planUpgrade(), { kind: 'fail_over' }],
    ['a 429 with retryAfter in the body', autosendAnswers.rateLimited(3), { kind: 'rate_limited', retryAfterMs: 3000 }],
  ])('classifies %s', async (_label, answer, expected) => {
    fake.setDefault(answer);
    expect(await failure(autosend().send(email()))).toMatchObject(expected);
  });

  it('gives up on a hung request after its timeout', async () => {
    fake.setDefault(autosendAnswers.hang());
    expect(await failure(autosend(300).send(email()))).toMatchObject({ kind: 'retry', status: null, message: 'no answer within 300 ms' });
  });

  it('splits display names, quoted or not', () => {
    expect(toMailbox('"Acme, Inc." <auth@acme.test>')).toEqual({ email: 'auth@acme.test', name: 'Acme, Inc.' });
    expect(toMailbox('auth@acme.test')).toEqual({ email: 'auth@acme.test' });
  });
});
