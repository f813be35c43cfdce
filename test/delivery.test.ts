import { createDeliveryService, type DeliveryDeps, type DeliveryService } from '../src/delivery/delivery-service';
import { createLogger } from '../src/lib/logger';
import { createOutbox } from '../src/providers/outbox';
import type { EmailProvider, OutgoingEmail, ProviderFailure } from '../src/providers/types';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, TEST_CLERK_SECRET, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { svixHeaders } from './helpers/svix';
import { waitFor } from './helpers/wait';
import type { SendJobData } from '../src/queue/catalog';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const postClerk = (harness: Harness, event: unknown): Promise<string> => acceptClerkEvent(harness.request, event);

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** A provider under the test's control; it stands in for the adapter interface, not for any SDK. */
function scriptedProvider(name: string, script: Array<'ok' | ProviderFailure>): EmailProvider & { calls: OutgoingEmail[] } {
  const calls: OutgoingEmail[] = [];
  return {
    name,
    channel: 'email',
    calls,
    async send(message) {
      calls.push(message);
      const step = script[Math.min(calls.length - 1, script.length - 1)];
      if (step !== 'ok') return step!;
      return { kind: 'sent' as const, providerMessageId: `${name}-${calls.length}` };
    },
  };
}

describe('end to end through the outbox', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness(testConfig(database.url), { workers: true });
  });
  afterAll(async () => harness.close());

  it('sends a signed email.created through outbox and shows it, with its timeline, in the API', async () => {
    const event = emailCreated({ otp: '551177' });
    const id = await postClerk(harness, event);
    const message = await waitFor(async () => {
      const m = await json(await harness.request(`/api/messages/${id}`, { headers: admin }));
      return m.status === 'sent' ? m : null;
    });
    expect(message).toMatchObject({
      id,
      source: 'clerk',
      external_id: event.data.id,
      channel: 'email',
      recipient: event.data.to_email_address,
      provider: 'outbox',
      provider_message_id: `outbox_${id}`,
      status: 'sent',
      attempts: 1,
      subject: '[redacted] is your verification code',
    });
    expect(message.events.map((e: { type: string }) => e.type)).toEqual(['received', 'queued', 'sent']);
    expect(message.events[2]).toMatchObject({ provider: 'outbox', detail: { provider_message_id: `outbox_${id}` } });

    const outbox = await database.db.outboxMessage.findUniqueOrThrow({ where: { messageId: id } });
    expect(outbox).toMatchObject({ to: event.data.to_email_address, subject: '551177 is your verification code' });
    expect(outbox.headers).toEqual({ 'X-Entity-Ref-ID': id });
    // Sent: the code no longer exists in clear outside the dev outbox.
    const content = await database.db.messageContent.findUniqueOrThrow({ where: { messageId: id } });
    expect(content.payload).toBeNull();
    expect(harness.logs.text()).not.toContain('551177');
  });

  it('sends once when the same webhook arrives 5 times at once', async () => {
    const event = emailCreated();
    const body = JSON.stringify(event);
    const headers = svixHeaders(TEST_CLERK_SECRET, body, { id: 'msg_five_times' });
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => harness.request('/webhooks/clerk', { method: 'POST', headers, body })),
    );
    const ids = new Set((await Promise.all(responses.map(json))).map((b) => b.message_id));
    expect(ids.size).toBe(1);
    const [id] = [...ids] as string[];
    await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }));
    // Every job the five deliveries could have queued has run.
    await waitFor(async () => {
      const counts = await harness.container.queues.send.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    });
    expect(await database.db.outboxMessage.count({ where: { to: event.data.to_email_address } })).toBe(1);
    expect(await database.db.messageEvent.count({ where: { messageId: id, type: 'sent' } })).toBe(1);
  });

  it('marks a code older than OTP_MAX_AGE_SECONDS expired instead of sending it late', async () => {
    const event = { ...emailCreated(), timestamp: Date.now() - 11 * 60_000 };
    const id = await postClerk(harness, event);
    const message = await waitFor(() => database.db.message.findFirst({ where: { id, status: 'expired' } }));
    expect(message.lastError).toMatch(/expired before it could be sent/);
    expect(await database.db.outboxMessage.count({ where: { messageId: id } })).toBe(0);
    expect((await database.db.messageContent.findUniqueOrThrow({ where: { messageId: id } })).payload).toBeNull();
  });
});

