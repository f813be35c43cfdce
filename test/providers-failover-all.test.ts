import { acceptClerkEvent, emailCreated, smsCreated } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { settledMessage } from './helpers/provider-tests';
import { POSTMARK_TOKEN, startFakePostmark, type FakePostmark } from './fakes/fake-postmark';
import { FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY, startFakeSes, type FakeSes } from './fakes/fake-ses';
import { startSmtpSink, type SmtpSink } from './fakes/smtp-sink';
import { FAKE_UNOSEND_KEY, startFakeUnosend, type FakeUnosend } from './fakes/fake-unosend';
import { startFakeTwilio, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM, type FakeTwilio } from './fakes/fake-twilio';

/** Failover from each new provider to each other, in any order of EMAIL_PROVIDERS / SMS_PROVIDERS. */

process.env.AWS_ACCESS_KEY_ID = FAKE_AWS_ACCESS_KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = FAKE_AWS_SECRET_ACCESS_KEY;

let database: TestDatabase;
let sink: SmtpSink;
let ses: FakeSes;
let postmark: FakePostmark;
let twilio: FakeTwilio;
let unosend: FakeUnosend;

beforeAll(async () => {
  database = await createTestDatabase();
  [sink, ses, postmark, twilio, unosend] = await Promise.all([
    startSmtpSink(),
    startFakeSes('eu-west-1'),
    startFakePostmark(),
    startFakeTwilio(),
    startFakeUnosend(),
  ]);
});
afterAll(async () => {
  await Promise.all([sink.close(), ses.close(), postmark.close(), twilio.close(), unosend.close()]);
  await database.drop();
});

const providerEnv = () => ({
  SMTP_URL: sink.url,
  SMTP_REQUIRE_TLS: 'false',
  SES_REGION: 'eu-west-1',
  SES_ENDPOINT: ses.url,
  POSTMARK_SERVER_TOKEN: POSTMARK_TOKEN,
  POSTMARK_API_URL: postmark.url,
  TWILIO_ACCOUNT_SID,
  TWILIO_AUTH_TOKEN,
  TWILIO_FROM,
  TWILIO_API_URL: twilio.url,
  UNOSEND_API_KEY: FAKE_UNOSEND_KEY,
  UNOSEND_API_URL: unosend.url,
  EMAIL_FROM: 'Acme <auth@acme.example>',
});

/** Makes the provider's next send fail with an error another provider can fix (sender or account refused). */
const refuseNext: Record<string, () => void> = {
  smtp: () => sink.script({ kind: 'reject', at: 'mail', code: 553, message: '5.7.1 Sender address rejected: not owned by user' }),
  ses: () => ses.failNext({ status: 400, type: 'SendingPausedException', message: 'Sending is paused for this account' }),
  postmark: () => postmark.failNext({ status: 422, errorCode: 412, message: 'Your Postmark account is pending approval' }),
  twilio: () =>
    twilio.failNext({
      status: 400,
      code: 21606,
      message: "The 'From' phone number provided is not a valid message-capable Twilio phone number",
    }),
  unosend: () => unosend.failNext({ status: 402, body: { error: { code: 'insufficient_balance', message: 'Wallet empty' } } }),
};
const requestsTo: Record<string, () => number> = {
  smtp: () => sink.received.length,
  ses: () => ses.sends().length,
  postmark: () => postmark.sends().length,
  twilio: () => twilio.creates().length,
  unosend: () => unosend.sends().length,
};

const settled = (id: string) => settledMessage(database.db, id, ['sent', 'failed']);

const EMAIL_ORDERS = [
  ['smtp', 'ses'],
  ['smtp', 'postmark'],
  ['ses', 'smtp'],
  ['ses', 'postmark'],
  ['postmark', 'smtp'],
  ['postmark', 'ses'],
] as const;

describe.each([
  ...EMAIL_ORDERS.map(([a, b]) => ['email', a, b] as const),
  ['sms', 'twilio', 'unosend'] as const,
  ['sms', 'unosend', 'twilio'] as const,
])('%s: %s refuses, %s sends', (channel, first, second) => {
  let harness: Harness;
  beforeAll(async () => {
    const chain = channel === 'email' ? { EMAIL_PROVIDERS: `${first},${second}` } : { SMS_PROVIDERS: `${first},${second}` };
    harness = await startHarness(testConfig(database.url, { ...providerEnv(), ...chain }), { workers: true });
  });
  afterAll(() => harness.close());

  it('fails over once and the message goes out through the second provider only', async () => {
    refuseNext[first]!();
    const before = { [second]: requestsTo[second]!() };
    const id = await acceptClerkEvent(harness.request, channel === 'email' ? emailCreated() : smsCreated());
    const message = await settled(id);
    expect(message).toMatchObject({ status: 'sent', provider: second });
    expect(message.events.filter((e) => e.type === 'send_failed').map((e) => e.provider)).toEqual([first]);
    expect(message.events.find((e) => e.type === 'failover')).toMatchObject({ provider: second, detail: { from: first } });
    expect(requestsTo[second]!() - before[second]!).toBe(1);
  });
});

describe('a timeout is not failed over from', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness(
      testConfig(database.url, { ...providerEnv(), EMAIL_PROVIDERS: 'smtp,postmark', PROVIDER_TIMEOUT_MS: '500' }),
      { workers: true },
    );
  });
  afterAll(() => harness.close());

  it('SMTP without a reply after DATA is retried on SMTP, classified like the HTTP providers’ timeouts', async () => {
    sink.script({ kind: 'no-reply' });
    const postmarkBefore = postmark.sends().length;
    const id = await acceptClerkEvent(harness.request, emailCreated());
    const message = await settled(id);
    expect(message).toMatchObject({ status: 'sent', provider: 'smtp' });
    expect(message.events.filter((e) => e.type === 'send_failed').map((e) => e.detail)).toEqual([
      expect.objectContaining({ class: 'transient', code: 'timeout' }),
    ]);
    expect(message.events.some((e) => e.type === 'failover')).toBe(false);
    expect(postmark.sends().length).toBe(postmarkBefore);
  });
});
