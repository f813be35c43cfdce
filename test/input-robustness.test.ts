import { randomBytes } from 'node:crypto';
import { TEST_API_KEY, TEST_VERIFICATION_SECRET, postV1 } from './helpers/api';
import { emailCreated, postClerkEvent } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import {
  TEST_AUTOSEND_WEBHOOK_SECRET,
  TEST_RESEND_WEBHOOK_SECRET,
  autosendEvent,
  resendEvent,
  sentMessage,
  signedAutosend,
  signedResend,
} from './helpers/provider-webhooks';
import { newSupabaseSecret, sendEmailHook, standardWebhookHeaders } from './helpers/supabase';
import { svixHeaders } from './helpers/svix';

/**
 * Whatever Postgres refuses about one message (U+0000, a lone UTF-16 surrogate, a key too long for its index,
 * a date out of its range, JSON nested absurdly deep) is that message's 422 alone, from every source; the
 * messages written with it are recorded. Provider events are stored and applied whatever they hold.
 */

let database: TestDatabase;
let harness: Harness;
const supabaseSecret = newSupabaseSecret();

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(
    testConfig(database.url, {
      API_KEYS: TEST_API_KEY,
      VERIFICATION_SECRET: TEST_VERIFICATION_SECRET,
      SUPABASE_HOOK_SECRET: supabaseSecret,
      RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET,
      AUTOSEND_WEBHOOK_SECRET: TEST_AUTOSEND_WEBHOOK_SECRET,
      APP_NAME: 'Acme',
    }),
  );
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const rid = (): string => randomBytes(6).toString('hex');
/** Random, so Postgres cannot compress it into an index entry. */
const overLong = (): string => randomBytes(2000).toString('hex');

const LONE_SURROGATE = 'code \ud800 here';
const NUL = 'code \u0000 here';
const BAD_TEXT: [string, string][] = [
  ['a lone surrogate', LONE_SURROGATE],
  ['U+0000', NUL],
];

const apiEmail = (over: Record<string, unknown> = {}) => ({
  channel: 'email',
  to: `api-${rid()}@example.com`,
  subject: 'Hello',
  text: 'Hello there',
  ...over,
});

const postSupabase = (payload: unknown) => {
  const body = JSON.stringify(payload);
  return harness.request('/webhooks/supabase', { method: 'POST', headers: standardWebhookHeaders(supabaseSecret, body), body });
};

/** Sends the bad request in flight with good ones of the same source: the bad one alone is refused. */
async function aloneRefused(label: unknown, bad: () => Promise<Response>, good: () => Promise<Response>): Promise<void> {
  const [badRes, ...goodRes] = await Promise.all([bad(), good(), good(), good()]);
  expect(goodRes.map((r) => r.status).every((s) => s >= 200 && s < 300)).toBe(true);
  expect([label, badRes!.status]).toEqual([label, 422]);
  expect((await json(badRes!)).error.code).toMatch(/invalid_request/);
}

