import { Webhook } from 'standardwebhooks';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { resendEvent, signedResend, TEST_RESEND_WEBHOOK_SECRET } from './helpers/provider-webhooks';
import { waitFor } from './helpers/wait';
import { FAKE_RESEND_KEY, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';
import { startWebhookReceiver, type WebhookReceiver } from './fakes/webhook-receiver';
import { logIn } from './helpers/dashboard';

/**
 * `/api/webhook-endpoints` on the real service, and the "done when": an endpoint added through the
 * API receives `message.sent` then `message.delivered` for a Clerk email, signed, verifying with
 * `standardwebhooks`.
 */

let database: TestDatabase;
let harness: Harness;
let resend: IdempotentFake;
let receiver: WebhookReceiver;

beforeAll(async () => {
  database = await createTestDatabase();
  resend = await startFakeResend();
  receiver = await startWebhookReceiver();
  harness = await startHarness(
    testConfig(database.url, {
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET,
      EMAIL_FROM: 'Acme <auth@acme.example>',
    }),
    { workers: true },
  );
});

afterAll(async () => {
  await harness.close();
  await receiver.close();
  await resend.close();
  await database.drop();
});

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
const api = (path: string, init: { method?: string; body?: unknown; raw?: string } = {}) =>
  harness.request(`/api/webhook-endpoints${path}`, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? 'POST' : 'GET'),
    headers: admin,
    body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
  });

describe('the API refuses bad input with a 4xx and the contract error shape', () => {
  it.each([
    ['no url', {}, /url/],
    ['not a URL', { url: 'not a url' }, /absolute/],
    ['another scheme', { url: 'ftp://hooks.example.com/x' }, /https/],
    ['http to a non-local host', { url: 'http://hooks.example.com/x' }, /localhost only/],
    ['an unknown event type', { url: 'https://hooks.example.com/', event_types: ['message.opened'] }, /event_types/],
    ['an empty event type list', { url: 'https://hooks.example.com/', event_types: [] }, /at least one/],
    ['an unknown field', { url: 'https://hooks.example.com/', secret: 'whsec_mine' }, /secret/],
    ['a non-boolean enabled', { url: 'https://hooks.example.com/', enabled: 'yes' }, /enabled/],
  ])('POST with %s: 422', async (_name, body, message) => {
    const res = await api('', { body });
    expect(res.status).toBe(422);
    const answer = await json(res);
    expect(answer.error.code).toBe('invalid_request');
    expect(JSON.stringify(answer.error)).toMatch(message);
  });

  it('malformed JSON: 400; no token: 401; unknown endpoint: 404; an empty PATCH: 422', async () => {
    expect((await api('', { raw: '{"url":' })).status).toBe(400);
    expect((await harness.request('/api/webhook-endpoints')).status).toBe(401);
    expect((await api('/ep_nope')).status).toBe(404);
    expect((await api('/ep_nope', { method: 'PATCH', body: { enabled: false } })).status).toBe(404);
    expect((await api('/ep_nope', { method: 'DELETE' })).status).toBe(404);
    expect((await api('/ep_nope/rotate-secret', { method: 'POST' })).status).toBe(404);
    expect((await api('/ep_nope/deliveries')).status).toBe(404);
    const created = await json(await api('', { body: { url: 'https://hooks.example.com/a' } }));
    expect((await api(`/${created.id}`, { method: 'PATCH', body: {} })).status).toBe(422);
    expect((await api(`/${created.id}/deliveries?limit=500`)).status).toBe(422);
    expect((await api(`/${created.id}/deliveries/whd_nope/resend`, { method: 'POST' })).status).toBe(404);
    await api(`/${created.id}`, { method: 'DELETE' });
  });
});

it('creates (201, the secret shown once), lists, changes, rotates and deletes an endpoint', async () => {
  const res = await api('', {
    body: { url: 'https://hooks.example.com/auth', description: 'warehouse', event_types: ['message.bounced', 'message.bounced'] },
  });
  expect(res.status).toBe(201);
  const created = await json(res);
  expect(created).toMatchObject({
    id: expect.stringMatching(/^ep_/),
    url: 'https://hooks.example.com/auth',
    description: 'warehouse',
    event_types: ['message.bounced'],
    enabled: true,
    disabled_reason: null,
    secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{32}$/),
  });
  expect(() => new Webhook(created.secret)).not.toThrow();

  const listed = await json(await api(''));
  expect(listed.data).toEqual([expect.objectContaining({ id: created.id })]);
  expect(JSON.stringify(listed)).not.toContain(created.secret);
  expect(await json(await api(`/${created.id}`))).not.toHaveProperty('secret');

  const patched = await json(await api(`/${created.id}`, { method: 'PATCH', body: { enabled: false, event_types: null } }));
  expect(patched).toMatchObject({ enabled: false, disabled_reason: 'disabled by an operator', event_types: null });
  const enabled = await json(await api(`/${created.id}`, { method: 'PATCH', body: { enabled: true } }));
  expect(enabled).toMatchObject({ enabled: true, disabled_reason: null });

  const rotated = await json(await api(`/${created.id}/rotate-secret`, { method: 'POST' }));
  expect(rotated.secret).toMatch(/^whsec_/);
  expect(rotated.secret).not.toBe(created.secret);
  expect(new Date(rotated.previous_secret_expires_at).getTime() - Date.now()).toBeGreaterThan(23.9 * 3600_000);

  expect(await json(await api(`/${created.id}`, { method: 'DELETE' }))).toEqual({ deleted: true, id: created.id });
  expect((await api(`/${created.id}`)).status).toBe(404);
});

