import { randomBytes } from 'node:crypto';
import { createSesProvider } from '../src/providers/ses/ses-provider';
import type { OutgoingEmail } from '../src/providers/types';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import type { TestDatabase } from './helpers/db';
import type { Harness } from './helpers/harness';
import { outgoingEmail, providerError, sentOutcome, startProviderHarness, type ProviderHarness } from './helpers/provider-tests';
import { makeSigningCertificate, sesEventMessage, signedSns, SNS_CERT_URL } from './helpers/sns';
import { waitFor } from './helpers/wait';
import type { FakeClerk } from './fakes/fake-clerk';
import { FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY, startFakeSes, type FakeSes } from './fakes/fake-ses';

// The standard AWS credential chain reads these first.
process.env.AWS_ACCESS_KEY_ID = FAKE_AWS_ACCESS_KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = FAKE_AWS_SECRET_ACCESS_KEY;

const REGION = 'us-east-1';
let fake: FakeSes;
const { certPem, keyPem } = makeSigningCertificate();
const fetched: string[] = [];
/** Serves the test's certificate at SNS_CERT_URL and answers subscription confirmations, recording each GET. */
const fetchText = async (url: string): Promise<string> => {
  fetched.push(url);
  if (url === SNS_CERT_URL) return certPem;
  if (url.includes('Action=ConfirmSubscription')) return '<ConfirmSubscriptionResponse/>';
  throw new Error(`unexpected GET ${url}`);
};

beforeAll(async () => {
  fake = await startFakeSes(REGION);
});
afterAll(() => fake.close());

const email = (overrides: Partial<OutgoingEmail> = {}): OutgoingEmail =>
  outgoingEmail({
    messageId: 'msg_ses1',
    headers: { 'X-Entity-Ref-ID': 'msg_ses1' },
    tags: [{ name: 'message_id', value: 'msg_ses1' }],
    ...overrides,
  });

describe('SES adapter against the fake SESv2 API', () => {
  const provider = (timeoutMs = 1_000) =>
    createSesProvider({ region: REGION, endpoint: fake.url, configurationSet: 'auth-events', timeoutMs, fetchText });
  const sendError = (p = provider()) => providerError(p.send(email()));

  it('sends SendEmail, SigV4-signed, with our header, tags and configuration set', async () => {
    const result = await sentOutcome(provider().send(email()));
    expect(result.providerMessageId).toMatch(/^0100/);
    expect(fake.sends().at(-1)!.json).toMatchObject({
      FromEmailAddress: 'Acme <auth@acme.example>',
      Destination: { ToAddresses: ['maria@example.com'] },
      ConfigurationSetName: 'auth-events',
      EmailTags: [{ Name: 'message_id', Value: 'msg_ses1' }],
      Content: { Simple: { Subject: { Data: '482913 is your code' }, Headers: [{ Name: 'X-Entity-Ref-ID', Value: 'msg_ses1' }] } },
    });
  });

  it.each([
    [400, 'MessageRejected', { kind: 'failed' }],
    [400, 'SendingPausedException', { kind: 'fail_over' }],
    [400, 'AccountSuspendedException', { kind: 'fail_over' }],
    [400, 'MailFromDomainNotVerifiedException', { kind: 'fail_over' }],
    [400, 'LimitExceededException', { kind: 'fail_over' }],
    [429, 'TooManyRequestsException', { kind: 'rate_limited' }],
    [500, 'InternalServiceErrorException', { kind: 'retry' }],
  ] as const)('maps %i %s', async (status, type, expected) => {
    fake.failNext({ status, type });
    const before = fake.sends().length;
    expect(await sendError()).toMatchObject({ ...expected, status });
    // One request: the SDK's own retries are off.
    expect(fake.sends().length).toBe(before + 1);
  });

  it('no answer is a timeout', async () => {
    fake.hangNext();
    expect(await sendError(provider(300))).toMatchObject({ kind: 'retry', code: 'timeout' });
  });
});

describe('SNS notifications', () => {
  const parser = () => createSesProvider({ region: REGION, timeoutMs: 1_000, fetchText });
  const parse = (body: string) => parser().parseWebhook(Buffer.from(body), {}, { url: 'https://relay.example.test/webhooks/ses' });

  it.each(['1', '2'] as const)('verifies SignatureVersion %s and maps a permanent bounce', async (version) => {
    const message = sesEventMessage(
      'Bounce',
      { messageId: 'ses-1', to: 'maria@example.com', ourId: 'msg_x' },
      {
        bounce: {
          bounceType: 'Permanent',
          bounceSubType: 'General',
          bouncedRecipients: [{ emailAddress: 'Maria@example.com', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }],
          timestamp: new Date().toISOString(),
        },
      },
    );
    const event = await parse(signedSns(keyPem, 'Notification', { Message: message }, { version }));
    expect(event).toMatchObject({
      type: 'bounced',
      providerMessageId: 'ses-1',
      messageId: 'msg_x',
      recipient: 'maria@example.com',
      bounce: { kind: 'hard', type: 'Permanent' },
    });
    expect(JSON.stringify(event!.raw)).not.toContain('482913');
  });

  it('refuses a tampered message, a certificate off amazonaws.com, and a plain-http certificate URL', async () => {
    const good = JSON.parse(
      signedSns(keyPem, 'Notification', { Message: sesEventMessage('Delivery', { messageId: 'ses-2', to: 'a@example.com' }) }),
    );
    await expect(parse(JSON.stringify({ ...good, Message: good.Message.replace('Delivery', 'Bounce') }))).rejects.toMatchObject({
      status: 401,
    });
    await expect(
      parse(signedSns(keyPem, 'Notification', { Message: '{}' }, { certUrl: 'https://sns.us-east-1.amazonaws.com.evil.example/cert.pem' })),
    ).rejects.toMatchObject({ status: 401 });
    await expect(
      parse(signedSns(keyPem, 'Notification', { Message: '{}' }, { certUrl: 'http://sns.us-east-1.amazonaws.com/cert.pem' })),
    ).rejects.toMatchObject({ status: 401 });
    const other = makeSigningCertificate();
    await expect(parse(signedSns(other.keyPem, 'Notification', { Message: good.Message }))).rejects.toMatchObject({ status: 401 });
  });

  it('confirms a subscription by fetching its SubscribeURL on amazonaws.com only', async () => {
    const subscribeUrl = `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=${randomBytes(8).toString('hex')}`;
    expect(
      await parse(signedSns(keyPem, 'SubscriptionConfirmation', { Message: 'confirm', SubscribeURL: subscribeUrl, Token: 't' })),
    ).toBeNull();
    expect(fetched).toContain(subscribeUrl);
    const evil = signedSns(keyPem, 'SubscriptionConfirmation', {
      Message: 'confirm',
      SubscribeURL: 'https://evil.example/?Action=ConfirmSubscription',
      Token: 't',
    });
    await expect(parse(evil)).rejects.toMatchObject({ status: 401 });
    expect(fetched.some((u) => u.includes('evil.example'))).toBe(false);
  });
});

