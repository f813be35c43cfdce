import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import {
  autosendEvent,
  resendEvent,
  signedAutosend,
  signedResend,
  TEST_AUTOSEND_WEBHOOK_SECRET,
  TEST_RESEND_WEBHOOK_SECRET,
} from './helpers/provider-webhooks';
import { waitFor } from './helpers/wait';
import { autosendAnswers, FAKE_AUTOSEND_KEY, startFakeAutosend } from './fakes/fake-autosend';
import { FAKE_RESEND_KEY, resendAnswers, startFakeResend } from './fakes/fake-resend';
import type { IdempotentFake } from './fakes/idempotent-fake';
import { TERMINAL_STATUSES } from '../src/delivery/delivery-service';

let database: TestDatabase;
let resend: IdempotentFake;
let autosend: IdempotentFake;

beforeAll(async () => {
  [database, resend, autosend] = await Promise.all([createTestDatabase(), startFakeResend(), startFakeAutosend()]);
});

afterAll(async () => {
  await Promise.all([resend.close(), autosend.close()]);
  await database.drop();
});

beforeEach(() => {
  resend.setDefault(resendAnswers.ok());
  autosend.setDefault(autosendAnswers.ok());
});

/**
 * Resend first, Autosend second, both on their fakes; two tries per provider. The timeout is generous so a
 * loaded machine never turns a slow answer into a retry; the tests about timeouts shorten it.
 */
const providerEnv = (env: Record<string, string | undefined> = {}) =>
  testConfig(database.url, {
    EMAIL_PROVIDERS: 'resend,autosend',
    RESEND_API_KEY: FAKE_RESEND_KEY,
    RESEND_BASE_URL: resend.url,
    AUTOSEND_API_KEY: FAKE_AUTOSEND_KEY,
    AUTOSEND_API_URL: autosend.url,
    EMAIL_FROM_DOMAIN: 'acme.test',
    PROVIDER_TIMEOUT_MS: '2000',
    PROVIDER_ATTEMPTS: '2',
    RESEND_MAX_PER_SECOND: '100',
    AUTOSEND_MAX_PER_SECOND: '100',
    ...env,
  });

async function withHarness(env: Record<string, string | undefined>, body: (h: Harness) => Promise<void>): Promise<void> {
  const harness = await startHarness(providerEnv(env), { workers: true });
  try {
    await body(harness);
  } finally {
    await harness.close();
  }
}

const accept = (h: Harness, event = emailCreated()): Promise<string> => acceptClerkEvent(h.request, event);

const settled = (id: string, timeoutMs = 20_000) =>
  waitFor(
    async () => {
      const m = await database.db.message.findUniqueOrThrow({ where: { id } });
      return TERMINAL_STATUSES.includes(m.status) ? m : null;
    },
    { timeoutMs },
  );

const eventsOf = async (id: string) =>
  (await database.db.messageEvent.findMany({ where: { messageId: id }, orderBy: { id: 'asc' } })).map((e) => ({
    type: e.type,
    provider: e.provider,
    detail: e.detail as Record<string, unknown>,
  }));

const requestsFor = (fake: IdempotentFake, id: string) =>
  fake.requests.filter((r) => r.headers['idempotency-key'] === `auth-message/${id}`);
const deliveriesFor = (fake: IdempotentFake, id: string) => fake.deliveries.filter((d) => d.idempotencyKey === `auth-message/${id}`);

describe('a signed Clerk webhook, end to end', () => {
  it('becomes exactly one Resend request with the right From, headers, tags and idempotency key', async () => {
    await withHarness({}, async (h) => {
      const event = emailCreated({ otp: '730241' });
      const id = await accept(h, event);
      const message = await settled(id);
      expect(message).toMatchObject({
        status: 'sent',
        provider: 'resend',
        providerMessageId: deliveriesFor(resend, id)[0]!.id,
        lastError: null,
      });

      const requests = requestsFor(resend, id);
      expect(requests).toHaveLength(1);
      expect(requests[0]!.headers).toMatchObject({ authorization: `Bearer ${FAKE_RESEND_KEY}`, 'idempotency-key': `auth-message/${id}` });
      expect(requests[0]!.json).toEqual({
        from: 'Acme <notifications@acme.test>',
        to: event.data.to_email_address,
        subject: '730241 is your verification code',
        html: event.data.body,
        text: event.data.body_plain,
        headers: { 'X-Entity-Ref-ID': id },
        tags: [
          { name: 'message_id', value: id },
          { name: 'template', value: 'verification_code' },
        ],
      });
      expect(requestsFor(autosend, id)).toHaveLength(0);
      expect((await eventsOf(id)).map((e) => e.type)).toEqual(['received', 'queued', 'sent']);
      // The code leaves in the request only: not in the logs, and the clear copy is gone once sent.
      expect(h.logs.text()).not.toContain('730241');
      expect((await database.db.messageContent.findUniqueOrThrow({ where: { messageId: id } })).payload).toBeNull();
      // Resend's ratelimit-* headers are kept for every process to pace itself on.
      expect((await h.container.providerHealth.states()).find((s) => s.provider === 'resend')).toMatchObject({
        circuit: 'closed',
        reported_per_second: 1000,
      });
    });
  });
});

