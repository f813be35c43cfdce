import { randomBytes } from 'node:crypto';
import { createSmtpProvider } from '../src/providers/smtp/smtp-provider';
import type { OutgoingEmail } from '../src/providers/types';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import type { TestDatabase } from './helpers/db';
import type { Harness } from './helpers/harness';
import { outgoingEmail, providerError, sentOutcome, startProviderHarness, type ProviderHarness } from './helpers/provider-tests';
import { waitFor } from './helpers/wait';
import type { FakeClerk } from './fakes/fake-clerk';
import { SMTP_PASS, SMTP_USER, startSmtpSink, type SmtpSink } from './fakes/smtp-sink';

let sink: SmtpSink;

beforeAll(async () => {
  sink = await startSmtpSink();
});
afterAll(() => sink.close());

// A new id each time: the sink keeps every message, and tests find theirs by it.
const email = (overrides: Partial<OutgoingEmail> = {}): OutgoingEmail =>
  outgoingEmail({ messageId: `msg_${randomBytes(6).toString('hex')}`, ...overrides });

describe('SMTP adapter against a real SMTP server', () => {
  const providers: ReturnType<typeof createSmtpProvider>[] = [];
  const provider = (url = sink.url, timeoutMs = 2_000) => {
    const p = createSmtpProvider({ url, pool: 2, requireTls: false, timeoutMs });
    providers.push(p);
    return p;
  };
  afterAll(() => providers.forEach((p) => p.close()));

  const sendError = (p: ReturnType<typeof createSmtpProvider>, message = email()) => providerError(p.send(message));

  it('logs in and sends our id as Message-ID and X-Entity-Ref-ID, keeping the server reply', async () => {
    const message = email();
    const result = await sentOutcome(provider().send(message));
    expect(result.providerMessageId).toBe(`<${message.messageId}@acme.example>`);
    expect(result.detail).toEqual({ response: expect.stringMatching(/^250 2\.0\.0 Ok: queued as Q\d+/) });
    const mail = sink.received.at(-1)!;
    expect(mail).toMatchObject({ from: 'auth@acme.example', to: ['maria@example.com'] });
    expect(mail.header('Message-ID')).toBe(`<${message.messageId}@acme.example>`);
    expect(mail.header('X-Entity-Ref-ID')).toBe(message.messageId);
    expect(sink.logins.at(-1)).toEqual({ username: SMTP_USER, accepted: true });
  });

  it.each([
    ['451 at DATA', { at: 'data', code: 451, message: '4.3.0 Temporary local problem' }, { kind: 'retry' }],
    ['450 at RCPT', { at: 'rcpt', code: 450, message: '4.2.1 Mailbox busy' }, { kind: 'retry' }],
    ['421 at MAIL FROM', { at: 'mail', code: 421, message: '4.7.0 Try again later, closing connection' }, { kind: 'rate_limited' }],
    ['452 at RCPT', { at: 'rcpt', code: 452, message: '4.5.3 Too many recipients' }, { kind: 'retry' }],
    [
      '554 at DATA (content refused)',
      { at: 'data', code: 554, message: '5.7.1 Message rejected as spam' },
      { kind: 'failed', suppress: undefined },
    ],
    [
      '550 5.1.1 at RCPT (no such user)',
      { at: 'rcpt', code: 550, message: '5.1.1 User unknown' },
      { kind: 'failed', suppress: 'hard_bounce' },
    ],
    ['552 5.2.2 at RCPT (mailbox full)', { at: 'rcpt', code: 552, message: '5.2.2 Mailbox full' }, { kind: 'failed', suppress: undefined }],
    ['553 at MAIL FROM (sender not allowed)', { at: 'mail', code: 553, message: '5.7.1 Sender address rejected' }, { kind: 'fail_over' }],
  ] as const)('maps %s', async (_name, reject, expected) => {
    sink.script({ kind: 'reject', ...reject });
    const before = sink.received.length;
    const err = await sendError(provider());
    // An outcome without `suppress` suppresses nobody: the rows say so as `suppress: undefined`.
    expect({ suppress: undefined, ...err }).toMatchObject({ ...expected, status: reject.code, code: `smtp_${reject.code}` });
    expect(err.raw).toMatchObject({ smtp_code: reject.code, response: expect.stringContaining(reject.message) });
    expect(sink.received.length).toBe(before);
  });

  it('a refused login fails over', async () => {
    const wrong = provider(`smtp://${SMTP_USER}:wrong@127.0.0.1:${sink.port}`);
    expect(await sendError(wrong)).toMatchObject({ kind: 'fail_over', status: 535 });
    expect(sink.logins.at(-1)).toEqual({ username: SMTP_USER, accepted: false });
  });

  it('a connection dropped mid-DATA is transient, nothing was accepted, and the next send goes out', async () => {
    sink.script({ kind: 'drop-mid-data' });
    const p = provider();
    const before = sink.received.length;
    const err = await sendError(p, email({ html: `<p>${'x'.repeat(200_000)}</p>` }));
    expect(err).toMatchObject({ kind: 'retry', code: 'network_error', status: null });
    expect(sink.received.length).toBe(before);
    // nodemailer's own requeue is off: the retry is ours, and the pool recovers for it.
    await p.send(email());
    expect(sink.received.length).toBe(before + 1);
  });

  it('no reply after the whole message is a timeout (the server may hold it)', async () => {
    sink.script({ kind: 'no-reply' });
    expect(await sendError(provider(sink.url, 500))).toMatchObject({ kind: 'retry', code: 'timeout', status: null });
  });

  it('an unreachable server is a network error', async () => {
    expect(await sendError(provider('smtp://127.0.0.1:9', 500))).toMatchObject({ kind: 'retry', code: 'network_error' });
  });

  it('with SMTP_REQUIRE_TLS a server without STARTTLS is refused before any login (fail over)', async () => {
    const strict = createSmtpProvider({ url: sink.url, pool: 1, requireTls: true, timeoutMs: 2_000 });
    providers.push(strict);
    const logins = sink.logins.length;
    expect(await sendError(strict)).toMatchObject({ kind: 'fail_over' });
    expect(sink.logins.length).toBe(logins);
  });
});

