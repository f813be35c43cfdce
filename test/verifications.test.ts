import * as crypto from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_API_KEY, TEST_VERIFICATION_SECRET, postV1 } from './helpers/api';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';
import { FAKE_UNOSEND_KEY, startFakeUnosend, type FakeUnosend } from './fakes/fake-unosend';
import { createTemplates, TemplateError } from '../src/templates/templates';

let database: TestDatabase;
let harness: Harness;
let counter = 0;

const baseEnv = { API_KEYS: TEST_API_KEY, VERIFICATION_SECRET: TEST_VERIFICATION_SECRET, APP_NAME: 'Acme' };

/** A recipient no other test uses, so limits and cooldowns do not leak between tests. */
const phone = (): string => `+4477009${String(10000 + (++counter % 90000)).padStart(5, '0')}`;
const email = (): string => `user${++counter}-${crypto.randomBytes(3).toString('hex')}@example.com`;

beforeAll(async () => {
  database = await createTestDatabase();
  // No workers: the code is read from the message's clear payload, before anything sends it.
  harness = await startHarness(testConfig(database.url, baseEnv));
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

/** The code a verification sent, read from its message's clear payload (what the provider would receive). */
async function codeOf(messageId: string): Promise<string> {
  const content = await database.db.messageContent.findUniqueOrThrow({ where: { messageId } });
  const payload = content.payload as { channel: string; body?: string; text?: string };
  const match = (payload.body ?? payload.text ?? '').match(/\b(\d{6})\b/);
  if (!match) throw new Error('no code in the message');
  return match[1]!;
}

// Tests assert on the shape of JSON answers (as helpers/harness.ts's `json`).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function issue(body: Record<string, unknown>, on: Harness = harness): Promise<{ res: Response; body: any }> {
  const res = await postV1(on, '/verifications', body);
  return { res, body: await json(res) };
}

const check = async (body: Record<string, unknown>, on: Harness = harness) => {
  const res = await postV1(on, '/verifications/check', body);
  return { status: res.status, body: await json(res) };
};

const wrongCode = (code: string): string => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe('issuing', () => {
  it('sends a 6-digit code by SMS, rendered from the template, and stores only its HMAC', async () => {
    const to = phone();
    const { res, body } = await issue({ channel: 'sms', to, purpose: 'login' });
    expect(res.status).toBe(201);
    expect(body).toEqual({
      verification_id: expect.stringMatching(/^ver_/),
      status: 'pending',
      channel: 'sms',
      to,
      purpose: 'login',
      expires_at: expect.any(String),
      message_id: expect.stringMatching(/^msg_/),
    });
    const code = await codeOf(body.message_id);
    const message = await database.db.message.findUniqueOrThrow({ where: { id: body.message_id }, include: { content: true } });
    expect(message).toMatchObject({ source: 'verification', channel: 'sms', recipient: to, template: 'verification_login' });
    expect((message.content!.payload as { body: string }).body).toBe(
      `Your verification code for Acme is ${code}. It expires in 5 minutes. Never share it.`,
    );
    expect(JSON.stringify(message.content!.redacted)).not.toContain(code);
    // The message dies with the code.
    expect(message.expiresAt!.toISOString()).toBe(body.expires_at);

    const row = await database.db.verification.findUniqueOrThrow({ where: { id: body.verification_id } });
    expect(row.codeHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.codeHash).not.toContain(code);
    expect(JSON.stringify(row)).not.toContain(code);
    expect(harness.logs.text()).not.toContain(code);
  });

  it('sends the code by email with HTML and text parts', async () => {
    const to = email();
    const { res, body } = await issue({ channel: 'email', to, purpose: 'email_verification' });
    expect(res.status).toBe(201);
    const content = await database.db.messageContent.findUniqueOrThrow({ where: { messageId: body.message_id } });
    const payload = content.payload as { subject: string; html: string; text: string };
    const code = await codeOf(body.message_id);
    expect(payload.subject).toBe(`${code} is your verification code`);
    expect(payload.html).toContain(code);
    expect(payload.html).toContain('Acme');
    expect(payload.text).toContain('It expires in 10 minutes');
  });

  it.each([
    ['login', 300],
    ['2fa', 300],
    ['phone_verification', 600],
    ['magic_link', 600],
    ['password_reset', 900],
  ])('a %s code lives %i s', async (purpose, seconds) => {
    const { body } = await issue({ channel: 'email', to: email(), purpose });
    const row = await database.db.verification.findUniqueOrThrow({ where: { id: body.verification_id } });
    expect((row.expiresAt.getTime() - row.createdAt.getTime()) / 1000).toBe(seconds);
  });

  it('takes code lifetimes from VERIFICATION_EXPIRY and the length from VERIFICATION_CODE_LENGTH', async () => {
    const custom = await startHarness(
      testConfig(database.url, { ...baseEnv, VERIFICATION_EXPIRY: 'login=120, password_reset=1800', VERIFICATION_CODE_LENGTH: '8' }),
    );
    try {
      for (const [purpose, seconds] of [
        ['login', 120],
        ['password_reset', 1800],
        ['2fa', 300],
      ] as const) {
        const { body } = await issue({ channel: 'sms', to: phone(), purpose }, custom);
        const row = await database.db.verification.findUniqueOrThrow({ where: { id: body.verification_id } });
        expect((row.expiresAt.getTime() - row.createdAt.getTime()) / 1000).toBe(seconds);
        const message = await database.db.message.findUniqueOrThrow({ where: { id: body.message_id }, include: { content: true } });
        expect(message.expiresAt).toEqual(row.expiresAt);
        const text = (message.content!.payload as { body: string }).body;
        expect(text).toMatch(/\b\d{8}\b/);
        expect(text).toContain(`It expires in ${seconds / 60} minutes.`);
      }
    } finally {
      await custom.close();
    }
  });

  it('validates the request', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ channel: 'sms', to: '07700900123', purpose: 'login' }, /to: must be an E\.164/],
      [{ channel: 'email', to: 'not-an-email', purpose: 'login' }, /to: must be an email address/],
      [{ channel: 'email', to: email(), purpose: 'lunch' }, /purpose/],
      [{ channel: 'fax', to: email(), purpose: 'login' }, /channel/],
      [{ channel: 'email', to: email(), purpose: 'login', email: 'x@example.com' }, /email/],
    ];
    for (const [body, message] of cases) {
      const { res, body: answer } = await issue(body);
      expect(res.status).toBe(422);
      expect(answer.error.message).toMatch(message);
    }
  });

  it('answers 503 naming VERIFICATION_SECRET when it is not set', async () => {
    const unconfigured = await startHarness(testConfig(database.url, { API_KEYS: TEST_API_KEY }));
    try {
      const { res, body } = await issue({ channel: 'email', to: email(), purpose: 'login' }, unconfigured);
      expect(res.status).toBe(503);
      expect(body.error.message).toMatch(/VERIFICATION_SECRET/);
    } finally {
      await unconfigured.close();
    }
  });

  it('needs an API key', async () => {
    const res = await harness.request('/v1/verifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'email', to: email(), purpose: 'login' }),
    });
    expect(res.status).toBe(401);
  });
});