describe('a message Postgres would refuse is refused alone', () => {
  it('3 bad among 80 in flight together: the 77 good ones are accepted, the 3 bad ones get 422', async () => {
    const requests: { bad: boolean; send: () => Promise<Response> }[] = [];
    for (let i = 0; i < 60; i++)
      requests.push({ bad: i % 30 === 3, send: () => postV1(harness, '/messages', apiEmail(i % 30 === 3 ? { subject: '\ud800' } : {})) });
    for (let i = 0; i < 20; i++) {
      const event = i === 7 ? emailCreated({ data: { subject: '\ud800 is your code' } }) : emailCreated();
      requests.push({ bad: i === 7, send: () => postClerkEvent(harness.request, event) });
    }
    const answers = await Promise.all(requests.map((r) => r.send()));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((_s, i) => requests[i]!.bad)).toEqual([422, 422, 422]);
    expect(statuses.filter((s, i) => !requests[i]!.bad && s >= 200 && s < 300)).toHaveLength(77);
  });

  it.each(BAD_TEXT)('Clerk: %s in any field', async (_what, text) => {
    const fields: Record<string, unknown>[] = [
      { subject: text },
      { body: `<p>${text}</p>` },
      { body_plain: text },
      { from_email_name: text },
      { to_email_address: `a${text}@example.com` },
      { user_id: text },
      { id: `ema_${text}` },
      { slug: text },
      { data: { otp_code: text } },
      { data: { app: { name: text } } },
    ];
    for (const data of fields)
      await aloneRefused(
        data,
        () => postClerkEvent(harness.request, emailCreated({ data })),
        () => postClerkEvent(harness.request, emailCreated()),
      );
    // Kept on the `received` event. (Template data Clerk sends beside the code and app name is not stored: no refusal.)
    await aloneRefused(
      'instance_id',
      () => postClerkEvent(harness.request, { ...emailCreated(), instance_id: text }),
      () => postClerkEvent(harness.request, emailCreated()),
    );
  });

  it('Clerk: an id, user id or slug too long for its index', async () => {
    for (const data of [{ id: overLong() }, { user_id: overLong() }, { slug: overLong() }]) {
      await aloneRefused(
        data,
        () => postClerkEvent(harness.request, emailCreated({ data })),
        () => postClerkEvent(harness.request, emailCreated()),
      );
    }
  });

  it.each(BAD_TEXT)('/v1/messages and /v1/verifications: %s in any field', async (_what, text) => {
    const bodies: Record<string, unknown>[] = [
      { subject: text },
      { text },
      { html: `<p>${text}</p>` },
      { to: `a${text}@example.com` },
      { metadata: { note: text } },
      { metadata: { [`k${text}`]: 'v' } },
    ];
    for (const over of bodies)
      await aloneRefused(
        over,
        () => postV1(harness, '/messages', apiEmail(over)),
        () => postV1(harness, '/messages', apiEmail()),
      );
    const verification = (to: string) => postV1(harness, '/verifications', { channel: 'email', to, purpose: 'login' });
    await aloneRefused(
      'verification',
      () => verification(`v${text}@example.com`),
      () => verification(`v-${rid()}@example.com`),
    );
    await aloneRefused(
      'check',
      () => postV1(harness, '/verifications/check', { to: `v${text}@example.com`, purpose: 'login', code: '123456' }),
      () => postV1(harness, '/messages', apiEmail()),
    );
  });

  it.each(BAD_TEXT)('Supabase: %s in any field', async (_what, text) => {
    const payloads = [
      sendEmailHook('signup', { user: { id: text } }),
      sendEmailHook('signup', { user: { email: `s${text}@example.com` } }),
      sendEmailHook('signup', { email_data: { token: text } }),
      sendEmailHook('signup', { email_data: { site_url: `https://x.example/${text}` } }),
      { ...sendEmailHook('signup'), metadata: { uuid: text } },
    ];
    for (const payload of payloads)
      await aloneRefused(
        payload,
        () => postSupabase(payload),
        () => postSupabase(sendEmailHook('signup')),
      );
  });

  it('Supabase: a metadata.uuid or user id too long for its index', async () => {
    for (const payload of [
      { ...sendEmailHook('signup'), metadata: { uuid: overLong() } },
      sendEmailHook('signup', { user: { id: overLong() } }),
    ]) {
      await aloneRefused(
        payload,
        () => postSupabase(payload),
        () => postSupabase(sendEmailHook('signup')),
      );
    }
  });

  it('the group writer refuses only the row Postgres refuses, when intake did not foresee it', async () => {
    // An expiry in the year 11476 passes every intake check; Postgres cannot parse it.
    const accept = (maxAgeSeconds: number) =>
      harness.container.messages.accept({
        source: 'api',
        recipient: `group-${rid()}@example.com`,
        payload: { channel: 'email', subject: 'Hi', text: 'Hi' },
        secrets: [],
        codeBearing: true,
        maxAgeSeconds,
      });
    const results = await Promise.allSettled([accept(600), accept(600), accept(3e11), accept(600), accept(600), accept(600)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ status: 422, code: 'invalid_request' });
  });
});

