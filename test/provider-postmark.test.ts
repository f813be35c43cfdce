import { randomBytes } from 'node:crypto';
import { createPostmarkProvider } from '../src/providers/postmark/postmark-provider';
import type { OutgoingEmail } from '../src/providers/types';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import type { TestDatabase } from './helpers/db';
import type { Harness } from './helpers/harness';
import { outgoingEmail, providerError, sentOutcome, startProviderHarness, type ProviderHarness } from './helpers/provider-tests';
import { waitFor } from './helpers/wait';
import type { FakeClerk } from './fakes/fake-clerk';
import { POSTMARK_TOKEN, startFakePostmark, type FakePostmark } from './fakes/fake-postmark';

const WEBHOOK_USER = 'postmark-hook';
const WEBHOOK_PASSWORD = 'postmark-hook-password-0123';
let fake: FakePostmark;
beforeAll(async () => {
  fake = await startFakePostmark();
});
afterAll(() => fake.close());

const email = (overrides: Partial<OutgoingEmail> = {}): OutgoingEmail =>
  outgoingEmail({
    messageId: 'msg_pm1',
    headers: { 'X-Entity-Ref-ID': 'msg_pm1' },
    tags: [{ name: 'message_id', value: 'msg_pm1' }],
    ...overrides,
  });
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('Postmark adapter against the fake API', () => {
  const provider = (token = POSTMARK_TOKEN) =>
    createPostmarkProvider({
      serverToken: token,
      messageStream: 'outbound',
      apiUrl: fake.url,
      timeoutMs: 500,
      webhookUser: WEBHOOK_USER,
      webhookPassword: WEBHOOK_PASSWORD,
    });
  const sendError = (p = provider()) => providerError(p.send(email()));

  it('sends with the server token, our header, metadata and the message stream', async () => {
    const result = await sentOutcome(provider().send(email()));
    expect(result.providerMessageId).toMatch(/^[0-9a-f-]{36}$/);
    const request = fake.sends().at(-1)!;
    expect(request.headers['x-postmark-server-token']).toBe(POSTMARK_TOKEN);
    expect(request.json).toMatchObject({
      From: 'Acme <auth@acme.example>',
      To: 'maria@example.com',
      MessageStream: 'outbound',
      Headers: [{ Name: 'X-Entity-Ref-ID', Value: 'msg_pm1' }],
      Metadata: { message_id: 'msg_pm1' },
    });
  });

  it.each([
    [422, 406, { kind: 'failed', suppress: 'hard_bounce' }],
    [422, 300, { kind: 'failed', suppress: undefined }],
    [422, 400, { kind: 'fail_over' }],
    [422, 412, { kind: 'fail_over' }],
    [429, 429, { kind: 'rate_limited' }],
    [500, 0, { kind: 'retry' }],
    [503, 0, { kind: 'retry' }],
  ] as const)('maps HTTP %i ErrorCode %i', async (status, errorCode, expected) => {
    fake.failNext({ status, errorCode });
    // An outcome without `suppress` suppresses nobody: the rows say so as `suppress: undefined`.
    expect({ suppress: undefined, ...(await sendError()) }).toMatchObject({ ...expected, status });
  });

  it('a wrong token fails over; no answer is a timeout', async () => {
    expect(await sendError(provider('wrong'))).toMatchObject({ kind: 'fail_over', status: 401 });
    fake.hangNext();
    expect(await sendError()).toMatchObject({ kind: 'retry', code: 'timeout' });
  });

  it('webhooks need the basic-auth credentials', () => {
    const body = Buffer.from(
      JSON.stringify({ RecordType: 'Delivery', MessageID: 'm1', Recipient: 'a@example.com', DeliveredAt: new Date().toISOString() }),
    );
    const request = { url: 'https://relay.example.test/webhooks/postmark' };
    expect(provider().parseWebhook(body, { authorization: basic(WEBHOOK_USER, WEBHOOK_PASSWORD) }, request)).toMatchObject({
      type: 'delivered',
    });
    for (const authorization of [basic(WEBHOOK_USER, 'wrong-password-0123456'), basic('other', WEBHOOK_PASSWORD), 'Bearer x', undefined]) {
      expect(() => provider().parseWebhook(body, { authorization }, request)).toThrow(expect.objectContaining({ status: 401 }));
    }
  });
});