describe('checking', () => {
  it('accepts the right code once', async () => {
    const to = phone();
    const { body } = await issue({ channel: 'sms', to, purpose: '2fa' });
    const code = await codeOf(body.message_id);
    const first = await check({ verification_id: body.verification_id, code });
    expect(first).toEqual({
      status: 200,
      body: { verified: true, verification_id: body.verification_id, channel: 'sms', to, purpose: '2fa' },
    });
    const again = await check({ verification_id: body.verification_id, code });
    expect(again.status).toBe(422);
    expect(again.body.error.code).toBe('invalid_code');
    const row = await database.db.verification.findUniqueOrThrow({ where: { id: body.verification_id } });
    expect(row).toMatchObject({ status: 'verified', codeHash: null });
  });

  it('accepts only one of two racing checks with the right code', async () => {
    const { body } = await issue({ channel: 'email', to: email(), purpose: 'login' });
    const code = await codeOf(body.message_id);
    const results = await Promise.all([1, 2, 3].map(() => check({ verification_id: body.verification_id, code })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 422, 422]);
  });

  it('looks a code up by recipient and purpose', async () => {
    const to = email();
    const { body } = await issue({ channel: 'email', to, purpose: 'password_reset' });
    const code = await codeOf(body.message_id);
    expect((await check({ to: to.toUpperCase(), purpose: 'login', code })).status).toBe(422);
    expect((await check({ to: to.toUpperCase(), purpose: 'password_reset', code })).status).toBe(200);
  });

  it('accepts a code and a phone number written the way people type them', async () => {
    const to = phone();
    const { body } = await issue({ channel: 'sms', to, purpose: 'login' });
    const code = await codeOf(body.message_id);
    const spaced = `${to.slice(0, 3)} ${to.slice(3, 7)} (${to.slice(7, 10)})-${to.slice(10)}`;
    expect((await check({ to: spaced, purpose: 'login', code: ` ${code.slice(0, 3)} ${code.slice(3)}-` })).status).toBe(200);
  });

  it('gives a wrong code and an unknown recipient the same answer', async () => {
    const to = phone();
    const { body } = await issue({ channel: 'sms', to, purpose: 'login' });
    const code = await codeOf(body.message_id);
    const wrong = await check({ to, purpose: 'login', code: wrongCode(code) });
    const unknown = await check({ to: phone(), purpose: 'login', code });
    const unknownId = await check({ verification_id: 'ver_01NOPE', code });
    expect(wrong).toEqual({
      status: 422,
      body: { error: { code: 'invalid_code', message: 'The code is wrong, has expired or was already used' } },
    });
    expect(unknown).toEqual(wrong);
    expect(unknownId).toEqual(wrong);
  });

  it('refuses an expired code with the same answer', async () => {
    const { body } = await issue({ channel: 'email', to: email(), purpose: 'login' });
    const code = await codeOf(body.message_id);
    // Time passes: the code's lifetime ends.
    await database.db.verification.update({ where: { id: body.verification_id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const res = await check({ verification_id: body.verification_id, code });
    expect(res).toEqual({ status: 422, body: { error: { code: 'invalid_code', message: expect.any(String) } } });
    // The sweeper then drops even the HMAC of the expired code.
    await harness.container.sweeper.sweep();
    expect((await database.db.verification.findUniqueOrThrow({ where: { id: body.verification_id } })).codeHash).toBeNull();
  });

  it('burns the code after 5 wrong attempts, then refuses even the right one with 429', async () => {
    const { body } = await issue({ channel: 'email', to: email(), purpose: 'login' });
    const code = await codeOf(body.message_id);
    for (let i = 0; i < 4; i++) {
      expect((await check({ verification_id: body.verification_id, code: wrongCode(code) })).status).toBe(422);
    }
    const fifth = await check({ verification_id: body.verification_id, code: wrongCode(code) });
    expect(fifth.status).toBe(429);
    expect(fifth.body.error).toEqual({
      code: 'too_many_attempts',
      message: 'Too many wrong codes: this code no longer works; request a new one',
    });
    expect((await check({ verification_id: body.verification_id, code })).status).toBe(429);
    const row = await database.db.verification.findUniqueOrThrow({ where: { id: body.verification_id } });
    expect(row).toMatchObject({ status: 'burnt', codeHash: null, attempts: 5 });
  });

  it('counts parallel wrong guesses atomically', async () => {
    const { body } = await issue({ channel: 'email', to: email(), purpose: 'login' });
    const code = await codeOf(body.message_id);
    const guesses = await Promise.all(
      Array.from({ length: 12 }, () => check({ verification_id: body.verification_id, code: wrongCode(code) })),
    );
    expect(guesses.filter((g) => g.status === 422).length).toBeLessThanOrEqual(4);
    expect((await check({ verification_id: body.verification_id, code })).status).toBe(429);
    expect((await database.db.verification.findUniqueOrThrow({ where: { id: body.verification_id } })).attempts).toBe(5);
  });

  it('burns unknown lookups after the same number of guesses, so 429 reveals nothing either', async () => {
    const to = phone();
    for (let i = 0; i < 4; i++) expect((await check({ to, purpose: 'login', code: '000000' })).status).toBe(422);
    expect((await check({ to, purpose: 'login', code: '000000' })).status).toBe(429);
  });

  it('does not tell a burnt code from an unknown recipient once the code would have expired', async () => {
    const to = phone();
    const { body } = await issue({ channel: 'sms', to, purpose: 'login' });
    const code = await codeOf(body.message_id);
    for (let i = 0; i < 5; i++) await check({ to, purpose: 'login', code: wrongCode(code) });
    expect((await check({ to, purpose: 'login', code })).status).toBe(429);
    // The code's lifetime ends, and so does the memory of misses on the lookup.
    await database.db.verification.update({ where: { id: body.verification_id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const { redis, config } = harness.container;
    const misses = await redis.keys(`${config.QUEUE_PREFIX}:verify:miss:*`);
    if (misses.length > 0) await redis.del(...misses);
    const burnt = await check({ to, purpose: 'login', code });
    const unknown = await check({ to: phone(), purpose: 'login', code });
    expect(burnt).toEqual(unknown);
    expect(burnt.status).toBe(422);
  });

  it('validates the check request', async () => {
    const res = await check({ code: '123456' });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/verification_id and code, or to, purpose and code/);
  });
});

describe('limits', () => {
  it('refuses a second code within the 60 s cooldown, with retry_after and Retry-After', async () => {
    const to = phone();
    expect((await issue({ channel: 'sms', to, purpose: 'login' })).res.status).toBe(201);
    const { res, body } = await issue({ channel: 'sms', to, purpose: 'login' });
    expect(res.status).toBe(429);
    expect(body.error.code).toBe('resend_cooldown');
    expect(body.error.details.retry_after).toBeGreaterThan(0);
    expect(body.error.details.retry_after).toBeLessThanOrEqual(60);
    expect(res.headers.get('retry-after')).toBe(String(body.error.details.retry_after));
  });

  describe('shared by two instances on one Redis', () => {
    let a: Harness;
    let b: Harness;
    const start = async (env: Record<string, string>) => {
      const config = testConfig(database.url, { ...baseEnv, VERIFICATION_RESEND_COOLDOWN_SECONDS: '0', ...env });
      // Same config, same QUEUE_PREFIX: two processes of one deployment.
      [a, b] = await Promise.all([startHarness(config), startHarness(config)]);
    };
    afterEach(async () => {
      await Promise.all([a?.close(), b?.close()]);
    });

    it('allows 3 codes an hour per recipient across both', async () => {
      await start({});
      const to = phone();
      const statuses = [];
      for (const instance of [a, b, a, b]) statuses.push((await issue({ channel: 'sms', to, purpose: 'login' }, instance)).res.status);
      expect(statuses).toEqual([201, 201, 201, 429]);
      const { body } = await issue({ channel: 'sms', to, purpose: 'login' }, a);
      expect(body.error).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/last hour/) });
      expect(body.error.details.retry_after).toBeGreaterThan(3000);
    });

    it('keeps the resend cooldown across both', async () => {
      await start({ VERIFICATION_RESEND_COOLDOWN_SECONDS: '60' });
      const to = email();
      expect((await issue({ channel: 'email', to, purpose: 'login' }, a)).res.status).toBe(201);
      const { res, body } = await issue({ channel: 'email', to, purpose: 'login' }, b);
      expect(res.status).toBe(429);
      expect(body.error.code).toBe('resend_cooldown');
    });

    it('cannot be raced past the limit by parallel requests to both', async () => {
      await start({});
      const to = phone();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => issue({ channel: 'sms', to, purpose: 'login' }, i % 2 ? a : b)),
      );
      expect(results.filter((r) => r.res.status === 201)).toHaveLength(3);
      expect(await database.db.verification.count({ where: { recipient: to } })).toBe(3);
    });

    it('allows 10 codes a day per recipient', async () => {
      await start({ VERIFICATION_LIMIT_PER_HOUR: '100', VERIFICATION_LIMIT_PER_DAY: '4' });
      const to = email();
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await issue({ channel: 'email', to, purpose: 'login' }, i % 2 ? a : b)).res.status);
      expect(statuses).toEqual([201, 201, 201, 201, 429]);
    });

    it('limits codes per client IP', async () => {
      await start({ VERIFICATION_LIMIT_PER_IP_HOUR: '2' });
      const statuses = [];
      for (const instance of [a, b, a]) {
        statuses.push((await issue({ channel: 'email', to: email(), purpose: 'login', client_ip: '198.51.100.7' }, instance)).res.status);
      }
      expect(statuses).toEqual([201, 201, 429]);
      expect((await issue({ channel: 'email', to: email(), purpose: 'login', client_ip: '198.51.100.8' }, b)).res.status).toBe(201);
    });

    it('limits wrong codes per client IP over every recipient, on both instances; right codes cost nothing', async () => {
      await start({ VERIFICATION_CHECK_LIMIT_PER_IP_HOUR: '3' });
      const issued = await Promise.all([phone(), phone(), phone()].map((to) => issue({ channel: 'sms', to, purpose: 'login' })));
      const [first, second, third] = await Promise.all(
        issued.map(async ({ body }) => ({
          id: body.verification_id as string,
          to: body.to as string,
          code: await codeOf(body.message_id),
        })),
      );
      const ip = '203.0.113.9';

      expect((await check({ verification_id: third!.id, code: third!.code, client_ip: ip }, a)).status).toBe(200);
      const wrong = [
        await check({ verification_id: first!.id, code: wrongCode(first!.code), client_ip: ip }, a),
        await check({ to: second!.to, purpose: 'login', code: wrongCode(second!.code), client_ip: ip }, b),
        await check({ to: phone(), purpose: 'login', code: '123456', client_ip: ip }, a),
      ];
      expect(wrong.map((r) => r.body.error.code)).toEqual(['invalid_code', 'invalid_code', 'invalid_code']);

      const res = await postV1(b, '/verifications/check', { verification_id: first!.id, code: first!.code, client_ip: ip });
      const blocked = await json(res);
      expect(res.status).toBe(429);
      expect(blocked.error).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/wrong codes from this IP/) });
      expect(blocked.error.details.retry_after).toBeGreaterThan(3000);
      expect(res.headers.get('retry-after')).toBe(String(blocked.error.details.retry_after));

      // Another IP is not affected, and the blocked attempt did not use up the code.
      expect((await check({ verification_id: first!.id, code: first!.code, client_ip: '203.0.113.10' }, a)).status).toBe(200);
    });

    it('does not limit checks without client_ip by the calling server, which stands for every user', async () => {
      await start({ VERIFICATION_CHECK_LIMIT_PER_IP_HOUR: '2' });
      const statuses = [];
      for (const instance of [a, b, a, b]) statuses.push((await check({ to: phone(), purpose: 'login', code: '123456' }, instance)).status);
      expect(statuses).toEqual([422, 422, 422, 422]);
    });

    it('validates client_ip on a check', async () => {
      await start({});
      const res = await check({ to: phone(), purpose: 'login', code: '123456', client_ip: 'not-an-ip' });
      expect(res.status).toBe(422);
      expect(res.body.error.message).toMatch(/IPv4 or IPv6/);
    });

    it('checks a code issued by one instance on the other, and replaces it with the next one', async () => {
      await start({});
      const to = phone();
      const first = await issue({ channel: 'sms', to, purpose: 'login' }, a);
      const firstCode = await codeOf(first.body.message_id);
      const second = await issue({ channel: 'sms', to, purpose: 'login' }, b);
      const secondCode = await codeOf(second.body.message_id);
      if (firstCode !== secondCode) expect((await check({ to, purpose: 'login', code: firstCode }, b)).status).toBe(422);
      expect((await check({ verification_id: first.body.verification_id, code: firstCode }, a)).status).toBe(422);
      expect((await check({ to, purpose: 'login', code: secondCode }, a)).status).toBe(200);
    });
  });
});

