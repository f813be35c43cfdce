import { randomBytes } from 'node:crypto';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { newSupabaseSecret, sendEmailHook, sendSmsHook, standardWebhookHeaders } from './helpers/supabase';
import { waitFor } from './helpers/wait';

let database: TestDatabase;
let harness: Harness;
const secret = newSupabaseSecret();
const oldSecret = newSupabaseSecret();

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url, { SUPABASE_HOOK_SECRET: `${secret} ${oldSecret}`, APP_NAME: 'Acme' }), {
    workers: true,
  });
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const post = (body: string, headers: Record<string, string>) => harness.request('/webhooks/supabase', { method: 'POST', headers, body });
const signed = (payload: unknown, opts?: Parameters<typeof standardWebhookHeaders>[2], key = secret) => {
  const body = JSON.stringify(payload);
  return post(body, standardWebhookHeaders(key, body, opts));
};

/** The messages a hook call recorded, by user id, with what was sent (the outbox keeps full bodies). */
async function sentFor(userId: string, count = 1) {
  const messages = await waitFor(async () => {
    const rows = await database.db.message.findMany({
      where: { userId },
      include: { outbox: true, content: true },
      orderBy: { recipient: 'asc' },
    });
    return rows.length === count && rows.every((r) => r.outbox && r.status === 'sent') ? rows : undefined;
  });
  return messages;
}

async function expectOk(res: Response): Promise<void> {
  expect(res.status).toBe(200);
  // GoTrue accepts a 200 only with exactly this content type.
  expect(res.headers.get('content-type')).toBe('application/json');
  expect(await res.text()).toBe('{}');
}

const link = (tokenHash: string, type: string) =>
  `https://abcdefgh.supabase.co/auth/v1/verify?token=${tokenHash}&type=${type}&redirect_to=${encodeURIComponent('https://app.example.com/welcome')}`;