describe('one adapter per provider, for sending and for its webhook', () => {
  const statusOf = async (id: string) => (await database.db.message.findUniqueOrThrow({ where: { id } })).status;
  const post = (h: Harness, path: string, signed: { body: string; headers: Record<string, string> }) =>
    h.request(path, { method: 'POST', headers: signed.headers, body: signed.body });

  it('Resend: the adapter that sent the message parses its webhook, joined back by the tags it sent', async () => {
    await withHarness({ RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET }, async (h) => {
      const resendAdapter = h.container.webhookProviders.find((p) => p.name === 'resend');
      expect(resendAdapter).toBe(h.container.providers.email[0]);

      const id = await accept(h);
      expect(await settled(id)).toMatchObject({ status: 'sent', provider: 'resend' });
      // Resend echoes send-side tags on its webhooks as an object; its email id is unknown to us here.
      const sent = requestsFor(resend, id)[0]!.json as { tags: { name: string; value: string }[] };
      const tags = Object.fromEntries(sent.tags.map((t) => [t.name, t.value]));
      const res = await post(h, '/webhooks/resend', signedResend(resendEvent('email.delivered', { email_id: 're_not_recorded', tags })));
      expect(res.status).toBe(200);
      await waitFor(async () => (await statusOf(id)) === 'delivered', { timeoutMs: 20_000 });
    });
  });

  it('Autosend: sends our message id in metadata, and its webhook carrying it back joins the message', async () => {
    await withHarness({ EMAIL_PROVIDERS: 'autosend', AUTOSEND_WEBHOOK_SECRET: TEST_AUTOSEND_WEBHOOK_SECRET }, async (h) => {
      expect(h.container.webhookProviders.find((p) => p.name === 'autosend')).toBe(h.container.providers.email[0]);
      const id = await accept(h);
      expect(await settled(id)).toMatchObject({ status: 'sent', provider: 'autosend' });
      const { metadata } = requestsFor(autosend, id)[0]!.json as { metadata: Record<string, string> };
      expect(metadata).toEqual({ message_id: id });
      const res = await post(
        h,
        '/webhooks/autosend',
        signedAutosend(autosendEvent('email.delivered', { emailId: 'as_not_recorded', metadata })),
      );
      expect(res.status).toBe(200);
      await waitFor(async () => (await statusOf(id)) === 'delivered', { timeoutMs: 20_000 });
    });
  });

  it('a provider sends without its webhook set up; its route answers 503 naming the secret to set', async () => {
    await withHarness({ EMAIL_PROVIDERS: 'resend' }, async (h) => {
      const id = await accept(h);
      expect(await settled(id)).toMatchObject({ status: 'sent', provider: 'resend' });
      const res = await h.request('/webhooks/resend', { method: 'POST', body: '{}' });
      expect(res.status).toBe(503);
      expect((await json(res)).error.message).toMatch(/RESEND_WEBHOOK_SECRET/);
    });
  });

  it('a provider out of the send chain still receives the events of what it sent before', async () => {
    await withHarness(
      { EMAIL_PROVIDERS: 'resend', AUTOSEND_API_KEY: undefined, AUTOSEND_WEBHOOK_SECRET: TEST_AUTOSEND_WEBHOOK_SECRET },
      async (h) => {
        expect(h.container.providers.email.map((p) => p.name)).toEqual(['resend']);
        const id = await accept(h);
        await settled(id);
        // Sent through Autosend before it was taken out of EMAIL_PROVIDERS.
        await database.db.message.update({ where: { id }, data: { provider: 'autosend', providerMessageId: 'as_earlier' } });
        const res = await post(h, '/webhooks/autosend', signedAutosend(autosendEvent('email.delivered', { emailId: 'as_earlier' })));
        expect(res.status).toBe(200);
        await waitFor(async () => (await statusOf(id)) === 'delivered', { timeoutMs: 20_000 });
      },
    );
  });
});