describe('Clerk email.created through SES', () => {
  let ph: ProviderHarness;
  let database: TestDatabase;
  let clerk: FakeClerk;
  let harness: Harness;
  beforeAll(async () => {
    ph = await startProviderHarness(
      {
        EMAIL_PROVIDERS: 'ses',
        SES_REGION: REGION,
        SES_ENDPOINT: fake.url,
      },
      { snsFetchText: fetchText },
    );
    ({ database, clerk, harness } = ph);
  });
  afterAll(() => ph.close());
  const settled = (id: string, statuses: string[]) => ph.settled(id, statuses);
  const post = (body: string) =>
    harness.request('/webhooks/ses', {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
      body,
    });

  it('is sent; a permanent bounce suppresses the address and tells Clerk; a repeat is a duplicate', async () => {
    const to = `gone-${randomBytes(4).toString('hex')}@example.org`;
    const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [to]);
    const id = await acceptClerkEvent(harness.request, emailCreated({ to, data: { user_id: user.id } }));
    const sent = await settled(id, ['sent', 'failed']);
    expect(sent).toMatchObject({ status: 'sent', provider: 'ses' });
    expect(fake.sends().filter((r) => r.json?.EmailTags?.some((t: { Value: string }) => t.Value === id))).toHaveLength(1);

    const bounce = signedSns(keyPem, 'Notification', {
      Message: sesEventMessage(
        'Bounce',
        { messageId: sent.providerMessageId!, to, ourId: id },
        {
          bounce: {
            bounceType: 'Permanent',
            bounceSubType: 'NoEmail',
            bouncedRecipients: [{ emailAddress: to, diagnosticCode: 'smtp; 550 5.1.1' }],
          },
        },
      ),
    });
    expect((await post(bounce)).status).toBe(200);
    expect(await (await post(bounce)).json()).toMatchObject({ duplicate: true });
    const bounced = await settled(id, ['bounced']);
    expect(bounced.lastError).toMatch(/hard bounce \(Permanent\/NoEmail\)/);
    expect(
      await waitFor(() => database.db.suppression.findUnique({ where: { channel_recipient: { channel: 'email', recipient: to } } })),
    ).toMatchObject({ reason: 'hard_bounce' });
    await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });
  });

  it('a complaint suppresses for good; a delivery marks delivered; a forged notification is 401', async () => {
    const id = await acceptClerkEvent(harness.request, emailCreated());
    const sent = await settled(id, ['sent', 'failed']);
    const delivery = signedSns(keyPem, 'Notification', {
      Message: sesEventMessage(
        'Delivery',
        { messageId: sent.providerMessageId!, to: sent.recipient },
        { delivery: { timestamp: new Date().toISOString(), smtpResponse: '250 ok' } },
      ),
    });
    expect((await post(delivery)).status).toBe(200);
    await settled(id, ['delivered']);
    const complaint = signedSns(keyPem, 'Notification', {
      Message: sesEventMessage(
        'Complaint',
        { messageId: sent.providerMessageId!, to: sent.recipient },
        { complaint: { complaintFeedbackType: 'abuse' } },
      ),
    });
    expect((await post(complaint)).status).toBe(200);
    await settled(id, ['complained']);
    expect(await database.db.suppression.findFirst({ where: { recipient: sent.recipient } })).toMatchObject({
      reason: 'complaint',
      expiresAt: null,
    });
    const forged = signedSns(makeSigningCertificate().keyPem, 'Notification', {
      Message: sesEventMessage('Delivery', { messageId: 'x', to: 'a@b.example' }),
    });
    expect((await post(forged)).status).toBe(401);
  });

  it('a subscription confirmation is confirmed and answered 200', async () => {
    const url = `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=${randomBytes(6).toString('hex')}`;
    const res = await post(
      signedSns(keyPem, 'SubscriptionConfirmation', { Message: 'You have chosen to subscribe', SubscribeURL: url, Token: 'tok' }),
    );
    expect(res.status).toBe(200);
    expect(fetched).toContain(url);
  });
});