describe('provider chain', () => {
  const log = createLogger('silent');
  const config = {
    PROVIDER_ATTEMPTS: 3,
    PROVIDER_TIMEOUT_MS: 10_000,
    PROVIDER_MAX_PAUSE_SECONDS: 60,
    EMAIL_FROM: 'Acme <auth@acme.example>',
    EMAIL_FROM_DOMAIN: undefined,
    EMAIL_FROM_NAME: undefined,
  };
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness(testConfig(database.url));
  });
  afterAll(async () => harness.close());

  /** The delivery service as the container builds it, with the test's providers. */
  function deliveryWith(email: EmailProvider[], extra: Partial<DeliveryDeps> = {}): DeliveryService {
    return createDeliveryService({
      db: database.db,
      store: harness.container.messageStore,
      providers: { email, sms: [] },
      suppressions: harness.container.suppressions,
      metrics: harness.container.metrics,
      health: harness.container.providerHealth,
      messages: harness.container.messages,
      config,
      log,
      ...extra,
    });
  }

  /** Provider health that lets every call through: no circuit, pause or rate limit in the way. */
  const direct: DeliveryDeps['health'] = { call: async (_name, send) => ({ ok: true, value: await send() }) };

  async function acceptedMessage(): Promise<string> {
    return postClerk(harness, emailCreated());
  }

  it('retries a transient error after a delay, then sends with the same idempotency key', async () => {
    const provider = scriptedProvider('primary', [
      { kind: 'retry' as const, message: '503 from provider', status: 503, unanswered: false },
      'ok',
    ]);
    const delivery = deliveryWith([provider], { random: () => 0 });
    const id = await acceptedMessage();

    const queuedAt = new Date();
    const first = await delivery.processSend({ messageId: id }, queuedAt);
    expect(first).toEqual({ kind: 'retry', delayMs: 500, state: { providerIndex: 0, providerAttempts: 1 } });
    expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'queued',
      lastError: 'primary: 503 from provider',
    });

    // The delayed job runs again with the same queue timestamp: still one `queued` event.
    expect(await delivery.processSend({ messageId: id, providerIndex: 0, providerAttempts: 1 }, queuedAt)).toEqual({
      kind: 'finished',
      status: 'sent',
    });
    expect(provider.calls.map((c) => c.idempotencyKey)).toEqual([`auth-message/${id}`, `auth-message/${id}`]);
    const events = await database.db.messageEvent.findMany({ where: { messageId: id }, orderBy: { id: 'asc' } });
    expect(events.map((e) => e.type)).toEqual(['received', 'queued', 'send_failed', 'sent']);
    expect(events[2]!.detail).toMatchObject({ class: 'transient', status: 503, message: '503 from provider' });
  });

  it('waits at least as long as the provider asks (Retry-After)', async () => {
    const provider = scriptedProvider('primary', [
      { kind: 'retry' as const, message: 'rate limited', status: 429, retryAfterMs: 7_000, unanswered: false },
    ]);
    const delivery = deliveryWith([provider], { random: () => 0 });
    const outcome = await delivery.processSend({ messageId: await acceptedMessage() });
    expect(outcome).toMatchObject({ kind: 'retry', delayMs: 7_000 });
  });

  it('fails over to the next provider after PROVIDER_ATTEMPTS transient failures', async () => {
    const transient = { kind: 'retry' as const, message: 'timeout', status: null, unanswered: false };
    const primary = scriptedProvider('primary', [transient]);
    const secondary = scriptedProvider('secondary', ['ok']);
    const delivery = deliveryWith([primary, secondary], { random: () => 0 });
    const id = await acceptedMessage();
    expect(await delivery.processSend({ messageId: id, providerIndex: 0, providerAttempts: 2 })).toEqual({
      kind: 'finished',
      status: 'sent',
    });
    expect(secondary.calls).toHaveLength(1);
    const message = await database.db.message.findUniqueOrThrow({ where: { id }, include: { events: { orderBy: { id: 'asc' } } } });
    expect(message).toMatchObject({ provider: 'secondary', providerMessageId: 'secondary-1', status: 'sent' });
    expect(message.events.map((e) => [e.type, e.provider])).toEqual([
      ['received', null],
      ['send_failed', 'primary'],
      ['failover', 'secondary'],
      ['sent', 'secondary'],
    ]);
  });

  it('keeps retrying its only provider past PROVIDER_ATTEMPTS while the code is valid, then sends', async () => {
    const serverError = { kind: 'retry' as const, message: '500 from provider', status: 500, unanswered: false };
    const only = scriptedProvider('only', [serverError, serverError, serverError, serverError, serverError, 'ok']);
    const delivery = deliveryWith([only], { health: direct, random: () => 0 });
    const id = await acceptedMessage();
    let job: SendJobData = { messageId: id };
    const outcomes = [];
    for (let i = 0; i < 6; i += 1) {
      const outcome = await delivery.processSend(job);
      outcomes.push(outcome.kind === 'retry' ? outcome.delayMs : outcome.status);
      if (outcome.kind === 'retry') job = { ...job, ...outcome.state };
    }
    // PROVIDER_ATTEMPTS is 3 here: the 4th and 5th failures back off further instead of failing the message.
    expect(outcomes).toEqual([500, 1_500, 4_500, 13_500, 15_000, 'sent']);
    expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'sent', attempts: 6 });
  });

  it('counts the same failure past PROVIDER_ATTEMPTS on one event, as skips are: the timeline stays readable', async () => {
    const serverError = { kind: 'retry' as const, message: '500 from provider', status: 500, unanswered: false };
    const unavailable = { kind: 'retry' as const, message: '503 from provider', status: 503, unanswered: false };
    const script = [serverError, serverError, serverError, serverError, serverError, serverError, unavailable, unavailable, 'ok' as const];
    const delivery = deliveryWith([scriptedProvider('only', script)], { health: direct, random: () => 0 });
    const id = await acceptedMessage();
    let job: SendJobData = { messageId: id };
    for (let i = 0; i < script.length; i += 1) {
      const outcome = await delivery.processSend(job);
      if (outcome.kind === 'retry') job = { ...job, ...outcome.state };
    }
    expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'sent', attempts: 9 });
    const failures = await database.db.messageEvent.findMany({ where: { messageId: id, type: 'send_failed' }, orderBy: { id: 'asc' } });
    // Three within PROVIDER_ATTEMPTS, then one event per run of the same answer: 500 three more times, 503 twice.
    expect(
      failures.map((e) => {
        const d = e.detail as { status: number; count?: number };
        return [d.status, d.count ?? 1];
      }),
    ).toEqual([
      [500, 1],
      [500, 1],
      [500, 1],
      [500, 3],
      [503, 2],
    ]);
    expect(failures[3]!.detail).toMatchObject({ first_at: expect.any(String), last_at: expect.any(String), class: 'transient' });
  });

  it('fails a message on its only provider once the next retry would land after the code expires', async () => {
    const only = scriptedProvider('only', [{ kind: 'retry' as const, message: '500 from provider', status: 500, unanswered: false }]);
    const id = await acceptedMessage();
    const { expiresAt } = await database.db.message.findUniqueOrThrow({ where: { id } });
    // One second before the code expires, with a 4.5 s backoff due: sending later would be sending it late.
    const delivery = deliveryWith([only], { health: direct, random: () => 0, now: () => new Date(expiresAt!.getTime() - 1_000) });
    expect(await delivery.processSend({ messageId: id, providerIndex: 0, providerAttempts: 2 })).toEqual({
      kind: 'finished',
      status: 'failed',
    });
    expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'failed',
      lastError: 'every provider failed; last: only: 500 from provider',
    });
  });

  it('fails over at once on a permanent error another provider could fix', async () => {
    const primary = scriptedProvider('primary', [{ kind: 'fail_over' as const, message: 'invalid api key', status: 401 }]);
    const secondary = scriptedProvider('secondary', ['ok']);
    const delivery = deliveryWith([primary, secondary]);
    expect(await delivery.processSend({ messageId: await acceptedMessage() })).toEqual({ kind: 'finished', status: 'sent' });
    expect([primary.calls.length, secondary.calls.length]).toEqual([1, 1]);
  });

  it('fails a message on a permanent error no provider can fix, with the reason', async () => {
    const primary = scriptedProvider('primary', [{ kind: 'failed' as const, message: 'The to address is invalid', status: 422 }]);
    const secondary = scriptedProvider('secondary', ['ok']);
    const delivery = deliveryWith([primary, secondary]);
    const id = await acceptedMessage();
    expect(await delivery.processSend({ messageId: id })).toEqual({ kind: 'finished', status: 'failed' });
    expect(secondary.calls).toHaveLength(0);
    const message = await database.db.message.findUniqueOrThrow({ where: { id }, include: { content: true } });
    expect(message).toMatchObject({ status: 'failed', lastError: 'primary: The to address is invalid' });
    expect(message.content!.payload).toBeNull();
  });

  it('sends once when the same job runs twice at the same time', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const outbox = createOutbox(database.db).email;
    const slow: EmailProvider & { calls: number } = {
      name: 'outbox',
      channel: 'email',
      calls: 0,
      async send(message) {
        this.calls += 1;
        await gate;
        return outbox.send(message);
      },
    };
    const delivery = deliveryWith([slow]);
    const id = await acceptedMessage();
    const first = delivery.processSend({ messageId: id });
    await waitFor(() => slow.calls === 1);
    const second = await delivery.processSend({ messageId: id });
    expect(second).toMatchObject({ kind: 'retry' });
    release();
    expect(await first).toEqual({ kind: 'finished', status: 'sent' });
    expect(await delivery.processSend({ messageId: id })).toEqual({ kind: 'finished', status: 'sent' });
    expect(slow.calls).toBe(1);
  });

  it('does not overwrite a result another run recorded while this one was sending', async () => {
    const id = await acceptedMessage();
    // This run's lease lapses mid-send (a stalled event loop); another run sends the message and records it.
    const provider: EmailProvider = {
      name: 'primary',
      channel: 'email',
      async send() {
        await database.db.message.update({
          where: { id },
          data: { status: 'sent', provider: 'secondary', providerMessageId: 'other-run-1' },
        });
        return { kind: 'sent' as const, providerMessageId: 'stale-run-1' };
      },
    };
    await expect(deliveryWith([provider]).processSend({ messageId: id })).rejects.toThrow();
    expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'sent',
      providerMessageId: 'other-run-1',
    });
    expect(await database.db.messageEvent.count({ where: { messageId: id, type: 'sent' } })).toBe(0);
    // The job's retry finds the message settled and does nothing.
    expect(await deliveryWith([provider]).processSend({ messageId: id })).toEqual({ kind: 'finished', status: 'sent' });
  });

  it('drops a job whose message does not exist', async () => {
    const delivery = deliveryWith([]);
    expect(await delivery.processSend({ messageId: 'msg_missing' })).toEqual({ kind: 'finished', status: 'missing' });
  });

  it('records a provider paused over many re-checks as one skip event with the count, written once a while', async () => {
    const provider = scriptedProvider('primary', ['ok']);
    // Real health, except that the provider stays paused (rate-limited) for the first 40 re-checks.
    let pausedChecks = 40;
    const health: DeliveryDeps['health'] = {
      call: async (name, send) =>
        pausedChecks-- > 0 ? { ok: false, reason: 'paused', retryInMs: 1_000 } : harness.container.providerHealth.call(name, send),
    };
    const start = Date.now();
    let clock = start;
    const delivery = deliveryWith([provider], { health, now: () => new Date(clock) });
    const id = await acceptedMessage();
    const skipEvents = () => database.db.messageEvent.findMany({ where: { messageId: id, type: 'provider_skipped' } });

    // As the send worker does: each retry runs with the job data merged with the outcome's state, through JSON.
    let job: SendJobData = { messageId: id };
    const recheck = async () => {
      const outcome = await delivery.processSend(job);
      if (outcome.kind === 'retry') job = JSON.parse(JSON.stringify({ ...job, ...outcome.state })) as SendJobData;
      clock += 1_000;
      return outcome;
    };
    for (let i = 0; i < 5; i += 1) expect(await recheck()).toMatchObject({ kind: 'retry' });
    // Five re-checks within the write interval: one event, not yet rewritten.
    expect((await skipEvents()).map((e) => e.detail)).toEqual([
      { reason: 'paused', retry_in_ms: 1_000, count: 1, first_at: new Date(start).toISOString(), last_at: new Date(start).toISOString() },
    ]);
    for (let i = 5; i < 40; i += 1) expect(await recheck()).toMatchObject({ kind: 'retry' });
    expect(await recheck()).toEqual({ kind: 'finished', status: 'sent' });

    const events = await skipEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ provider: 'primary', occurredAt: new Date(start) });
    expect(events[0]!.detail).toEqual({
      reason: 'paused',
      retry_in_ms: 1_000,
      count: 40,
      first_at: new Date(start).toISOString(),
      last_at: new Date(start + 39_000).toISOString(),
    });
    expect(provider.calls).toHaveLength(1);
  });

  it('starts a new skip event when the reason changes', async () => {
    const reasons: Array<'paused' | 'circuit_open'> = ['paused', 'paused', 'circuit_open', 'circuit_open', 'circuit_open'];
    const health: DeliveryDeps['health'] = {
      call: async (name, send) => {
        const reason = reasons.shift();
        return reason ? { ok: false, reason, retryInMs: 500 } : harness.container.providerHealth.call(name, send);
      },
    };
    const delivery = deliveryWith([scriptedProvider('primary', ['ok'])], { health });
    const id = await acceptedMessage();
    let job: SendJobData = { messageId: id };
    for (;;) {
      const outcome = await delivery.processSend(job);
      if (outcome.kind !== 'retry') break;
      job = JSON.parse(JSON.stringify({ ...job, ...outcome.state })) as SendJobData;
    }
    const events = await database.db.messageEvent.findMany({ where: { messageId: id, type: 'provider_skipped' }, orderBy: { id: 'asc' } });
    expect(events.map((e) => [(e.detail as { reason: string }).reason, (e.detail as { count: number }).count])).toEqual([
      ['paused', 2],
      ['circuit_open', 3],
    ]);
  });
});