describe('an admin retry', () => {
  it('sends again under a new idempotency key, which the provider does not answer from its first send', async () => {
    await withHarness({}, async (h) => {
      const id = await accept(h, emailCreated({ data: { slug: 'invitation', data: { app: { name: 'Acme' } }, subject: 'Join Acme' } }));
      const first = await settled(id);
      expect(deliveriesFor(resend, id)).toHaveLength(1);
      // Resend took it, then reported it failed (say, its daily quota ran out before it went out).
      await database.db.message.update({ where: { id }, data: { status: 'failed', lastError: 'resend: reached_daily_quota' } });

      const res = await h.request(`/api/messages/${id}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      });
      expect(res.status).toBe(202);
      const again = await waitFor(async () => {
        const m = await database.db.message.findUniqueOrThrow({ where: { id } });
        return m.status === 'sent' ? m : null;
      });
      const retryDeliveries = resend.deliveries.filter((d) => d.idempotencyKey === `auth-message/${id}/retry-1`);
      expect(retryDeliveries).toHaveLength(1);
      expect(again.providerMessageId).toBe(retryDeliveries[0]!.id);
      expect(again.providerMessageId).not.toBe(first.providerMessageId);
    });
  });
});

describe('retries', () => {
  it('retries a timed-out send with the same idempotency key', async () => {
    await withHarness({ PROVIDER_TIMEOUT_MS: '400' }, async (h) => {
      resend.script(resendAnswers.hang());
      const id = await accept(h);
      expect(await settled(id)).toMatchObject({ status: 'sent', provider: 'resend', attempts: 2 });
      const requests = requestsFor(resend, id);
      expect(requests).toHaveLength(2);
      expect(requests.map((r) => r.headers['idempotency-key'])).toEqual([`auth-message/${id}`, `auth-message/${id}`]);
      const failed = (await eventsOf(id)).find((e) => e.type === 'send_failed')!;
      expect(failed).toMatchObject({
        provider: 'resend',
        detail: { class: 'transient', message: expect.stringMatching(/no answer within 400 ms/) },
      });
    });
  });

  it('does not send again when the provider took the message but the answer came too late', async () => {
    await withHarness({ PROVIDER_TIMEOUT_MS: '400' }, async (h) => {
      // Resend accepts at once but answers after the timeout; the retry meets the same key still in flight
      // (409), waits without failing over, and gets the original id.
      resend.script(resendAnswers.ok(2_500));
      const id = await accept(h);
      const message = await settled(id);
      expect(deliveriesFor(resend, id)).toHaveLength(1);
      expect(message).toMatchObject({ status: 'sent', provider: 'resend', providerMessageId: deliveriesFor(resend, id)[0]!.id });
      expect(requestsFor(autosend, id)).toHaveLength(0);
    });
  });

  it('honours a 429 Retry-After before asking the same provider again', async () => {
    await withHarness({}, async (h) => {
      resend.script(resendAnswers.rateLimited(2));
      const id = await accept(h);
      expect(await settled(id)).toMatchObject({ status: 'sent', provider: 'resend' });
      const [first, second] = requestsFor(resend, id);
      expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(1_950);
      expect((await eventsOf(id)).find((e) => e.type === 'send_failed')!.detail).toMatchObject({
        status: 429,
        code: 'rate_limit_exceeded',
      });
    });
  });

  it('pauses only the rate-limited provider: other messages go through the next one meanwhile', async () => {
    await withHarness({}, async (h) => {
      resend.script(resendAnswers.rateLimited(30));
      const limited = await accept(h);
      await waitFor(() => requestsFor(resend, limited).length === 1);
      await waitFor(async () => (await h.container.providerHealth.states()).find((s) => s.provider === 'resend')!.paused_until);

      const other = await accept(h);
      expect(await settled(other)).toMatchObject({ status: 'sent', provider: 'autosend' });
      expect(requestsFor(resend, other)).toHaveLength(0);
      expect((await eventsOf(other)).find((e) => e.type === 'provider_skipped')).toMatchObject({
        provider: 'resend',
        detail: { reason: 'paused' },
      });
      // The rate-limited message itself waits for Resend (Retry-After is well inside the code's lifetime).
      expect(await database.db.message.findUniqueOrThrow({ where: { id: limited } })).toMatchObject({ status: 'queued' });
    });
  });
});

describe('failover and the circuit', () => {
  it('fails over resend → autosend, skips resend while its circuit is open, and returns to it once it recovers', async () => {
    await withHarness({ PROVIDER_CIRCUIT_FAILURES: '2', PROVIDER_CIRCUIT_OPEN_SECONDS: '3' }, async (h) => {
      const resendState = async () => (await h.container.providerHealth.states()).find((s) => s.provider === 'resend')!;
      resend.setDefault(resendAnswers.serverError());

      const first = await accept(h);
      expect(await settled(first)).toMatchObject({ status: 'sent', provider: 'autosend', attempts: 3 });
      expect((await eventsOf(first)).map((e) => `${e.type}:${e.provider ?? ''}`)).toEqual([
        'received:',
        'queued:',
        'send_failed:resend',
        'send_failed:resend',
        'failover:autosend',
        'sent:autosend',
      ]);
      expect(await resendState()).toMatchObject({ circuit: 'open', consecutive_failures: 2 });

      // While open, Resend is not asked at all: the message goes straight to Autosend.
      const second = await accept(h);
      expect(await settled(second)).toMatchObject({ status: 'sent', provider: 'autosend', attempts: 1 });
      expect(requestsFor(resend, second)).toHaveLength(0);
      expect((await eventsOf(second)).find((e) => e.type === 'provider_skipped')).toMatchObject({
        provider: 'resend',
        detail: { reason: 'circuit_open' },
      });

      // Resend recovers; after the cool-down the next message is the probe, and it closes the circuit.
      resend.setDefault(resendAnswers.ok());
      await waitFor(async () => (await resendState()).circuit === 'half_open', { timeoutMs: 10_000 });
      const third = await accept(h);
      expect(await settled(third)).toMatchObject({ status: 'sent', provider: 'resend' });
      expect(requestsFor(autosend, third)).toHaveLength(0);
      expect(await resendState()).toMatchObject({ circuit: 'closed', consecutive_failures: 0 });
    });
  });

  it('keeps retrying the only provider after PROVIDER_ATTEMPTS 500s while the code is valid: sent, not failed', async () => {
    await withHarness({ EMAIL_PROVIDERS: 'resend', PROVIDER_CIRCUIT_FAILURES: '10' }, async (h) => {
      resend.script(resendAnswers.serverError(), resendAnswers.serverError(), resendAnswers.serverError());
      const id = await accept(h);
      expect(await settled(id, 30_000)).toMatchObject({ status: 'sent', provider: 'resend', attempts: 4 });
      expect((await eventsOf(id)).filter((e) => e.type === 'send_failed')).toHaveLength(3);
    });
  }, 40_000);

  it('fails over at once on a quota error (a 429 that is not a rate limit)', async () => {
    await withHarness({}, async (h) => {
      resend.script(resendAnswers.dailyQuota());
      const id = await accept(h);
      expect(await settled(id)).toMatchObject({ status: 'sent', provider: 'autosend' });
      expect(requestsFor(resend, id)).toHaveLength(1);
      expect((await eventsOf(id)).find((e) => e.type === 'send_failed')!.detail).toMatchObject({
        class: 'permanent',
        status: 429,
        code: 'daily_quota_exceeded',
        raw: { name: 'daily_quota_exceeded', statusCode: 429 },
      });
    });
  });

  it('retries later, without spending attempts, when every provider is unavailable', async () => {
    await withHarness({ PROVIDER_CIRCUIT_FAILURES: '1', PROVIDER_CIRCUIT_OPEN_SECONDS: '3', PROVIDER_ATTEMPTS: '1' }, async (h) => {
      resend.setDefault(resendAnswers.serverError());
      autosend.setDefault(autosendAnswers.serverError());
      const first = await accept(h);
      await waitFor(async () => (await eventsOf(first)).some((e) => e.type === 'send_failed' && e.provider === 'autosend'));
      const states = await h.container.providerHealth.states();
      expect(states.filter((s) => s.provider !== 'outbox').map((s) => [s.provider, s.circuit])).toEqual([
        ['resend', 'open'],
        ['autosend', 'open'],
      ]);
      // Its last provider failed, but its code has time left: it waits to be tried again, not `failed`.
      await waitFor(() => database.db.message.findFirst({ where: { id: first, status: 'queued' } }));

      // Both circuits are open now: the next message waits instead of failing…
      resend.setDefault(resendAnswers.ok());
      autosend.setDefault(autosendAnswers.ok());
      const second = await accept(h);
      await waitFor(async () => (await eventsOf(second)).filter((e) => e.type === 'provider_skipped').length >= 2);
      // …and both go out once a circuit lets a probe through.
      expect(await settled(second)).toMatchObject({ status: 'sent', attempts: 1 });
      expect(await settled(first)).toMatchObject({ status: 'sent' });
    });
  });
});

describe('permanent failures', () => {
  it("marks a message failed with the provider's reason, without trying another provider", async () => {
    await withHarness({}, async (h) => {
      resend.script(resendAnswers.validation());
      const id = await accept(h);
      expect(await settled(id)).toMatchObject({ status: 'failed', lastError: 'resend: Invalid `to` field.' });
      expect(requestsFor(autosend, id)).toHaveLength(0);
      const res = await h.request(`/api/messages/${id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
      const body = await json(res);
      expect(body.last_error).toBe('resend: Invalid `to` field.');
      expect(body.events.map((e: { type: string }) => e.type)).toEqual(['received', 'queued', 'send_failed', 'failed']);
    });
  });

  it('fails a message with no usable From with a clear reason, and keeps working', async () => {
    await withHarness({ EMAIL_FROM_DOMAIN: undefined }, async (h) => {
      const id = await accept(h);
      const message = await settled(id);
      expect(message.status).toBe('failed');
      expect(message.lastError).toMatch(/^resend: no usable From address: set EMAIL_FROM .* or EMAIL_FROM_DOMAIN$/);
      expect(requestsFor(resend, id)).toHaveLength(0);
      expect(requestsFor(autosend, id)).toHaveLength(0);
      expect(h.workers!.workers.every((w) => w.isRunning())).toBe(true);
    });
  });
});

describe('no message is sent twice', () => {
  it('when two workers run the same message at once', async () => {
    // A generous timeout: this is about the lease, and a loaded test machine must not turn it into a retry.
    const config = providerEnv({ PROVIDER_TIMEOUT_MS: '5000' });
    const [a, b] = [await startHarness(config), await startHarness(config)];
    try {
      resend.setDefault(resendAnswers.ok(200));
      const id = await accept(a);
      const outcomes = await Promise.all([
        a.container.delivery.processSend({ messageId: id }),
        b.container.delivery.processSend({ messageId: id }),
      ]);
      expect(outcomes.map((o) => o.kind).sort()).toEqual(['finished', 'retry']);
      expect(requestsFor(resend, id)).toHaveLength(1);
      expect(deliveriesFor(resend, id)).toHaveLength(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('when a worker stops mid-batch and another process takes over its jobs', async () => {
    const config = providerEnv({ PROVIDER_TIMEOUT_MS: '5000' });
    const workerTuning = { lockDuration: 1_000, stalledInterval: 500 };
    const a = await startHarness(config, { workers: true, workerTuning });
    const b = await startHarness(config, { workers: true, workerTuning });
    try {
      resend.setDefault(resendAnswers.ok(300));
      const ids = await Promise.all(Array.from({ length: 20 }, () => accept(a)));
      await waitFor(() => ids.some((id) => requestsFor(resend, id).length > 0));
      // A stops without waiting for its jobs: they stall, and B's stalled-job check hands them to B.
      await a.workers!.close(0);
      const finals = await Promise.all(ids.map((id) => settled(id)));
      const described = await Promise.all(
        finals.map(async (m) => `${m.status}:${m.provider} ${m.status === 'sent' ? '' : JSON.stringify(await eventsOf(m.id))}`.trim()),
      );
      expect(described).toEqual(ids.map(() => 'sent:resend'));
      expect(ids.map((id) => deliveriesFor(resend, id).length)).toEqual(ids.map(() => 1));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("when a stuck worker's lease lapses mid-send and another worker takes the message over", async () => {
    // One try per provider: anything but "wait for Resend" would fail over to Autosend at once.
    const config = providerEnv({ PROVIDER_TIMEOUT_MS: '5000', PROVIDER_ATTEMPTS: '1' });
    const [a, b] = [await startHarness(config), await startHarness(config)];
    try {
      resend.setDefault(resendAnswers.ok(1_500));
      const id = await accept(a);
      // Worker B sends; Resend takes the message at once but answers only after 1.5 s.
      const stuck = b.container.delivery.processSend({ messageId: id });
      await waitFor(() => requestsFor(resend, id).length === 1);
      // B freezes past its lease (a long GC pause, a suspended VM); the job is handed to worker A.
      await database.db.message.update({ where: { id }, data: { leaseUntil: new Date(Date.now() - 1) } });
      const takeover = await a.container.delivery.processSend({ messageId: id });
      // Same key, same body: Resend says the first request is still in progress. A waits; it does not fail over.
      expect(takeover.kind).toBe('retry');
      expect(requestsFor(autosend, id)).toHaveLength(0);
      expect(await stuck).toEqual({ kind: 'finished', status: 'sent' });
      expect(await a.container.delivery.processSend({ messageId: id })).toEqual({ kind: 'finished', status: 'sent' });
      expect(deliveriesFor(resend, id)).toHaveLength(1);
      expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({
        status: 'sent',
        providerMessageId: deliveriesFor(resend, id)[0]!.id,
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