it('done when: an endpoint added through the API gets message.sent then message.delivered for a Clerk email, signed; and a resend repeats it', async () => {
  const created = await json(await api('', { body: { url: receiver.url, event_types: ['message.sent', 'message.delivered'] } }));
  receiver.setSecret(created.secret);
  const everything = await startWebhookReceiver();
  const all = await json(await api('', { body: { url: everything.url } }));
  everything.setSecret(all.secret);

  const messageId = await acceptClerkEvent(harness.request, emailCreated());
  const sent = await waitFor(() => receiver.verified.find((e) => e.type === 'message.sent'), { timeoutMs: 20_000 });
  expect(sent.data).toMatchObject({ id: messageId, status: 'sent', provider: 'resend', source: 'clerk' });
  expect(sent.data.subject).not.toContain('482913');
  expect(JSON.stringify(sent.data)).not.toContain('482913');

  // Resend reports `email.sent` too: recorded on the timeline, but the tenant already heard `message.sent`.
  for (const type of ['email.sent', 'email.delivered']) {
    const res = await harness.request('/webhooks/resend', {
      method: 'POST',
      ...signedResend(resendEvent(type, { email_id: sent.data.provider_message_id })),
    });
    expect(res.status).toBe(200);
  }
  const delivered = await waitFor(() => receiver.verified.find((e) => e.type === 'message.delivered'), { timeoutMs: 20_000 });
  expect(delivered.data).toMatchObject({ id: messageId, status: 'delivered' });
  expect(receiver.verified.map((e) => e.type)).toEqual(['message.sent', 'message.delivered']);
  expect(receiver.rejected).toHaveLength(0);
  // An endpoint taking every type also hears of the message's acceptance.
  const types = await waitFor(() => (everything.verified.length >= 3 ? everything.verified.map((e) => e.type).sort() : null));
  expect(types).toEqual(['message.delivered', 'message.received', 'message.sent']);
  expect(everything.verified.find((e) => e.type === 'message.received')!.data).toMatchObject({ id: messageId, source: 'clerk' });
  await api(`/${all.id}`, { method: 'DELETE' });
  await everything.close();

  // The delivery log, and its resend: the same event (same webhook-id) once more, marked manual.
  const log = await json(await api(`/${created.id}/deliveries`));
  expect(log.data.map((d: { event_type: string }) => d.event_type)).toEqual(['message.delivered', 'message.sent']);
  expect(log.data[0]).toMatchObject({
    status: 'succeeded',
    attempts: [expect.objectContaining({ status_code: 200, outcome: 'succeeded' })],
  });
  const resent = await api(`/${created.id}/deliveries/${log.data[0].id}/resend`, { method: 'POST' });
  expect(resent.status).toBe(202);
  const again = await waitFor(() => (receiver.verified.length === 3 ? receiver.verified[2] : null));
  expect(again.id).toBe(delivered.id);
  // The attempt is logged once the answer is in, just after the receiver saw it.
  const after = await waitFor(async () => {
    const page = await json(await api(`/${created.id}/deliveries`));
    return page.data[0].attempts.length === 2 ? page : null;
  });
  expect(after.data[0].attempts.map((a: { trigger: string }) => a.trigger)).toEqual(['scheduled', 'manual']);

  await api(`/${created.id}`, { method: 'PATCH', body: { enabled: false } });
  expect((await api(`/${created.id}/deliveries/${log.data[0].id}/resend`, { method: 'POST' })).status).toBe(409);
});

it('the dashboard adds an endpoint, shows its secret once, and its delivery log resends', async () => {
  const tenant = await startWebhookReceiver();
  try {
    const session = await logIn(harness);
    const added = await session.post('/dashboard/webhooks', {
      url: tenant.url,
      description: 'from the dashboard',
      event_types: 'suppression.created',
    });
    expect(added.status).toBe(200);
    const page = await added.text();
    const secret = /<code>(whsec_[A-Za-z0-9+/=]+)<\/code>/.exec(page)?.[1];
    expect(secret).toBeDefined();
    tenant.setSecret(secret!);
    const listed = await (await session.get('/dashboard/webhooks')).text();
    expect(listed).toContain('from the dashboard');
    expect(listed).not.toContain(secret!);

    const row = await harness.container.suppressions.suppress({ channel: 'email', recipient: 'dash-board@example.com', reason: 'manual' });
    const event = await waitFor(() => tenant.verified[0]);
    expect(event).toMatchObject({ type: 'suppression.created', data: { id: row.id } });

    const endpointId = new RegExp(`href="/dashboard/webhooks/(ep_[A-Z0-9]+)">${tenant.url}<`).exec(listed)![1]!;
    const logPage = await waitFor(async () => {
      const text = await (await session.get(`/dashboard/webhooks/${endpointId}`)).text();
      return text.includes('succeeded') ? text : null;
    });
    const resendPath = /action="(\/dashboard\/webhooks\/[^"]+\/resend)"/.exec(logPage)![1]!;
    expect((await session.post(resendPath, {})).status).toBe(303);
    const again = await waitFor(() => tenant.verified[1]);
    expect(again.id).toBe(event.id);
    expect((await session.post(`/dashboard/webhooks/${endpointId}/delete`, {})).status).toBe(303);
  } finally {
    await tenant.close();
  }
});
