import { postClerkEvent, smsCreated } from './helpers/clerk-events';
import { TEST_CLERK_SECRET, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { svixHeaders } from './helpers/svix';
import { waitFor } from './helpers/wait';
import { FAKE_UNOSEND_KEY, startFakeUnosend, type FakeUnosend } from './fakes/fake-unosend';
import { parseRetryAfter } from '../src/lib/retry-after';
import { createUnosendProvider } from '../src/providers/unosend/unosend-provider';
import { providerError, sentOutcome } from './helpers/provider-tests';

let database: TestDatabase;
let unosend: FakeUnosend;

beforeAll(async () => {
  database = await createTestDatabase();
  unosend = await startFakeUnosend();
});

afterAll(async () => {
  await unosend.close();
  await database.drop();
});

const sms = (overrides: Partial<Parameters<ReturnType<typeof createUnosendProvider>['send']>[0]> = {}) => ({
  messageId: 'msg_test',
  to: '+447700900123',
  body: 'Your code is 123456',
  idempotencyKey: 'auth-message/msg_test',
  ...overrides,
});

const sendError = (provider: ReturnType<typeof createUnosendProvider>, message = sms()) => providerError(provider.send(message));

describe('Unosend adapter against the fake API', () => {
  const provider = () => createUnosendProvider({ apiKey: FAKE_UNOSEND_KEY, apiUrl: unosend.url, timeoutMs: 500 });

  it('sends to, body and our message id, with the Bearer key, and reads the array shape', async () => {
    const before = unosend.sends().length;
    const result = await sentOutcome(provider().send(sms({ messageId: 'msg_array' })));
    expect(result.providerMessageId).toMatch(/^sms_fake_/);
    const request = unosend.sends()[before]!;
    expect(request.headers.authorization).toBe(`Bearer ${FAKE_UNOSEND_KEY}`);
    expect(request.json).toEqual({ to: '+447700900123', body: 'Your code is 123456', metadata: { message_id: 'msg_array' } });
  });

  it('reads the single-object shape too', async () => {
    unosend.setShape('object');
    try {
      expect((await sentOutcome(provider().send(sms()))).providerMessageId).toMatch(/^sms_fake_/);
    } finally {
      unosend.setShape('array');
    }
  });

  it('refuses a number that is not E.164 without calling Unosend', async () => {
    const before = unosend.requests.length;
    const err = await sendError(provider(), sms({ to: '07700900123' }));
    expect(err).toMatchObject({ kind: 'failed', code: 'invalid_recipient' });
    expect(unosend.requests.length).toBe(before);
  });

  it('treats 429 as a provider-wide transient error after Retry-After', async () => {
    unosend.failNext({
      status: 429,
      headers: { 'retry-after': '7' },
      body: { error: { code: 'rate_limit_exceeded', message: 'Slow down', status: 429 }, retry_after: 7 },
    });
    expect(await sendError(provider())).toMatchObject({ kind: 'rate_limited', retryAfterMs: 7000, status: 429 });
  });

  it('takes retry_after from the body when the header is missing', async () => {
    unosend.failNext({ status: 429, body: { error: { code: 'rate_limit_exceeded', message: 'Slow down' }, retry_after: 3 } });
    expect(await sendError(provider())).toMatchObject({ retryAfterMs: 3000 });
  });

  it.each([
    [500, 'retry'],
    [503, 'retry'],
    [401, 'fail_over'],
    [402, 'fail_over'],
    [403, 'fail_over'],
    [400, 'failed'],
    [422, 'failed'],
  ])('classifies HTTP %i as %s', async (status, kind) => {
    unosend.failNext({ status, body: { error: { code: 'some_code', message: 'nope', status } } });
    expect(await sendError(provider())).toMatchObject({ kind, status, code: 'some_code' });
  });

  it('a wrong key is a permanent error another provider can fix', async () => {
    const wrongKey = createUnosendProvider({ apiKey: 'un_wrong', apiUrl: unosend.url, timeoutMs: 500 });
    expect(await sendError(wrongKey)).toMatchObject({ kind: 'fail_over', code: 'invalid_api_key' });
  });

  it('times out a hanging request as transient', async () => {
    unosend.failNext({ status: 200, hang: true });
    expect(await sendError(provider())).toMatchObject({ kind: 'retry', code: 'timeout' });
  });

  it('treats an unreachable API as transient', async () => {
    const down = createUnosendProvider({ apiKey: FAKE_UNOSEND_KEY, apiUrl: 'http://127.0.0.1:9', timeoutMs: 500 });
    expect(await sendError(down)).toMatchObject({ kind: 'retry', code: 'network_error' });
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('2', 0)).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
  });
});

describe('Clerk sms.created through Unosend', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness(
      testConfig(database.url, { UNOSEND_API_KEY: FAKE_UNOSEND_KEY, UNOSEND_API_URL: unosend.url, SMS_OTP_MAX_AGE_SECONDS: '120' }),
      { workers: true },
    );
  });
  afterAll(() => harness.close());

  it('reaches Unosend exactly once, even when the webhook is delivered twice', async () => {
    const event = smsCreated({ data: { message: 'Your Acme verification code is 551902' } });
    const body = JSON.stringify(event);
    const headers = svixHeaders(TEST_CLERK_SECRET, body);
    const before = unosend.sends().length;
    const first = await harness.request('/webhooks/clerk', { method: 'POST', headers, body });
    expect(first.status).toBe(202);
    const { message_id } = await json(first);
    expect((await harness.request('/webhooks/clerk', { method: 'POST', headers, body })).status).toBe(200);

    const sent = await waitFor(async () => {
      const m = await database.db.message.findUnique({ where: { id: message_id }, include: { content: true } });
      return m?.status === 'sent' ? m : undefined;
    });
    expect(sent).toMatchObject({ provider: 'unosend', providerMessageId: expect.stringMatching(/^sms_fake_/) });
    // SMS codes expire sooner than email ones: SMS_OTP_MAX_AGE_SECONDS, counted from Clerk's timestamp.
    expect(sent.expiresAt!.getTime() - event.timestamp).toBe(120_000);
    expect(sent.content!.payload).toBeNull();

    const job = await harness.container.queues.send.getJob(message_id);
    await waitFor(async () => (await job?.getState()) === 'completed');
    const ours = unosend
      .sends()
      .slice(before)
      .filter((r) => r.json?.metadata?.message_id === message_id);
    expect(ours).toHaveLength(1);
    expect(ours[0]!.json).toMatchObject({ to: '+447700900123', body: 'Your Acme verification code is 551902' });
    expect(harness.logs.text()).not.toContain('551902');
  });

  it('retries after a 429 and sends once', async () => {
    unosend.failNext({
      status: 429,
      headers: { 'retry-after': '1' },
      body: { error: { code: 'rate_limit_exceeded', message: 'Slow down' } },
    });
    const event = smsCreated();
    const res = await postClerkEvent(harness.request, event);
    const { message_id } = await json(res);
    const sent = await waitFor(
      async () => {
        const m = await database.db.message.findUnique({ where: { id: message_id }, include: { events: true } });
        return m?.status === 'sent' ? m : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(sent.events.filter((e) => e.type === 'send_failed')).toHaveLength(1);
    expect(sent.events.filter((e) => e.type === 'sent')).toHaveLength(1);
    // One request refused with 429, one accepted: the handset gets one SMS.
    expect(unosend.sends().filter((r) => r.json?.metadata?.message_id === message_id)).toHaveLength(2);
  });
});