describe('templates', () => {
  it('uses files from TEMPLATES_DIR, most specific first', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'auth-relay-templates-'));
    writeFileSync(path.join(dir, 'verification.sms.txt'), '{{app_name}} code: {{code}}\n');
    writeFileSync(path.join(dir, 'verification_password_reset.sms.txt'), 'Reset code {{code}} ({{expires_in_minutes}} min)');
    const custom = await startHarness(testConfig(database.url, { ...baseEnv, TEMPLATES_DIR: dir }));
    try {
      const login = await issue({ channel: 'sms', to: phone(), purpose: 'login' }, custom);
      const code = await codeOf(login.body.message_id);
      const payload = (await database.db.messageContent.findUniqueOrThrow({ where: { messageId: login.body.message_id } })).payload;
      expect(payload).toEqual({ channel: 'sms', body: `Acme code: ${code}` });
      const reset = await issue({ channel: 'sms', to: phone(), purpose: 'password_reset' }, custom);
      const resetPayload = (await database.db.messageContent.findUniqueOrThrow({ where: { messageId: reset.body.message_id } })).payload;
      expect(resetPayload).toEqual({ channel: 'sms', body: `Reset code ${await codeOf(reset.body.message_id)} (15 min)` });
    } finally {
      await custom.close();
    }
  });

  it('refuses at start-up a template file with an unknown placeholder or name', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'auth-relay-templates-'));
    writeFileSync(path.join(dir, 'verification.html'), '<p>{{cod}}</p>');
    expect(() => createTemplates({ dir, appName: 'Acme' })).toThrow(/verification\.html uses \{\{cod\}\}/);
    const other = mkdtempSync(path.join(tmpdir(), 'auth-relay-templates-'));
    writeFileSync(path.join(other, 'welcome.html'), '<p>hi</p>');
    expect(() => createTemplates({ dir: other, appName: 'Acme' })).toThrow(TemplateError);
  });

  it('escapes values in HTML', () => {
    const templates = createTemplates({ appName: '<Acme & Co>' });
    const rendered = templates.email(['verification'], { code: '123456', expires_in_minutes: '5', purpose: 'sign-in' });
    expect(rendered.html).toContain('&lt;Acme &amp; Co&gt;');
    expect(rendered.text).toContain('<Acme & Co>');
  });
});