describe('Send Email hook', () => {
  it.each([
    ['signup', 'Confirm your email address for Acme'],
    ['invite', 'You have been invited to join Acme'],
    ['magiclink', 'Your sign-in link for Acme'],
    ['recovery', 'Reset your Acme password'],
  ])('%s: a link to GoTrue /verify and the code', async (action, subject) => {
    const payload = sendEmailHook(action);
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    const expectedLink = link(payload.email_data.token_hash, action);
    expect(message).toMatchObject({
      source: 'supabase',
      channel: 'email',
      recipient: payload.user.email,
      template: `supabase_${action}`,
      status: 'sent',
    });
    expect(message!.outbox).toMatchObject({ to: payload.user.email, subject });
    expect(message!.outbox!.text).toContain(expectedLink);
    expect(message!.outbox!.text).toContain('305805');
    expect(message!.outbox!.html).toContain(expectedLink.replace(/&/g, '&amp;'));
    // What the log keeps has neither the code nor the link.
    const redacted = JSON.stringify(message!.content!.redacted);
    expect(redacted).not.toContain('305805');
    expect(redacted).not.toContain(payload.email_data.token_hash);
    expect(message!.content!.payload).toBeNull();
    expect(message!.expiresAt).not.toBeNull();
  });

  it.each([
    ['email', '305805 is your Acme sign-in code', '[redacted] is your Acme sign-in code'],
    ['reauthentication', 'Confirm it is you on Acme', 'Confirm it is you on Acme'],
  ])('%s: the code alone', async (action, subject, loggedSubject) => {
    const payload = sendEmailHook(action);
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message!.outbox).toMatchObject({ to: payload.user.email, subject });
    expect(message!.outbox!.text).toContain('305805');
    expect(message!.outbox!.text).not.toContain('/auth/v1/verify');
    expect(message!.subject).toBe(loggedSubject);
  });

  it('email_change with secure change on: two emails, with the swapped token fields', async () => {
    const payload = sendEmailHook('email_change', {
      user: { email: 'old@example.com', new_email: 'new@example.com' },
      email_data: { token: '111111', token_hash: 'hash_for_new_address', token_new: '222222', token_hash_new: 'hash_for_current_address' },
    });
    await expectOk(await signed(payload));
    const [toNew, toOld] = await sentFor(payload.user.id, 2);
    expect(toOld!.outbox).toMatchObject({ to: 'old@example.com', subject: 'Confirm the change of your Acme email address' });
    expect(toOld!.outbox!.text).toContain('111111');
    expect(toOld!.outbox!.text).toContain(link('hash_for_current_address', 'email_change'));
    expect(toNew!.outbox).toMatchObject({ to: 'new@example.com', subject: 'Confirm your new email address for Acme' });
    expect(toNew!.outbox!.text).toContain('222222');
    expect(toNew!.outbox!.text).toContain(link('hash_for_new_address', 'email_change'));
  });

  it('email_change with secure change off: one email, to the new address', async () => {
    const payload = sendEmailHook('email_change', {
      user: { email: 'old2@example.com', new_email: 'new2@example.com' },
      email_data: { token: '333333', token_hash: 'hash_new_only' },
    });
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message!.outbox).toMatchObject({ to: 'new2@example.com' });
    expect(message!.outbox!.text).toContain('333333');
    expect(message!.outbox!.text).toContain(link('hash_new_only', 'email_change'));
  });

  it('email_change with secure change off from a GoTrue that puts the new code in token_new', async () => {
    const payload = sendEmailHook('email_change', {
      user: { email: 'old3@example.com', new_email: 'new3@example.com' },
      email_data: { token: '', token_new: '444444', token_hash: 'hash_new_only_3', token_hash_new: '' },
    });
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message!.outbox).toMatchObject({ to: 'new3@example.com' });
    expect(message!.outbox!.text).toContain('444444');
    expect(JSON.stringify(message!.content!.redacted)).not.toContain('444444');
  });

  it.each([
    'password_changed_notification',
    'email_changed_notification',
    'phone_changed_notification',
    'identity_linked_notification',
    'identity_unlinked_notification',
    'mfa_factor_enrolled_notification',
    'mfa_factor_unenrolled_notification',
  ])('%s: a notice, not code-bearing', async (action) => {
    const payload = sendEmailHook(action, { email_data: { token: '', token_hash: '', old_email: 'previous@example.com' } });
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message).toMatchObject({ template: `supabase_${action}`, expiresAt: null });
    expect(message!.outbox!.to).toBe(action === 'email_changed_notification' ? 'previous@example.com' : payload.user.email);
  });

  it('still delivers the code of an action type GoTrue added later', async () => {
    const payload = sendEmailHook('some_future_otp', { email_data: { token: '818283' } });
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message).toMatchObject({ template: 'supabase_email', recipient: payload.user.email });
    expect(message!.outbox!.text).toContain('818283');
  });

  it('acknowledges a notification it has no template for, and says so in the log', async () => {
    const payload = sendEmailHook('passkey_added_notification', { email_data: { token: '', token_hash: '' } });
    await expectOk(await signed(payload));
    expect(await database.db.message.count({ where: { userId: payload.user.id } })).toBe(0);
    await waitFor(() => harness.logs.text().includes('passkey_added_notification'));
    expect(harness.logs.text()).toMatch(/"level":"warn"[^\n]*passkey_added_notification[^\n]*not delivered/);
  });

  it('builds the link from a site_url that already ends in /auth/v1', async () => {
    const payload = sendEmailHook('magiclink', { email_data: { site_url: 'https://abcdefgh.supabase.co/auth/v1/' } });
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message!.outbox!.text).toContain(link(payload.email_data.token_hash, 'magiclink'));
  });
});

describe('Send SMS hook', () => {
  it('sends the OTP to the user phone in E.164', async () => {
    const payload = sendSmsHook({ otp: '907215', phone: '447700900456' });
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message).toMatchObject({ channel: 'sms', recipient: '+447700900456', template: 'supabase_sms', source: 'supabase' });
    expect(message!.outbox).toMatchObject({ to: '+447700900456', text: 'Your Acme code is 907215. Never share it.' });
    expect(JSON.stringify(message!.content!.redacted)).not.toContain('907215');
    // SMS codes get SMS_OTP_MAX_AGE_SECONDS (300 s by default).
    const lifetime = message!.expiresAt!.getTime() - message!.createdAt.getTime();
    expect(lifetime).toBeLessThanOrEqual(300_000);
    expect(lifetime).toBeGreaterThan(290_000);
    expect(harness.logs.text()).not.toContain('907215');
  });

  it('answers 422 in Supabase error shape when there is no phone number', async () => {
    const payload = sendSmsHook({ phone: '' });
    const res = await signed(payload);
    expect(res.status).toBe(422);
    expect(await json(res)).toEqual({ error: { code: 'invalid_request', http_code: 422, message: expect.stringMatching(/phone/) } });
  });
});

