import { createTwilioProvider } from '../src/providers/twilio/twilio-provider';
import type { OutgoingSms } from '../src/providers/types';
import { acceptClerkEvent, smsCreated } from './helpers/clerk-events';
import type { TestDatabase } from './helpers/db';
import type { Harness } from './helpers/harness';
import { providerError, sentOutcome, startProviderHarness, type ProviderHarness } from './helpers/provider-tests';
import { logIn } from './helpers/dashboard';
import { waitFor } from './helpers/wait';
import {
  signedTwilioCallback,
  startFakeTwilio,
  TWILIO_ACCOUNT_SID,
  TWILIO_API_KEY,
  TWILIO_API_SECRET,
  TWILIO_AUTH_TOKEN,
  TWILIO_FROM,
  type FakeTwilio,
} from './fakes/fake-twilio';

let fake: FakeTwilio;
beforeAll(async () => {
  fake = await startFakeTwilio();
});
afterAll(() => fake.close());

const PUBLIC_URL = 'https://relay.example.test';
const sms = (overrides: Partial<OutgoingSms> = {}): OutgoingSms => ({
  messageId: 'msg_tw1',
  to: '+447700900123',
  body: 'Your code is 123456',
  idempotencyKey: 'unused',
  ...overrides,
});

describe('Twilio adapter against the fake Messages API', () => {
  const provider = (extra: Partial<Parameters<typeof createTwilioProvider>[0]> = {}) =>
    createTwilioProvider({
      accountSid: TWILIO_ACCOUNT_SID,
      authToken: TWILIO_AUTH_TOKEN,
      from: TWILIO_FROM,
      apiUrl: fake.url,
      publicUrl: PUBLIC_URL,
      timeoutMs: 500,
      ...extra,
    });
  const sendError = (p = provider(), message = sms()) => providerError(p.send(message));

  it('creates the message with To, From, Body and a StatusCallback naming our id', async () => {
    const result = await sentOutcome(provider().send(sms()));
    expect(result.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    const { request, params } = fake.creates().at(-1)!;
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}`).toString('base64')}`);
    expect(Object.fromEntries(params)).toEqual({
      To: '+447700900123',
      From: TWILIO_FROM,
      Body: 'Your code is 123456',
      StatusCallback: `${PUBLIC_URL}/webhooks/twilio/msg_tw1`,
    });
  });

  it('signs with an API key pair and sends through a messaging service', async () => {
    const mg = `MG${'3c'.repeat(16)}`;
    const p = provider({
      authToken: undefined,
      apiKey: TWILIO_API_KEY,
      apiSecret: TWILIO_API_SECRET,
      from: undefined,
      messagingServiceSid: mg,
    });
    expect((await sentOutcome(p.send(sms()))).detail).toMatchObject({ status: 'accepted' });
    const { request, params } = fake.creates().at(-1)!;
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`${TWILIO_API_KEY}:${TWILIO_API_SECRET}`).toString('base64')}`);
    expect(params.get('MessagingServiceSid')).toBe(mg);
    expect(params.get('From')).toBeNull();
  });

  it.each([
    [400, 21211, { kind: 'failed', suppress: undefined }],
    [400, 21610, { kind: 'failed', suppress: 'complaint' }],
    [429, 20429, { kind: 'rate_limited' }],
    [400, 30001, { kind: 'retry' }],
    [503, 20500, { kind: 'retry' }],
    [400, 21606, { kind: 'fail_over' }],
  ] as const)('maps HTTP %i error %i', async (status, code, expected) => {
    fake.failNext({ status, code });
    // An outcome without `suppress` suppresses nobody: the rows say so as `suppress: undefined`.
    expect({ suppress: undefined, ...(await sendError()) }).toMatchObject({ ...expected, status, code: String(code) });
  });

  it('a refused login (20003) fails over', async () => {
    expect(await sendError(provider({ authToken: 'wrong' }))).toMatchObject({ kind: 'fail_over', status: 401, code: '20003' });
  });

  it('no answer is a timeout; an unreachable API a network error', async () => {
    fake.hangNext();
    expect(await sendError()).toMatchObject({ kind: 'retry', code: 'timeout' });
    expect(await sendError(provider({ apiUrl: 'http://127.0.0.1:9' }))).toMatchObject({ kind: 'retry', code: 'network_error' });
  });

  it('verifies status callbacks against the URL and the sorted parameters', async () => {
    const url = `${PUBLIC_URL}/webhooks/twilio/msg_tw1`;
    const params = {
      MessageSid: `SM${'4d'.repeat(16)}`,
      MessageStatus: 'undelivered',
      ErrorCode: '30003',
      To: '+447700900123',
      AccountSid: TWILIO_ACCOUNT_SID,
    };
    const signed = signedTwilioCallback(url, params);
    const event = await provider().parseWebhook(Buffer.from(signed.body), signed.headers, { url });
    expect(event).toMatchObject({
      type: 'failed',
      messageId: 'msg_tw1',
      providerMessageId: params.MessageSid,
      detail: { error_code: '30003' },
    });
    // The same body posted to another URL, or changed, or signed with another token, is refused.
    await expect(async () =>
      provider().parseWebhook(Buffer.from(signed.body), signed.headers, { url: `${PUBLIC_URL}/webhooks/twilio/msg_other` }),
    ).rejects.toMatchObject({ status: 401 });
    await expect(async () =>
      provider().parseWebhook(Buffer.from(signed.body.replace('undelivered', 'delivered')), signed.headers, { url }),
    ).rejects.toMatchObject({ status: 401 });
    const forged = signedTwilioCallback(url, params, 'another-token');
    await expect(async () => provider().parseWebhook(Buffer.from(forged.body), forged.headers, { url })).rejects.toMatchObject({
      status: 401,
    });
  });
});

describe('Clerk sms.created through Twilio', () => {
  let ph: ProviderHarness;
  let database: TestDatabase;
  let harness: Harness;
  beforeAll(async () => {
    ph = await startProviderHarness({
      SMS_PROVIDERS: 'twilio',
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN,
      TWILIO_FROM,
      TWILIO_API_URL: fake.url,
      PUBLIC_URL,
    });
    ({ database, harness } = ph);
  });
  afterAll(() => ph.close());
  const settled = (id: string, statuses: string[]) => ph.settled(id, statuses);

  async function callback(messageId: string, params: Record<string, string>): Promise<Response> {
    const path = `/webhooks/twilio/${messageId}`;
    return harness.request(path, signedTwilioCallback(`${PUBLIC_URL}${path}`, params));
  }

  it('is sent once; its delivered callback lands on the timeline once, a forged one is refused', async () => {
    const id = await acceptClerkEvent(harness.request, smsCreated({ data: { message: 'Your Acme code is 739204' } }));
    const sent = await settled(id, ['sent', 'failed']);
    expect(sent).toMatchObject({ status: 'sent', provider: 'twilio', providerMessageId: expect.stringMatching(/^SM/) });
    expect(fake.creates().filter((c) => c.params.get('StatusCallback')?.endsWith(`/${id}`))).toHaveLength(1);
    expect(harness.logs.text()).not.toContain('739204');

    const sid = sent.providerMessageId!;
    const delivered = { MessageSid: sid, MessageStatus: 'delivered', To: sent.recipient, AccountSid: TWILIO_ACCOUNT_SID };
    expect((await callback(id, delivered)).status).toBe(200);
    expect(await (await callback(id, delivered)).json()).toMatchObject({ duplicate: true });
    const done = await settled(id, ['delivered']);
    expect(done.deliveredAt).not.toBeNull();
    expect(done.events.filter((e) => e.type === 'delivered')).toHaveLength(1);

    const forged = signedTwilioCallback(`${PUBLIC_URL}/webhooks/twilio/${id}`, delivered, 'not-the-token');
    expect((await harness.request(`/webhooks/twilio/${id}`, forged)).status).toBe(401);
  });

  it('an undelivered callback marks the message failed with Twilio’s error code', async () => {
    const id = await acceptClerkEvent(harness.request, smsCreated());
    const sent = await settled(id, ['sent', 'failed']);
    const res = await callback(id, {
      MessageSid: sent.providerMessageId!,
      MessageStatus: 'undelivered',
      ErrorCode: '30005',
      To: sent.recipient,
    });
    expect(res.status).toBe(200);
    const failed = await settled(id, ['failed']);
    expect(failed.lastError).toContain('30005');
  });

  it('the overview shows SMS delivery per provider from the callbacks', async () => {
    // The two tests above: one SMS delivered, one undelivered, both through Twilio.
    const page = await (await (await logIn(harness)).get('/dashboard/overview')).text();
    const row = /<h2>SMS delivery[\s\S]*?<tr><td>twilio<\/td>([\s\S]*?)<\/tr>/.exec(page)?.[1];
    expect(row).toBeDefined();
    expect(
      row!
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    ).toBe('2 50.00 % (1) 50.00 % (1)');
  });

  it('21610 (the number replied STOP) fails the message and suppresses the number', async () => {
    fake.failNext({ status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
    const to = '+447700900555';
    const id = await acceptClerkEvent(harness.request, smsCreated({ data: { to_phone_number: to } }));
    expect((await settled(id, ['sent', 'failed'])).status).toBe('failed');
    expect(
      await waitFor(() => database.db.suppression.findUnique({ where: { channel_recipient: { channel: 'sms', recipient: to } } })),
    ).toMatchObject({
      reason: 'complaint',
      sourceMessageId: id,
    });
    const next = await settled(await acceptClerkEvent(harness.request, smsCreated({ data: { to_phone_number: to } })), [
      'suppressed',
      'sent',
      'failed',
    ]);
    expect(next.status).toBe('suppressed');
  });
});