describe('provider events are stored and applied whatever they hold', () => {
  async function applied(provider: string, eventIdLike: string) {
    const row = await database.db.providerEvent.findFirstOrThrow({
      where: { provider, eventId: { startsWith: eventIdLike } },
      orderBy: { receivedAt: 'desc' },
    });
    expect(await harness.container.providerEvents.apply(row.id)).toBe('applied');
    return row;
  }

  it.each(BAD_TEXT)(
    'Resend: %s in the bounce, a provider message id too long to index, a date Postgres has no year for',
    async (_what, text) => {
      const message = await sentMessage(database.db, { provider: 'resend', recipient: `bounce-${rid()}@example.com` });
      const bounce = { type: 'Permanent', subType: 'General', message: text, diagnosticCode: [`smtp; 550 5.1.1 ${text}`] };
      const event = {
        ...resendEvent('email.bounced', { email_id: overLong(), tags: { message_id: message.id }, bounce, [`k${text}`]: text }),
        created_at: '0000-01-01T00:00:00Z',
      };
      const { body, headers } = signedResend(event, { id: `msg_${rid()}` });
      const res = await harness.request('/webhooks/resend', { method: 'POST', headers, body });
      expect(res.status).toBe(200);
      const row = await applied('resend', headers['svix-id']!);
      expect(row.providerMessageId).toBeNull();
      expect(await database.db.message.findUniqueOrThrow({ where: { id: message.id } })).toMatchObject({ status: 'bounced' });
      expect(await harness.container.suppressions.active('email', message.recipient)).not.toBeNull();
    },
  );

  it('Autosend: a lone surrogate in the event and a delivery id too long to index', async () => {
    const message = await sentMessage(database.db, {
      provider: 'autosend',
      providerMessageId: `as_${rid()}`,
      recipient: `as-${rid()}@example.com`,
    });
    const event = autosendEvent('email.delivered', { emailId: message.providerMessageId, note: LONE_SURROGATE });
    const deliveryId = `dlv_${randomBytes(1500).toString('hex')}`;
    const { body, headers } = signedAutosend(event, { deliveryId });
    const post = () => harness.request('/webhooks/autosend', { method: 'POST', headers, body });
    expect((await post()).status).toBe(200);
    await applied('autosend', 'sha256:');
    expect(await database.db.message.findUniqueOrThrow({ where: { id: message.id } })).toMatchObject({ status: 'delivered' });
    // Its retry is the same event.
    expect(await json(await post())).toEqual({ received: true, duplicate: true });
  });
});

describe('garbage bodies and out-of-range queries are a 4xx, never a 500 or an error log line', () => {
  const errorLines = () => harness.logs.lines.filter((l) => JSON.parse(l).level >= 50);

  it.each(['gzip', 'deflate', 'br'])(
    'a body that does not decode as %s: 400, on /v1, /api and unauthenticated on /webhooks/*',
    async (encoding) => {
      const before = errorLines().length;
      for (const [path, auth] of [
        ['/v1/messages', `Bearer ${TEST_API_KEY}`],
        ['/api/suppressions', `Bearer ${TEST_ADMIN_TOKEN}`],
        ['/webhooks/clerk', undefined],
        ['/webhooks/resend', undefined],
        ['/webhooks/supabase', undefined],
      ] as const) {
        const res = await harness.request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-encoding': encoding, ...(auth ? { authorization: auth } : {}) },
          body: 'not compressed at all',
        });
        expect([path, res.status, (await json(res)).error.code]).toEqual([path, 400, 'invalid_encoding']);
      }
      expect(errorLines().length).toBe(before);
    },
  );

  it('JSON nested 10,000 levels: 422, on /v1, /api and signed webhooks', async () => {
    const before = errorLines().length;
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const v1 = await harness.request('/v1/messages', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
      body: deep,
    });
    expect(v1.status).toBe(422);
    const api = await harness.request('/api/suppressions', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: deep,
    });
    expect(api.status).toBe(422);
    // Signed as they are: a sender's own bytes.
    const clerkBody = JSON.stringify(emailCreated()).replace(/}$/, `,"deep":${deep}}`);
    const clerk = await harness.request('/webhooks/clerk', {
      method: 'POST',
      headers: svixHeaders(TEST_CLERK_SECRET, clerkBody),
      body: clerkBody,
    });
    expect(clerk.status).toBe(422);
    const resendBody = JSON.stringify(resendEvent('email.delivered')).replace(/}$/, `,"deep":${deep}}`);
    const resend = await harness.request('/webhooks/resend', {
      method: 'POST',
      headers: svixHeaders(TEST_RESEND_WEBHOOK_SECRET, resendBody),
      body: resendBody,
    });
    expect(resend.status).toBe(422);
    expect(errorLines().length).toBe(before);
  });

  it('since=0000-01-01T00:00:00Z on /api/messages: 422 naming the field', async () => {
    const before = errorLines().length;
    const res = await harness.request('/api/messages?since=0000-01-01T00:00:00Z', {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(422);
    expect((await json(res)).error.message).toMatch(/^since: /);
    expect(errorLines().length).toBe(before);
  });
});
