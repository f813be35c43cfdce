import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_REDIS_URL, testConfig } from './helpers/config';
import { csrfFrom, form, logIn, setCookie, type DashboardSession } from './helpers/dashboard';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { seedMessage } from './helpers/seed';
import { TcpProxy } from './helpers/tcp-proxy';
import { waitFor } from './helpers/wait';
import { createProviderHealth } from '../src/providers/provider-health';
import type { EmailProvider, OutgoingEmail } from '../src/providers/types';
import { LOGIN_MAX_FAILURES } from '../src/dashboard/login-limiter';

let database: TestDatabase;
let harness: Harness;
let session: DashboardSession;

/** An email provider that refuses while `failing` is set, then accepts. */
const flaky = {
  failing: false,
  sent: [] as OutgoingEmail[],
};
const flakyProvider: EmailProvider = {
  name: 'flaky',
  channel: 'email',
  async send(m) {
    if (flaky.failing)
      return {
        kind: 'failed' as const,
        message: '550 mailbox <b>unavailable</b>',
        status: 422,
        raw: { error: '<script>alert(4)</script>' },
      };
    flaky.sent.push(m);
    return { kind: 'sent' as const, providerMessageId: `flaky_${m.messageId}` };
  },
};

beforeAll(async () => {
  database = await createTestDatabase();
  // Rates are judged from 5 sends here (ALERT_MIN_SENDS), so a few seeded messages can cross a threshold.
  harness = await startHarness(testConfig(database.url, { ALERT_MIN_SENDS: '5' }), {
    workers: true,
    overrides: { providers: { email: [flakyProvider], sms: [] } },
  });
  session = await logIn(harness);
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const postClerk = (event: unknown): Promise<string> => acceptClerkEvent(harness.request, event);

const statusOf = async (id: string) => (await database.db.message.findUniqueOrThrow({ where: { id } })).status;

describe('login', () => {
  it('sends a visitor without a session to the login page', async () => {
    const res = await harness.request('/dashboard/overview', { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/dashboard/login?next=%2Fdashboard%2Foverview');
    const login = await harness.request(res.headers.get('location')!);
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('name="token"');
  });

  it('refuses a wrong token and sets no session', async () => {
    const page = await harness.request('/dashboard/login');
    const res = await harness.request('/dashboard/login', {
      ...form({ _csrf: csrfFrom(await page.text()), token: 'not-the-admin-token' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `relay_login_csrf=${setCookie(page, 'relay_login_csrf')}` },
    });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('Wrong token.');
    expect(setCookie(res, 'relay_session')).toBeUndefined();
  });

  it('refuses a login form without its CSRF token', async () => {
    const res = await harness.request('/dashboard/login', form({ token: TEST_ADMIN_TOKEN }));
    expect(res.status).toBe(403);
    expect(setCookie(res, 'relay_session')).toBeUndefined();
  });

  it('sets an httpOnly, SameSite=Strict session cookie, Secure behind https', async () => {
    const page = await harness.request('/dashboard/login', { headers: { 'x-forwarded-proto': 'https' } });
    const res = await harness.request('/dashboard/login', {
      ...form({ _csrf: csrfFrom(await page.text()), token: TEST_ADMIN_TOKEN, next: '/dashboard/suppressions' }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-proto': 'https',
        cookie: `relay_login_csrf=${setCookie(page, 'relay_login_csrf')}`,
      },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/dashboard/suppressions');
    const header = res.headers.getSetCookie().find((c) => c.startsWith('relay_session='))!;
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).toMatch(/Secure/);
    expect(header).toMatch(/Path=\/dashboard/);
  });

  it('does not redirect off the dashboard after login', async () => {
    const page = await harness.request('/dashboard/login');
    const res = await harness.request('/dashboard/login', {
      ...form({ _csrf: csrfFrom(await page.text()), token: TEST_ADMIN_TOKEN, next: '//evil.example/' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `relay_login_csrf=${setCookie(page, 'relay_login_csrf')}` },
    });
    expect(res.headers.get('location')).toBe('/dashboard');
  });

  it('keeps sessions in Redis with an expiry, under a hash of the cookie', async () => {
    const id = session.cookie.split('=')[1]!;
    const keys = await harness.container.redis.keys(`${harness.container.config.QUEUE_PREFIX}:dashboard:session:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.includes(id))).toBe(false);
    for (const key of keys) {
      const ttl = await harness.container.redis.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(12 * 3600);
    }
  });

  it('ends the session on logout', async () => {
    const own = await logIn(harness);
    expect((await own.post('/dashboard/logout', {}, { csrf: null })).status).toBe(403);
    const res = await own.post('/dashboard/logout', {});
    expect(res.status).toBe(303);
    expect((await own.get('/dashboard')).status).toBe(303);
  });

  it('refuses logins from an address after repeated wrong tokens, on every instance sharing the Redis prefix', async () => {
    const prefix = `t-lockout-${Date.now()}`;
    const a = await startHarness(testConfig(database.url, { QUEUE_PREFIX: prefix }));
    const b = await startHarness(testConfig(database.url, { QUEUE_PREFIX: prefix }));
    const attempt = async (h: Harness, token: string) => {
      const page = await h.request('/dashboard/login');
      return h.request('/dashboard/login', {
        ...form({ _csrf: csrfFrom(await page.text()), token }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `relay_login_csrf=${setCookie(page, 'relay_login_csrf')}` },
      });
    };
    try {
      // A success clears earlier failures.
      expect((await attempt(a, 'wrong-token-wrong-token')).status).toBe(401);
      expect((await attempt(a, TEST_ADMIN_TOKEN)).status).toBe(303);
      for (let i = 0; i < LOGIN_MAX_FAILURES; i++) expect((await attempt(i % 2 ? a : b, `wrong-token-${i}-wrong`)).status).toBe(401);
      for (const h of [a, b]) {
        const refused = await attempt(h, TEST_ADMIN_TOKEN);
        expect(refused.status).toBe(429);
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(await refused.text()).toMatch(/Too many failed logins from your address.*try again in 15 min/);
        expect(setCookie(refused, 'relay_session')).toBeUndefined();
      }
      // A session opened before the lockout keeps working.
      expect((await session.get('/dashboard')).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('behind a proxy (TRUST_PROXY), counts failed logins per client, not per proxy', async () => {
    const proxied = await startHarness(testConfig(database.url, { TRUST_PROXY: 'loopback' }));
    const attempt = async (clientIp: string, token: string) => {
      const page = await proxied.request('/dashboard/login', { headers: { 'x-forwarded-for': clientIp } });
      return proxied.request('/dashboard/login', {
        ...form({ _csrf: csrfFrom(await page.text()), token }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': clientIp,
          cookie: `relay_login_csrf=${setCookie(page, 'relay_login_csrf')}`,
        },
      });
    };
    try {
      for (let i = 0; i < LOGIN_MAX_FAILURES; i++) expect((await attempt('203.0.113.7', `wrong-token-${i}-wrong`)).status).toBe(401);
      expect((await attempt('203.0.113.7', TEST_ADMIN_TOKEN)).status).toBe(429);
      // Another client behind the same proxy is not locked out.
      expect((await attempt('198.51.100.9', TEST_ADMIN_TOKEN)).status).toBe(303);
    } finally {
      await proxied.close();
    }
  });

  /** One login form, posted as often as wanted: the CSRF pair is a cookie and its copy in the form. */
  async function loginForm(h: Harness, headers: Record<string, string> = {}) {
    const page = await h.request('/dashboard/login', { headers });
    const csrf = csrfFrom(await page.text());
    const cookie = `relay_login_csrf=${setCookie(page, 'relay_login_csrf')}`;
    return (token: string, extra: Record<string, string> = {}) =>
      h.request('/dashboard/login', {
        ...form({ _csrf: csrf, token }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers, ...extra },
      });
  }

  it('compares no more tokens than the limit when wrong logins arrive in parallel', async () => {
    // 5 ms each way to Redis, as across a network: a check and a count that are two steps leave a window.
    const redisProxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(TEST_REDIS_URL).port || 6379) });
    redisProxy.delayMs = 5;
    const own = await startHarness(testConfig(database.url, { REDIS_URL: redisProxy.urlFor(TEST_REDIS_URL) }));
    try {
      const attempt = await loginForm(own);
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => attempt(`wrong-token-${i}-wrong`)));
      const statuses = answers.map((a) => a.status);
      // When the check and the count were two steps, 17 of 60 were compared against a limit of 10.
      expect(statuses.filter((s) => s === 401)).toHaveLength(LOGIN_MAX_FAILURES);
      expect(statuses.filter((s) => s === 429)).toHaveLength(60 - LOGIN_MAX_FAILURES);
    } finally {
      await own.close();
      await redisProxy.stop();
    }
  });

  it('behind one proxy hop (TRUST_PROXY=1), a client rotating X-Forwarded-For is limited by the address the proxy saw', async () => {
    const proxied = await startHarness(testConfig(database.url, { TRUST_PROXY: process.env.TP ?? '1' }));
    try {
      // The proxy appends the address it saw to whatever the client sent.
      const attempt = await loginForm(proxied, { 'x-forwarded-for': '203.0.113.7' });
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const forged = `198.51.100.${i}, 203.0.113.7`;
        statuses.push((await attempt(`wrong-token-${i}-wrong`, { 'x-forwarded-for': forged })).status);
      }
      expect(statuses.filter((s) => s === 401)).toHaveLength(LOGIN_MAX_FAILURES);
      expect(statuses.slice(LOGIN_MAX_FAILURES).every((s) => s === 429)).toBe(true);
    } finally {
      await proxied.close();
    }
  });

  it('ends every session when ADMIN_TOKEN changes', async () => {
    const prefix = `t-rotate-${Date.now()}`;
    const before = await startHarness(testConfig(database.url, { QUEUE_PREFIX: prefix }));
    const after = await startHarness(testConfig(database.url, { QUEUE_PREFIX: prefix, ADMIN_TOKEN: 'a-brand-new-admin-token-42' }));
    try {
      const opened = await logIn(before);
      const page = (h: Harness) => h.request('/dashboard', { headers: { cookie: opened.cookie }, redirect: 'manual' });
      expect((await page(before)).status).toBe(200);
      // Same Redis, new token (a leaked one replaced): the old session is gone.
      expect((await page(after)).status).toBe(303);
    } finally {
      await before.close();
      await after.close();
    }
  });

  it('sends strict security headers on every page', async () => {
    const res = await session.get('/dashboard');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const page = await res.text();
    expect(page).not.toMatch(/<script>|<style>| style="/);
  });

  it('serves its stylesheet and script', async () => {
    const page = await (await session.get('/dashboard')).text();
    const css = page.match(/href="(\/dashboard\/assets\/[^"]+\.css)"/)![1]!;
    const js = page.match(/src="(\/dashboard\/assets\/[^"]+\.js)"/)![1]!;
    const cssRes = await harness.request(css);
    expect(cssRes.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await cssRes.text()).toContain('prefers-color-scheme: dark');
    expect((await harness.request(js)).headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  it('answers 503 with what to set when ADMIN_TOKEN is not set', async () => {
    const other = await startHarness(testConfig(database.url, { ADMIN_TOKEN: undefined }));
    try {
      const res = await other.request('/dashboard');
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('ADMIN_TOKEN');
    } finally {
      await other.close();
    }
  });
});

describe('messages', () => {
  let sentId: string;
  beforeAll(async () => {
    sentId = await seedMessage(database.db, {
      recipient: 'maria@example.com',
      userId: 'user_maria',
      externalId: 'ema_maria1',
      providerMessageId: 're_0123',
      createdAt: new Date(Date.now() - 5 * 60_000),
      sentAt: new Date(Date.now() - 5 * 60_000 + 1_200),
      headers: { 'X-Entity-Ref-ID': 'ref-maria' },
      events: [
        { type: 'received', at: new Date(Date.now() - 5 * 60_000) },
        { type: 'queued', at: new Date(Date.now() - 5 * 60_000 + 10) },
        { type: 'sent', at: new Date(Date.now() - 5 * 60_000 + 1_200), provider: 'resend', detail: { provider_message_id: 're_0123' } },
        { type: 'delivered', at: new Date(Date.now() - 4 * 60_000), provider: 'resend', detail: { raw: '250 2.0.0 OK' } },
      ],
    });
    await seedMessage(database.db, { recipient: 'other@example.org', status: 'bounced', template: 'reset_password_code' });
  });

  it.each([
    ['recipient', 'MARIA@example.com'],
    ['user id', 'user_maria'],
    ['Clerk id', 'ema_maria1'],
    ['provider message id', 're_0123'],
  ])('finds a message by its %s', async (_what, term) => {
    const page = await (await session.get(`/dashboard?q=${encodeURIComponent(term)}`)).text();
    expect(page).toContain(`/dashboard/messages/${sentId}`);
    expect(page).not.toContain('other@example.org');
  });

  it('offers the same search on the JSON API', async () => {
    const res = await harness.request('/api/messages?q=ema_maria1', { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect((await json(res)).data.map((m: { id: string }) => m.id)).toEqual([sentId]);
  });

  it('finds a message by our id', async () => {
    const page = await (await session.get(`/dashboard?q=${sentId}`)).text();
    expect(page).toContain('maria@example.com');
  });

  it('filters by status and template and shows status, provider and latency', async () => {
    const page = await (await session.get('/dashboard?status=bounced&template=reset_password_code')).text();
    expect(page).toContain('other@example.org');
    expect(page).not.toContain('maria@example.com');
    const all = await (await session.get('/dashboard?q=maria%40example.com')).text();
    expect(all).toContain('badge st-sent');
    expect(all).toContain('1.2 s');
  });

  it('pages older messages with a cursor', async () => {
    for (let i = 0; i < 55; i++)
      await seedMessage(database.db, {
        recipient: `bulk${i}@paging.example`,
        template: 'paging',
        createdAt: new Date(Date.now() - i * 1000),
      });
    const first = await (await session.get('/dashboard?template=paging')).text();
    const next = first.match(/href="([^"]+)" rel="next"/)![1]!.replace(/&amp;/g, '&');
    expect(first).toContain('bulk0@paging.example');
    expect(first).not.toContain('bulk54@paging.example');
    const second = await (await session.get(next)).text();
    expect(second).toContain('bulk54@paging.example');
    expect(second).not.toContain('bulk0@paging.example');
  });

  it('shows the whole timeline, the headers we sent and the redacted content', async () => {
    const res = await session.get(`/dashboard/messages/${sentId}`);
    expect(res.status).toBe(200);
    const page = await res.text();
    const timeline = page.slice(page.indexOf('<h2>Timeline'));
    const order = ['received', 'queued', 'sent', 'delivered'].map((t) => timeline.indexOf(`badge st-${t}">${t}`));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(page).toContain('250 2.0.0 OK');
    expect(page).toContain('ref-maria');
    expect(page).toContain('Your code is [redacted]');
  });

  it('answers 404 with a page for an unknown message', async () => {
    const res = await session.get('/dashboard/messages/msg_nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('escapes a hostile recipient and provider error everywhere', async () => {
    const id = await seedMessage(database.db, {
      recipient: '"<script>alert(1)</script>"@xss.example',
      status: 'failed',
      lastError: 'resend: <img src=x onerror=alert(2)>',
      events: [{ type: 'send_failed', provider: 'resend', detail: { message: '</pre><script>alert(3)</script>' } }],
    });
    for (const path of ['/dashboard?q=' + encodeURIComponent('"<script>alert(1)</script>"@xss.example'), `/dashboard/messages/${id}`]) {
      const page = await (await session.get(path)).text();
      expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(page).toContain('&lt;img src=x onerror=alert(2)&gt;');
      expect(page).not.toMatch(/<script>alert|<img src=x/);
    }
    expect(await (await session.get(`/dashboard/messages/${id}`)).text()).toContain('&lt;/pre&gt;&lt;script&gt;alert(3)');
  });
});

describe('timeline', () => {
  it('says in words what each event means: failures, skips, failover, fallback, suppression, Clerk write-back', async () => {
    const fallbackId = await seedMessage(database.db, { channel: 'sms', recipient: '+447700900111' });
    const id = await seedMessage(database.db, {
      recipient: 'timeline@example.com',
      status: 'bounced',
      events: [
        { type: 'received' },
        { type: 'queued' },
        { type: 'provider_skipped', provider: 'resend', detail: { reason: 'circuit_open', retry_in_ms: 12_000 } },
        {
          type: 'send_failed',
          provider: 'autosend',
          detail: { class: 'transient', status: 503, code: 'unavailable', message: 'upstream timeout', raw: { error: 'x' } },
        },
        { type: 'failover', provider: 'outbox', detail: { from: 'autosend' } },
        { type: 'sent', provider: 'outbox', detail: { provider_message_id: 'ob_1' } },
        {
          type: 'bounced',
          provider: 'outbox',
          detail: { bounce_kind: 'hard', bounce_type: 'Permanent', diagnostic: '550 5.1.1 user unknown' },
        },
        { type: 'fallback', detail: { message_id: fallbackId, channel: 'sms' } },
        {
          type: 'clerk_writeback',
          provider: 'clerk',
          detail: { email_status: 'undeliverable', outcome: 'updated', user_ids: ['user_tl'] },
        },
        {
          type: 'clerk_writeback',
          provider: 'clerk',
          detail: { email_status: 'undeliverable', outcome: 'gave_up', status: 503, tries: 8, error: 'Service Unavailable' },
        },
        { type: 'retried', detail: { previous_status: 'failed', by: 'admin' } },
        {
          type: 'suppressed',
          detail: { reason: 'recipient is suppressed (hard_bounce)', suppression_reason: 'hard_bounce', source_message_id: 'msg_earlier' },
        },
      ],
    });
    const page = await (await session.get(`/dashboard/messages/${id}`)).text();
    const timeline = page.slice(page.indexOf('<h2>Timeline'), page.indexOf('<h2>Headers'));
    expect(timeline).toContain('badge st-provider_skipped">provider skipped');
    expect(timeline).toContain('resend skipped: its circuit is open after repeated failures; free again in 12 s');
    expect(timeline).toContain('error from autosend (503 unavailable): upstream timeout');
    expect(timeline).toContain('Failing over from autosend to outbox');
    expect(timeline).toContain('Sent: accepted by outbox as <span class="mono">ob_1</span>');
    expect(timeline).toContain('hard / Permanent bounce reported by outbox: 550 5.1.1 user unknown');
    expect(timeline).toContain(`sent by sms as <a class="mono" href="/dashboard/messages/${fallbackId}">`);
    expect(timeline).toContain('badge st-clerk_writeback">Clerk write-back');
    expect(timeline).toMatch(/Clerk email_status = undeliverable: <span class="lvl-ok">user metadata updated<\/span> \(user_tl\)/);
    expect(timeline).toMatch(/gave up after repeated errors<\/span> — HTTP 503: Service Unavailable/);
    expect(timeline).toContain('Retried by an admin (was failed)');
    expect(timeline).toContain(
      'Not sent: the recipient is suppressed (hard bounce), after <a class="mono" href="/dashboard/messages/msg_earlier">',
    );
    // The raw detail stays one click away, unfolded where it is the provider's answer.
    expect(timeline).toContain('<details class="small" ><summary class="muted">raw</summary>');
    expect(timeline).toMatch(/<details class="small" open><summary class="muted">raw<\/summary><pre>[^<]*upstream timeout/);
  });
});

describe('retry', () => {
  it('sends a failed message again, with the CSRF token only', async () => {
    flaky.failing = true;
    const id = await postClerk(emailCreated({ data: { slug: 'welcome_notice', subject: 'Welcome', data: {} } }));
    await waitFor(async () => (await statusOf(id)) === 'failed');
    const detail = await (await session.get(`/dashboard/messages/${id}`)).text();
    expect(detail).toContain('Retry now');
    expect(detail).toContain('&lt;script&gt;alert(4)&lt;/script&gt;');
    expect(detail).not.toContain('<script>alert');

    flaky.failing = false;
    expect((await session.post(`/dashboard/messages/${id}/retry`, {}, { csrf: null })).status).toBe(403);
    expect((await session.post(`/dashboard/messages/${id}/retry`, {}, { csrf: 'forged' })).status).toBe(403);
    expect(await statusOf(id)).toBe('failed');

    const res = await session.post(`/dashboard/messages/${id}/retry`, {});
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/dashboard/messages/${id}?notice=retried`);
    await waitFor(async () => (await statusOf(id)) === 'sent');
    const events = await database.db.messageEvent.findMany({ where: { messageId: id }, orderBy: { id: 'asc' } });
    // Queued again by the retry: the new job's `queued` event follows `retried`.
    expect(events.map((e) => e.type)).toEqual(['received', 'queued', 'send_failed', 'failed', 'retried', 'queued', 'sent']);
    expect(flaky.sent.filter((m) => m.messageId === id)).toHaveLength(1);
  });

  it('is offered through the API for the CLI, and refused for a message that is not failed', async () => {
    const id = await seedMessage(database.db, { status: 'delivered' });
    const res = await harness.request(`/api/messages/${id}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe('not_retryable');
    expect(
      (await harness.request('/api/messages/msg_nope/retry', { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } }))
        .status,
    ).toBe(404);
  });

  it('never sends an expired code late', async () => {
    const id = await seedMessage(database.db, {
      status: 'expired',
      expiresAt: new Date(Date.now() - 1000),
      payload: { channel: 'email', subject: '1234' },
    });
    const page = await (await session.get(`/dashboard/messages/${id}`)).text();
    expect(page).not.toContain('Retry now');
    expect(page).toContain('must request a new one');
    expect((await session.post(`/dashboard/messages/${id}/retry`, {})).status).toBe(409);
    expect(await statusOf(id)).toBe('expired');
  });
});

describe('suppressions', () => {
  it('adds, lists, searches and releases', async () => {
    expect(
      (
        await session.post(
          '/dashboard/suppressions',
          { channel: 'email', recipient: 'Bouncy@Example.com', reason: 'hard bounce' },
          { csrf: null },
        )
      ).status,
    ).toBe(403);
    const added = await session.post('/dashboard/suppressions', {
      channel: 'email',
      recipient: 'Bouncy@Example.com',
      reason: 'hard bounce',
    });
    expect(added.status).toBe(303);
    expect(added.headers.get('location')).toBe('/dashboard/suppressions?notice=suppressed');
    await session.post('/dashboard/suppressions', { channel: 'email', recipient: 'keep@example.com', reason: 'complaint' });

    const list = await (await session.get('/dashboard/suppressions')).text();
    expect(list).toContain('bouncy@example.com');
    // What the operator wrote is shown with the entry.
    expect(list).toContain('manual<div class="small muted">hard bounce</div>');
    expect(list).toContain('keep@example.com');
    const found = await (await session.get('/dashboard/suppressions?q=bouncy')).text();
    expect(found).toContain('bouncy@example.com');
    expect(found).not.toContain('keep@example.com');

    expect(
      (await session.post('/dashboard/suppressions/release', { channel: 'email', recipient: 'bouncy@example.com' }, { csrf: null })).status,
    ).toBe(403);
    const released = await session.post('/dashboard/suppressions/release', { channel: 'email', recipient: 'bouncy@example.com' });
    expect(released.headers.get('location')).toBe('/dashboard/suppressions?notice=released');
    // A released entry no longer suppresses; it stays, ended, as the record of the release.
    const inForce = { OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] };
    expect(await database.db.suppression.count({ where: { recipient: 'bouncy@example.com', ...inForce } })).toBe(0);
    expect(await database.db.suppression.count({ where: { recipient: 'keep@example.com', ...inForce } })).toBe(1);
    expect(await (await session.get('/dashboard/suppressions')).text()).not.toContain('bouncy@example.com');
  });

  it('suppresses and releases a recipient from its message page', async () => {
    const id = await seedMessage(database.db, { recipient: 'from-detail@example.com' });
    const res = await session.post('/dashboard/suppressions', {
      channel: 'email',
      recipient: 'from-detail@example.com',
      reason: 'manual',
      source_message_id: id,
      back: `/dashboard/messages/${id}`,
    });
    expect(res.headers.get('location')).toBe(`/dashboard/messages/${id}?notice=suppressed`);
    const page = await (await session.get(`/dashboard/messages/${id}?notice=suppressed`)).text();
    expect(page).toContain('Release recipient');
    expect(page).toContain('Recipient suppressed');
    await session.post('/dashboard/suppressions/release', {
      channel: 'email',
      recipient: 'from-detail@example.com',
      back: `/dashboard/messages/${id}`,
    });
    expect(await (await session.get(`/dashboard/messages/${id}`)).text()).toContain('Suppress recipient');
  });

  it('rejects a malformed form with a page, not a crash', async () => {
    const res = await session.post('/dashboard/suppressions', { channel: 'pigeon', recipient: 'x@example.com' });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('channel');
  });
});

describe('overview', () => {
  it('charts the last 24 h and shows rates, queues and circuits', async () => {
    const now = Date.now();
    for (let i = 0; i < 2; i++) {
      await seedMessage(database.db, {
        recipient: `r${i}@tiny.example`,
        recipientDomain: 'tiny.example',
        provider: 'resend',
        status: i < 1 ? 'bounced' : 'delivered',
        createdAt: new Date(now - 2 * 3_600_000),
        sentAt: new Date(now - 2 * 3_600_000 + 800),
        events: [{ type: i < 1 ? 'bounced' : 'delivered', detail: i < 1 ? { bounce_kind: 'hard' } : {} }],
      });
    }
    for (let i = 0; i < 10; i++) {
      await seedMessage(database.db, {
        recipient: `r${i}@gmail.com`,
        provider: 'resend',
        status: i < 1 ? 'bounced' : 'delivered',
        createdAt: new Date(now - 2 * 3_600_000),
        sentAt: new Date(now - 2 * 3_600_000 + 800),
        deliveredAt: new Date(now - 2 * 3_600_000 + 3_000),
        events: [
          { type: 'sent', at: new Date(now - 2 * 3_600_000 + 800) },
          {
            type: i < 1 ? 'bounced' : 'delivered',
            at: new Date(now - 2 * 3_600_000 + 3_000),
            detail: i < 1 ? { bounce_kind: 'hard' } : {},
          },
        ],
      });
    }
    const res = await session.get('/dashboard/overview');
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page.match(/<svg class="chart"/g)).toHaveLength(3);
    expect(page).toContain('Accepted → sent');
    expect(page).toContain('gmail.com');
    expect(page).toMatch(/lvl-page">10\.00 %/);
    // Two sends, one bounced, is not a 50 % bounce rate worth paging for: below ALERT_MIN_SENDS it is not judged.
    const tiny = page.slice(page.indexOf('<td>tiny.example'), page.indexOf('</tr>', page.indexOf('<td>tiny.example')));
    expect(tiny).toContain('lvl-unknown');
    // …and the page says so, rather than leaving a grey 50 % to look like a failure.
    expect(tiny).toContain('not judged (2 of 5 sends)');
    expect(page).toContain('Grey rates are not judged: a scope needs 5 sends in the window (<code>ALERT_MIN_SENDS</code>)');
    expect(tiny).not.toContain('lvl-page');
    expect(page).toContain('<td>send</td>');
    expect(page).toContain('unknown');
    expect(page).toContain('kept 30 days');
  });

  it('shows each provider in use, paused by a rate limit, or with its circuit open, and its failures in a row', async () => {
    const { config, redis, log } = harness.container;
    let clock = Date.now();
    const health = createProviderHealth({
      redis,
      prefix: config.QUEUE_PREFIX,
      providers: ['outbox'],
      limits: {},
      failureThreshold: config.PROVIDER_CIRCUIT_FAILURES,
      openMs: 10 * 60_000,
      probeLeaseMs: 5_000,
      maxWaitMs: 0,
      maxPauseMs: 10 * 60_000,
      log,
      now: () => clock,
    });
    const providerRow = async () => {
      const page = await (await session.get('/dashboard/overview')).text();
      return page.slice(page.indexOf('<h2>Providers'));
    };
    expect(await providerRow()).toMatch(/<td>outbox<\/td><td><span class="lvl-ok">in use<\/span><\/td>\s*<td class="num ">0<\/td>/);

    const rateLimited = { kind: 'rate_limited' as const, message: '429 too many requests', status: 429, retryAfterMs: 120_000 };
    await expect(health.call('outbox', () => Promise.resolve(rateLimited))).resolves.toMatchObject({
      ok: true,
      value: { kind: 'rate_limited' },
    });
    expect(await providerRow()).toMatch(
      /lvl-warn">paused<\/span> <span class="small">\(rate limited; <time[^>]*>(1\d\d|\d) (s|min)<\/time> left\)/,
    );

    clock += 121_000;
    const down = { kind: 'retry' as const, message: '503 unavailable', status: 503, unanswered: false };
    for (let i = 0; i < config.PROVIDER_CIRCUIT_FAILURES; i++)
      await health.call('outbox', () => Promise.resolve(down)).catch(() => undefined);
    const row = await providerRow();
    expect(row).toContain('<span class="lvl-page">circuit open</span>');
    expect(row).toMatch(new RegExp(`<td class="num lvl-page">${config.PROVIDER_CIRCUIT_FAILURES}</td>`));
    const page = await (await session.get('/dashboard/overview')).text();
    const alert = page.slice(page.indexOf('<h2>Needs attention'), page.indexOf('</section>', page.indexOf('<h2>Needs attention')));
    expect(alert).toMatch(
      new RegExp(
        `<b>outbox</b>: circuit open after ${config.PROVIDER_CIRCUIT_FAILURES} failures in a row; messages go to the next provider, next probe in <time[^>]*>1[12] min</time>`,
      ),
    );
    // The bounced messages of the test above put the bounce rate over its page threshold.
    expect(alert).toMatch(/<span class="lvl-page">bounce rate \d+\.\d\d %<\/span> for all providers over 24 h \(page threshold 4\.00 %\)/);
  });

  it('says when nothing needs attention, and since when messages have been failing', async () => {
    const quiet = await createTestDatabase();
    const other = await startHarness(testConfig(quiet.url));
    try {
      const own = await logIn(other);
      expect(await (await own.get('/dashboard/overview')).text()).toContain('Nothing needs attention');
      const hourStart = Math.floor(Date.now() / 3_600_000) * 3_600_000;
      for (const at of [new Date(hourStart - 2 * 3_600_000 + 60_000), new Date(hourStart - 3_600_000 + 60_000), new Date()]) {
        await seedMessage(quiet.db, { status: 'failed', createdAt: at, events: [{ type: 'failed', at }] });
      }
      await seedMessage(quiet.db, { status: 'expired', events: [{ type: 'expired', at: new Date() }] });
      const page = await (await own.get('/dashboard/overview')).text();
      const since = String(new Date(hourStart - 2 * 3_600_000).getUTCHours()).padStart(2, '0');
      expect(page).toContain(`1 failed this hour</a>, and some every hour since ${since}:00 UTC`);
      expect(page).toContain(
        `1 expired this hour</a>, and some every hour since ${String(new Date(hourStart).getUTCHours()).padStart(2, '0')}:00 UTC`,
      );
      expect(page).toContain('<span class="key c-expired">expired</span>');
      expect(page).not.toContain('Nothing needs attention');
    } finally {
      await other.close();
      await quiet.drop();
    }
  });
  it('counts the day by status the same from the hourly rollup, and at once after a change', async () => {
    const own = await createTestDatabase();
    const other = await startHarness(testConfig(own.url));
    try {
      const session = await logIn(other);
      const hourStart = Math.floor(Date.now() / 3_600_000) * 3_600_000;
      const ids: string[] = [];
      for (const [hoursAgo, status] of [
        [30, 'delivered'],
        [5, 'delivered'],
        [5, 'failed'],
        [2, 'sent'],
        [0, 'delivered'],
      ] as const) {
        ids.push(
          await seedMessage(own.db, {
            status,
            createdAt: new Date(Math.min(hourStart - hoursAgo * 3_600_000 + 60_000, Date.now() - 1_000)),
          }),
        );
      }
      const tiles = async () =>
        Object.fromEntries(
          [
            ...(await (await session.get('/dashboard/overview')).text()).matchAll(
              /status=(\w+)&amp;range=24h"><div class="small">.*?<div class="n">(\d+)</g,
            ),
          ].map((m) => [m[1], Number(m[2])]),
        );
      const live = await tiles();
      expect(live).toMatchObject({ delivered: 2, failed: 1, sent: 1 });
      // Changed long before the fold, so the fold's whole hours are read from the rollup alone.
      await own.db.$executeRaw`UPDATE messages SET updated_at = created_at`;
      await other.container.stats.fold();
      expect(await tiles()).toEqual(live);
      await own.db.message.update({ where: { id: ids[3]! }, data: { status: 'delivered' } });
      expect(await tiles()).toEqual({ ...live, delivered: 3, sent: 0 });
    } finally {
      await other.close();
      await own.drop();
    }
  });
});

describe('queues', () => {
  it('allows inline styles on bull-board alone, and never inline script', async () => {
    const csp = (await session.get('/dashboard/queues')).headers.get('content-security-policy')!;
    expect(csp).toContain("style-src 'self' 'unsafe-inline'");
    expect(csp).toContain("script-src 'self';");
    expect((await session.get('/dashboard/overview')).headers.get('content-security-policy')).not.toContain('unsafe-inline');
  });

  it('mounts bull-board behind the login, with job data redacted', async () => {
    expect((await harness.request('/dashboard/queues', { redirect: 'manual' })).status).toBe(303);
    expect((await harness.request('/dashboard/queues/api/queues', { redirect: 'manual' })).status).toBe(303);
    const ui = await session.get('/dashboard/queues');
    expect(ui.status).toBe(200);
    const board = await ui.text();
    expect(board).toContain('__UI_CONFIG__');
    // Nothing the CSP would refuse (bull-board links Google Fonts), and a way back to the dashboard.
    expect(board).not.toMatch(/fonts\.googleapis|https?:\/\//);
    expect(board).toMatch(/<a href="\/dashboard" id="back-to-dashboard"[^>]*>← auth-relay dashboard<\/a>/);
    await harness.container.queues.send.add('send', { messageId: 'msg_board', secret: 'hunter2' } as never, {
      jobId: 'msg_board',
      delay: 60_000,
    });
    const api = await json(await session.get('/dashboard/queues/api/queues?activeQueue=send&status=delayed&page=1'));
    const text = JSON.stringify(api);
    expect(text).toContain('msg_board');
    expect(text).not.toContain('hunter2');
  });

  it('refuses a cross-origin change to the queues', async () => {
    const res = await harness.request('/dashboard/queues/api/queues/send/clean/delayed', {
      method: 'PUT',
      headers: { cookie: session.cookie, origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
  });
});