describe('SMS failure falls back to email', () => {
  let unosend: FakeUnosend;
  let withWorkers: Harness;

  beforeAll(async () => {
    unosend = await startFakeUnosend();
    withWorkers = await startHarness(
      testConfig(database.url, {
        ...baseEnv,
        UNOSEND_API_KEY: FAKE_UNOSEND_KEY,
        UNOSEND_API_URL: unosend.url,
        SMS_PROVIDERS: 'unosend',
        EMAIL_PROVIDERS: 'outbox',
      }),
      { workers: true },
    );
  });
  afterAll(async () => {
    await withWorkers.close();
    await unosend.close();
  });

  const refuse = () => unosend.failNext({ status: 400, body: { error: { code: 'validation_error', message: 'Number not reachable' } } });

  it('sends the same code by email when the SMS fails, and it verifies', async () => {
    refuse();
    const fallbackTo = email();
    const { res, body } = await issue({ channel: 'sms', to: phone(), purpose: 'login', email: fallbackTo }, withWorkers);
    expect(res.status).toBe(201);
    const sms = await waitFor(async () => {
      const m = await database.db.message.findUnique({ where: { id: body.message_id }, include: { content: true, events: true } });
      return m?.status === 'failed' ? m : undefined;
    });
    // The clear payload (with the fallback inside it) is gone with the failure.
    expect(sms.content!.payload).toBeNull();
    const fallbackEvent = sms.events.find((e) => e.type === 'fallback');
    const fallbackId = (fallbackEvent!.detail as { message_id: string }).message_id;

    const mail = await waitFor(() => database.db.outboxMessage.findUnique({ where: { messageId: fallbackId } }));
    expect(mail).toMatchObject({ channel: 'email', to: fallbackTo });
    const code = mail.text!.match(/\b(\d{6})\b/)![1]!;
    const fallbackMessage = await database.db.message.findUniqueOrThrow({ where: { id: fallbackId }, include: { content: true } });
    expect(fallbackMessage).toMatchObject({ source: 'verification', channel: 'email', recipient: fallbackTo, expiresAt: sms.expiresAt });
    await waitFor(async () => (await database.db.messageContent.findUnique({ where: { messageId: fallbackId } }))?.payload === null);
    expect(JSON.stringify(fallbackMessage.content!.redacted)).not.toContain(code);

    expect((await check({ verification_id: body.verification_id, code }, withWorkers)).status).toBe(200);
  });

  it('does not fall back when fallback is false', async () => {
    refuse();
    const { body } = await issue({ channel: 'sms', to: phone(), purpose: 'login', email: email(), fallback: false }, withWorkers);
    const sms = await waitFor(async () => {
      const m = await database.db.message.findUnique({ where: { id: body.message_id }, include: { events: true } });
      return m?.status === 'failed' ? m : undefined;
    });
    expect(sms.events.map((e) => e.type)).not.toContain('fallback');
    expect(await database.db.message.count({ where: { externalId: `${body.message_id}:fallback` } })).toBe(0);
  });

  /** The email a fallback sent for this SMS message, and the SMS message as it ended. */
  async function fallbackOf(smsMessageId: string) {
    const sms = await waitFor(async () => {
      const m = await database.db.message.findUnique({ where: { id: smsMessageId }, include: { events: true } });
      // The fallback is recorded just before the SMS message is finished.
      const finished = m?.status === 'failed' || m?.status === 'suppressed';
      return finished && m.events.some((e) => e.type === 'fallback') ? m : undefined;
    });
    const fallbackId = (sms.events.find((e) => e.type === 'fallback')!.detail as { message_id: string }).message_id;
    const mail = await waitFor(() => database.db.outboxMessage.findUnique({ where: { messageId: fallbackId } }), { timeoutMs: 15_000 });
    return { sms, mail };
  }

  it('sends the code by email when the phone number is suppressed', async () => {
    const to = phone();
    await database.db.suppression.create({ data: { id: `sup_${counter}`, channel: 'sms', recipient: to, reason: 'manual' } });
    const fallbackTo = email();
    const { body } = await issue({ channel: 'sms', to, purpose: 'login', email: fallbackTo }, withWorkers);
    const { sms, mail } = await fallbackOf(body.message_id);
    expect(sms.status).toBe('suppressed');
    expect(mail).toMatchObject({ channel: 'email', to: fallbackTo });
    const code = mail.text!.match(/\b(\d{6})\b/)![1]!;
    expect((await check({ verification_id: body.verification_id, code }, withWorkers)).status).toBe(200);
  });

  it('sends the code by email at once when every SMS provider is down (circuit open), not after it expires', async () => {
    const fragile = await startHarness(
      testConfig(database.url, {
        ...baseEnv,
        UNOSEND_API_KEY: FAKE_UNOSEND_KEY,
        UNOSEND_API_URL: unosend.url,
        SMS_PROVIDERS: 'unosend',
        EMAIL_PROVIDERS: 'outbox',
        PROVIDER_CIRCUIT_FAILURES: '1',
        PROVIDER_CIRCUIT_OPEN_SECONDS: '600',
      }),
      { workers: true },
    );
    try {
      unosend.failNext({ status: 503, body: { error: { code: 'internal_error', message: 'down' } } });
      const fallbackTo = email();
      const { body } = await issue({ channel: 'sms', to: phone(), purpose: 'login', email: fallbackTo }, fragile);
      const { sms, mail } = await fallbackOf(body.message_id);
      expect(sms.status).toBe('failed');
      expect(sms.lastError).toMatch(/circuit open/);
      expect(sms.events.map((e) => e.type)).toEqual(expect.arrayContaining(['send_failed', 'provider_skipped', 'fallback', 'failed']));
      expect(mail).toMatchObject({ channel: 'email', to: fallbackTo });
    } finally {
      await fragile.close();
    }
  });

  it('sends no email when the SMS goes through', async () => {
    const { body } = await issue({ channel: 'sms', to: phone(), purpose: 'login', email: email() }, withWorkers);
    await waitFor(async () => (await database.db.message.findUnique({ where: { id: body.message_id } }))?.status === 'sent');
    expect(await database.db.message.count({ where: { externalId: `${body.message_id}:fallback` } })).toBe(0);
  });
});