describe('Clerk email.created through SMTP', () => {
  let ph: ProviderHarness;
  let database: TestDatabase;
  let clerk: FakeClerk;
  let harness: Harness;
  beforeAll(async () => {
    ph = await startProviderHarness({
      EMAIL_PROVIDERS: 'smtp',
      SMTP_URL: sink.url,
      SMTP_REQUIRE_TLS: 'false',
    });
    ({ database, clerk, harness } = ph);
  });
  afterAll(() => ph.close());
  const settled = (id: string, statuses: string[]) => ph.settled(id, statuses);

  it('is sent once, with the Clerk body, and the timeline shows the server reply', async () => {
    const to = `u-${randomBytes(4).toString('hex')}@example.org`;
    const id = await acceptClerkEvent(harness.request, emailCreated({ to, otp: '551902' }));
    const sent = await settled(id, ['sent', 'failed']);
    expect(sent).toMatchObject({ status: 'sent', provider: 'smtp', providerMessageId: `<${id}@acme.example>` });
    expect(sent.events.find((e) => e.type === 'sent')!.detail).toMatchObject({ response: expect.stringMatching(/^250 /) });
    const mails = sink.received.filter((m) => m.header('X-Entity-Ref-ID') === id);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.raw).toContain('551902');
    expect(harness.logs.text()).not.toContain('551902');
    expect(harness.logs.text()).not.toContain(SMTP_PASS);
  });

  it('a 451 is retried on SMTP and then sent', async () => {
    sink.script({ kind: 'reject', at: 'data', code: 451, message: '4.3.0 Try again' });
    const id = await acceptClerkEvent(harness.request, emailCreated());
    const sent = await settled(id, ['sent', 'failed']);
    expect(sent.status).toBe('sent');
    expect(sent.events.filter((e) => e.type === 'send_failed').map((e) => e.detail)).toEqual([
      expect.objectContaining({ class: 'transient', status: 451, code: 'smtp_451' }),
    ]);
  });

  it('550 5.1.1 fails the message, suppresses the address and tells Clerk', async () => {
    const to = `gone-${randomBytes(4).toString('hex')}@example.org`;
    const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [to]);
    sink.script({ kind: 'reject', at: 'rcpt', code: 550, message: '5.1.1 <gone> User unknown' });
    const id = await acceptClerkEvent(harness.request, emailCreated({ to, data: { user_id: user.id } }));
    const failed = await settled(id, ['sent', 'failed']);
    expect(failed.status).toBe('failed');
    expect(failed.lastError).toContain('5.1.1');
    const suppression = await database.db.suppression.findUniqueOrThrow({
      where: { channel_recipient: { channel: 'email', recipient: to } },
    });
    expect(suppression).toMatchObject({ reason: 'hard_bounce', sourceMessageId: id });
    await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });

    const next = await settled(await acceptClerkEvent(harness.request, emailCreated({ to })), ['suppressed', 'sent', 'failed']);
    expect(next.status).toBe('suppressed');
  });
});