describe('Clerk email.created through Postmark', () => {
  let ph: ProviderHarness;
  let database: TestDatabase;
  let clerk: FakeClerk;
  let harness: Harness;
  beforeAll(async () => {
    ph = await startProviderHarness({
      EMAIL_PROVIDERS: 'postmark',
      POSTMARK_SERVER_TOKEN: POSTMARK_TOKEN,
      POSTMARK_API_URL: fake.url,
      POSTMARK_WEBHOOK_USER: WEBHOOK_USER,
      POSTMARK_WEBHOOK_PASSWORD: WEBHOOK_PASSWORD,
    });
    ({ database, clerk, harness } = ph);
  });
  afterAll(() => ph.close());
  const settled = (id: string, statuses: string[]) => ph.settled(id, statuses);
  const hook = (record: Record<string, unknown>, auth = basic(WEBHOOK_USER, WEBHOOK_PASSWORD)) =>
    harness.request('/webhooks/postmark', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify(record),
    });

  it('is sent; a hard bounce marks it bounced, suppresses and tells Clerk; a repeat is a duplicate', async () => {
    const to = `gone-${randomBytes(4).toString('hex')}@example.org`;
    const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [to]);
    const id = await acceptClerkEvent(harness.request, emailCreated({ to, data: { user_id: user.id } }));
    const sent = await settled(id, ['sent', 'failed']);
    expect(sent).toMatchObject({ status: 'sent', provider: 'postmark' });
    // Postmark's own example ID, past 2^53: it loses its last digits here as JSON.parse loses them in production.
    /* eslint-disable no-loss-of-precision */
    const bounce = {
      RecordType: 'Bounce',
      ID: 4323372036854775807,
      Type: 'HardBounce',
      TypeCode: 1,
      Name: 'Hard bounce',
      MessageID: sent.providerMessageId,
      Metadata: { message_id: id },
      MessageStream: 'outbound',
      Description: 'The server was unable to deliver your message',
      Details: 'smtp;550 5.1.1 unknown user',
      Email: to,
      From: 'auth@acme.example',
      BouncedAt: new Date().toISOString(),
      Inactive: true,
      Subject: '482913 is your code',
    };
    /* eslint-enable no-loss-of-precision */
    expect((await hook(bounce)).status).toBe(200);
    expect(await (await hook(bounce)).json()).toMatchObject({ duplicate: true });
    expect((await hook(bounce, basic(WEBHOOK_USER, 'not-the-password-000'))).status).toBe(401);
    const bounced = await settled(id, ['bounced']);
    expect(bounced.lastError).toMatch(/hard bounce \(HardBounce\)/);
    expect(
      await waitFor(() => database.db.suppression.findUnique({ where: { channel_recipient: { channel: 'email', recipient: to } } })),
    ).toMatchObject({ reason: 'hard_bounce' });
    await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });
    const stored = await database.db.providerEvent.findFirstOrThrow({
      where: { provider: 'postmark', providerMessageId: sent.providerMessageId },
    });
    expect(JSON.stringify(stored.payload)).not.toContain('482913');
  });

  it('delivery, spam complaint and a suppressing SubscriptionChange land on the timeline', async () => {
    const id = await acceptClerkEvent(harness.request, emailCreated());
    const sent = await settled(id, ['sent', 'failed']);
    const base = { MessageID: sent.providerMessageId, MessageStream: 'outbound', Metadata: { message_id: id } };
    expect(
      (await hook({ ...base, RecordType: 'Delivery', Recipient: sent.recipient, DeliveredAt: new Date().toISOString(), Details: '250 OK' }))
        .status,
    ).toBe(200);
    await settled(id, ['delivered']);
    expect(
      (
        await hook({
          ...base,
          RecordType: 'SpamComplaint',
          ID: 42,
          Type: 'SpamComplaint',
          Email: sent.recipient,
          BouncedAt: new Date().toISOString(),
        })
      ).status,
    ).toBe(200);
    await settled(id, ['complained']);
    expect(await database.db.suppression.findFirst({ where: { recipient: sent.recipient } })).toMatchObject({ reason: 'complaint' });
    expect(
      (
        await hook({
          ...base,
          RecordType: 'SubscriptionChange',
          Recipient: sent.recipient,
          ChangedAt: new Date().toISOString(),
          SuppressSending: true,
          SuppressionReason: 'SpamComplaint',
          Origin: 'Recipient',
        })
      ).status,
    ).toBe(200);
    await waitFor(
      async () => (await database.db.messageEvent.count({ where: { messageId: id, type: 'suppressed', provider: 'postmark' } })) === 1,
    );
  });

  it('406 inactive recipient fails the message and suppresses the address', async () => {
    const to = `inactive-${randomBytes(4).toString('hex')}@example.org`;
    fake.failNext({
      status: 422,
      errorCode: 406,
      message: `You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ${to}.`,
    });
    const id = await acceptClerkEvent(harness.request, emailCreated({ to }));
    expect((await settled(id, ['sent', 'failed'])).status).toBe('failed');
    expect(
      await waitFor(() => database.db.suppression.findUnique({ where: { channel_recipient: { channel: 'email', recipient: to } } })),
    ).toMatchObject({ reason: 'hard_bounce', sourceMessageId: id });
  });
});