describe('signature', () => {
  it('rejects another secret with 401 in Supabase error shape', async () => {
    const res = await signed(sendEmailHook('signup'), undefined, newSupabaseSecret());
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await json(res)).toEqual({ error: { code: 'invalid_signature', http_code: 401, message: expect.stringMatching(/signature/i) } });
  });

  it('rejects a tampered body', async () => {
    const payload = sendEmailHook('signup');
    const body = JSON.stringify(payload);
    const headers = standardWebhookHeaders(secret, body);
    const res = await post(body.replace(payload.user.email, 'attacker@evil.example'), headers);
    expect(res.status).toBe(401);
    expect(await database.db.message.count({ where: { userId: payload.user.id } })).toBe(0);
  });

  it('rejects missing headers and a stale timestamp', async () => {
    const body = JSON.stringify(sendEmailHook('signup'));
    expect((await post(body, { 'content-type': 'application/json' })).status).toBe(401);
    const stale = await signed(sendEmailHook('signup'), { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(stale.status).toBe(401);
  });

  it('accepts any configured secret (rotation), and several signatures in one header', async () => {
    await expectOk(await signed(sendEmailHook('signup'), undefined, oldSecret));
    const payload = sendEmailHook('signup');
    const body = JSON.stringify(payload);
    const id = `msg_${randomBytes(6).toString('hex')}`;
    const headers = standardWebhookHeaders(secret, body, { id, extraSignatures: ['v1,bm90LWEtc2lnbmF0dXJl'] });
    await expectOk(await post(body, headers));
  });

  it('answers 503 naming SUPABASE_HOOK_SECRET when it is not set', async () => {
    const off = await startHarness(testConfig(database.url));
    try {
      const body = JSON.stringify(sendEmailHook('signup'));
      const res = await off.request('/webhooks/supabase', { method: 'POST', headers: standardWebhookHeaders(secret, body), body });
      expect(res.status).toBe(503);
      expect((await json(res)).error).toEqual({
        code: 'not_configured',
        http_code: 503,
        message: expect.stringMatching(/SUPABASE_HOOK_SECRET/),
      });
    } finally {
      await off.close();
    }
  });

  it('refuses a secret that does not look like v1,whsec_… at start-up', () => {
    expect(() => testConfig(database.url, { SUPABASE_HOOK_SECRET: 'whsec_abc' })).toThrow(/SUPABASE_HOOK_SECRET/);
  });
});

describe('dedupe', () => {
  it('records one message per metadata.uuid, whatever the webhook-id of each retry', async () => {
    const payload = sendEmailHook('magiclink');
    const responses = await Promise.all([1, 2, 3].map(() => signed(payload)));
    for (const res of responses) await expectOk(res);
    await sentFor(payload.user.id);
    expect(await database.db.message.count({ where: { userId: payload.user.id } })).toBe(1);
  });

  it('records both email_change messages once on a retry', async () => {
    const payload = sendEmailHook('email_change', {
      user: { email: 'a@example.com', new_email: 'b@example.com' },
      email_data: { token_new: '444444', token_hash_new: 'hash_current_2' },
    });
    await expectOk(await signed(payload));
    await expectOk(await signed(payload));
    await sentFor(payload.user.id, 2);
    expect(await database.db.message.count({ where: { userId: payload.user.id } })).toBe(2);
  });

  it('falls back to user, action and token hash for payloads without metadata', async () => {
    const payload = sendEmailHook('recovery', { withMetadata: false });
    await expectOk(await signed(payload));
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(message!.externalId).toMatch(/^supabase:h_[0-9a-f]{32}$/);
    expect(await database.db.message.count({ where: { userId: payload.user.id } })).toBe(1);
  });

  it('dedupes an SMS hook without metadata without keeping a reversible hash of the code', async () => {
    const payload = sendSmsHook({ withMetadata: false, otp: '123123' });
    await expectOk(await signed(payload));
    await expectOk(await signed(payload));
    const [message] = await sentFor(payload.user.id);
    expect(await database.db.message.count({ where: { userId: payload.user.id } })).toBe(1);
    expect(message!.externalId).not.toContain('123123');
  });
});
