import { createHash, createHmac } from 'node:crypto';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import {
  autosendEvent,
  resendEvent,
  sentMessage,
  signedAutosend,
  signedResend,
  TEST_AUTOSEND_WEBHOOK_SECRET,
  TEST_RESEND_WEBHOOK_SECRET,
} from './helpers/provider-webhooks';
import { waitFor } from './helpers/wait';

let database: TestDatabase;
let harness: Harness;

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(
    testConfig(database.url, { RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET, AUTOSEND_WEBHOOK_SECRET: TEST_AUTOSEND_WEBHOOK_SECRET }),
    { workers: true },
  );
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const post = (path: string, signed: { body: string; headers: Record<string, string> }) =>
  harness.request(path, { method: 'POST', headers: signed.headers, body: signed.body });

const messageWithEvents = (id: string) =>
  database.db.message.findUniqueOrThrow({ where: { id }, include: { events: { orderBy: { id: 'asc' } } } });

/** Waits until the message's timeline has `count` events of `type`. */
const eventsOf = async (id: string, type: string, count = 1) => {
  await waitFor(async () => (await database.db.messageEvent.count({ where: { messageId: id, type } })) >= count, { timeoutMs: 15_000 });
  // The suppression and the Clerk write-back follow the timeline write: wait until the job has finished them.
  await waitFor(async () => (await database.db.providerEvent.count({ where: { messageId: id, processedAt: { not: null } } })) >= count, {
    timeoutMs: 15_000,
  });
  // Read after the event's transaction is visible: an include loads the message and its events in two queries.
  return messageWithEvents(id);
};

describe('Resend webhooks', () => {
  it.each([
    ['email.sent', {}, 'sent', 'sent'],
    ['email.delivered', {}, 'delivered', 'delivered'],
    ['email.delivery_delayed', {}, 'delivery_delayed', 'delayed'],
    ['email.complained', {}, 'complained', 'complained'],
    ['email.failed', { failed: { reason: 'reached_daily_quota' } }, 'failed', 'failed'],
    [
      'email.suppressed',
      { suppressed: { type: 'OnAccountSuppressionList', message: 'on list', reason: 'previous_bounce' } },
      'suppressed',
      'suppressed',
    ],
    ['email.opened', {}, 'opened', 'sent'],
    ['email.clicked', { click: { link: 'https://acme.example/magic?token=secret', ipAddress: '1.2.3.4' } }, 'clicked', 'sent'],
    [
      'email.bounced',
      {
        bounce: {
          type: 'Permanent',
          subType: 'General',
          message: 'The recipient does not exist',
          diagnosticCode: ['smtp; 550 5.1.1 user unknown'],
        },
      },
      'bounced',
      'bounced',
    ],
    ['email.bounced', { bounce: { type: 'Transient', subType: 'MailboxFull', message: 'Mailbox full' } }, 'bounced', 'bounced'],
  ])('%s %j → timeline event %s, status %s', async (type, data, eventType, status) => {
    const message = await sentMessage(database.db);
    const res = await post(
      '/webhooks/resend',
      signedResend(resendEvent(type, { ...data, email_id: message.providerMessageId, to: [message.recipient] })),
    );
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ received: true });
    const after = await eventsOf(message.id, eventType);
    expect(after.status).toBe(status);
    const event = after.events.find((e) => e.type === eventType)!;
    expect(event.provider).toBe('resend');
    expect(event.detail).toMatchObject({ provider_type: type, provider_message_id: message.providerMessageId });
    if (type === 'email.delivered') expect(after.deliveredAt).not.toBeNull();
    if (type === 'email.failed') expect(after.lastError).toMatch(/reached_daily_quota/);

    const suppression = await database.db.suppression.findFirst({ where: { recipient: message.recipient } });
    // Resend's own suppression list holds addresses that bounced or complained before: ours follows it.
    const hard =
      type === 'email.complained' || type === 'email.suppressed' || (data as { bounce?: { type: string } }).bounce?.type === 'Permanent';
    if (hard) {
      expect(suppression).toMatchObject({ channel: 'email', sourceMessageId: message.id });
      if (type === 'email.complained') expect(suppression).toMatchObject({ reason: 'complaint', expiresAt: null });
      else if (type === 'email.suppressed') {
        expect(suppression).toMatchObject({
          reason: 'hard_bounce',
          detail: {
            provider: 'resend',
            provider_suppression: { suppression_type: 'OnAccountSuppressionList', message: 'on list', reason: 'previous_bounce' },
          },
        });
        expect(after.lastError).toBe("not sent: the address is on resend's suppression list (OnAccountSuppressionList): on list");
      } else {
        expect(suppression!.reason).toBe('hard_bounce');
        expect(event.detail).toMatchObject({
          bounce_kind: 'hard',
          bounce_type: 'Permanent',
          bounce_sub_type: 'General',
          diagnostic: 'smtp; 550 5.1.1 user unknown',
        });
        expect(after.lastError).toMatch(/hard bounce \(Permanent\/General\): smtp; 550 5.1.1 user unknown/);
        const days = (suppression!.expiresAt!.getTime() - Date.now()) / 86_400_000;
        expect(days).toBeGreaterThan(89);
        expect(days).toBeLessThanOrEqual(90);
      }
    } else {
      expect(suppression).toBeNull();
    }
  });

  it('records and applies a bounce whose text holds U+0000, which Postgres cannot store (kept as U+FFFD)', async () => {
    const message = await sentMessage(database.db);
    const bounce = {
      type: 'Permanent',
      subType: 'General',
      message: 'no such user',
      diagnosticCode: ['smtp; 550 5.1.1 user\u0000unknown'],
    };
    const res = await post(
      '/webhooks/resend',
      signedResend(resendEvent('email.bounced', { email_id: message.providerMessageId, to: [message.recipient], bounce })),
    );
    expect(res.status).toBe(200);
    const after = await eventsOf(message.id, 'bounced');
    expect(after.status).toBe('bounced');
    expect(after.events.find((e) => e.type === 'bounced')!.detail).toMatchObject({ diagnostic: 'smtp; 550 5.1.1 user\uFFFDunknown' });
    expect(await database.db.suppression.findFirst({ where: { recipient: message.recipient } })).toMatchObject({ reason: 'hard_bounce' });
  });

  it('a Resend suppression for a previous complaint suppresses the address for good', async () => {
    const message = await sentMessage(database.db);
    const suppressed = { type: 'OnAccountSuppressionList', message: 'on list', reason: 'previous_complaint' };
    const res = await post(
      '/webhooks/resend',
      signedResend(resendEvent('email.suppressed', { email_id: message.providerMessageId, suppressed })),
    );
    expect(res.status).toBe(200);
    await eventsOf(message.id, 'suppressed');
    const suppression = await waitFor(() => database.db.suppression.findFirst({ where: { recipient: message.recipient } }), {
      timeoutMs: 15_000,
    });
    expect(suppression).toMatchObject({ reason: 'complaint', expiresAt: null, sourceMessageId: message.id });
  });

  it('keeps neither the subject (it carries the code) nor clicked links in the stored event', async () => {
    const message = await sentMessage(database.db);
    const event = resendEvent('email.clicked', {
      email_id: message.providerMessageId,
      click: { link: 'https://acme.example/v?token=tok_SECRET' },
    });
    await post('/webhooks/resend', signedResend(event));
    await eventsOf(message.id, 'clicked');
    const stored = await database.db.providerEvent.findFirstOrThrow({ where: { providerMessageId: message.providerMessageId } });
    const text = JSON.stringify(stored.payload);
    expect(text).not.toContain('482913');
    expect(text).not.toContain('tok_SECRET');
  });

  it('stores and acknowledges event types it does not act on', async () => {
    const res = await post(
      '/webhooks/resend',
      signedResend({ type: 'domain.updated', created_at: new Date().toISOString(), data: { id: 'd_1', status: 'verified' } }),
    );
    expect(res.status).toBe(200);
    const stored = await database.db.providerEvent.findFirstOrThrow({ where: { provider: 'resend', type: 'unknown' } });
    expect(stored).toMatchObject({ outcome: 'ignored' });
    expect(stored.processedAt).not.toBeNull();
  });

  it('joins by our message_id tag when the provider id is not on the message', async () => {
    const message = await sentMessage(database.db, { providerMessageId: null });
    await post(
      '/webhooks/resend',
      signedResend(resendEvent('email.delivered', { email_id: 're_unknown', tags: { message_id: message.id } })),
    );
    expect((await eventsOf(message.id, 'delivered')).status).toBe('delivered');
  });

  it('records a repeated delivery (same svix-id) once', async () => {
    const message = await sentMessage(database.db);
    const signed = signedResend(resendEvent('email.delivered', { email_id: message.providerMessageId }), { id: 'msg_repeat_1' });
    const answers = await Promise.all([
      post('/webhooks/resend', signed),
      post('/webhooks/resend', signed),
      post('/webhooks/resend', signed),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    await eventsOf(message.id, 'delivered');
    expect(await post('/webhooks/resend', signed).then(json)).toEqual({ received: true, duplicate: true });
    await new Promise((r) => setTimeout(r, 300));
    const after = await messageWithEvents(message.id);
    expect(after.events.filter((e) => e.type === 'delivered')).toHaveLength(1);
    expect(await database.db.providerEvent.count({ where: { eventId: 'msg_repeat_1' } })).toBe(1);
  });

  it('rejects a bad signature with 401 and stores nothing', async () => {
    const message = await sentMessage(database.db);
    const signed = signedResend(resendEvent('email.bounced', { email_id: message.providerMessageId }), {
      secret: `whsec_${Buffer.from('some-other-secret-entirely-000000').toString('base64')}`,
    });
    const res = await post('/webhooks/resend', signed);
    expect(res.status).toBe(401);
    expect((await json(res)).error.code).toBe('invalid_signature');
    expect(await database.db.providerEvent.count({ where: { providerMessageId: message.providerMessageId } })).toBe(0);
  });
});

describe('status only moves forward', () => {
  const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000);

  it('a late delivered never overwrites bounced, but is recorded and sets delivered_at', async () => {
    const message = await sentMessage(database.db);
    await post(
      '/webhooks/resend',
      signedResend(
        resendEvent('email.bounced', { email_id: message.providerMessageId, bounce: { type: 'Permanent', subType: 'General' } }, at(1)),
      ),
    );
    await eventsOf(message.id, 'bounced');
    await post('/webhooks/resend', signedResend(resendEvent('email.delivered', { email_id: message.providerMessageId }, at(5))));
    const after = await eventsOf(message.id, 'delivered');
    expect(after.status).toBe('bounced');
    expect(after.deliveredAt).not.toBeNull();
  });

  it('a bounce after delivered is applied', async () => {
    const message = await sentMessage(database.db);
    await post('/webhooks/resend', signedResend(resendEvent('email.delivered', { email_id: message.providerMessageId }, at(5))));
    await eventsOf(message.id, 'delivered');
    await post(
      '/webhooks/resend',
      signedResend(resendEvent('email.bounced', { email_id: message.providerMessageId, bounce: { type: 'Permanent' } }, at(1))),
    );
    const after = await eventsOf(message.id, 'bounced');
    expect(after.status).toBe('bounced');
    expect(after.events.map((e) => e.type).filter((t) => t !== 'clerk_writeback')).toEqual(['delivered', 'bounced']);
  });

  it('a soft bounce after delivered is recorded, and the message stays delivered', async () => {
    const message = await sentMessage(database.db);
    await post('/webhooks/resend', signedResend(resendEvent('email.delivered', { email_id: message.providerMessageId }, at(5))));
    await eventsOf(message.id, 'delivered');
    await post(
      '/webhooks/resend',
      signedResend(
        resendEvent('email.bounced', { email_id: message.providerMessageId, bounce: { type: 'Transient', subType: 'MailboxFull' } }, at(1)),
      ),
    );
    const after = await eventsOf(message.id, 'bounced');
    expect(after.status).toBe('delivered');
    expect(await database.db.suppression.count({ where: { recipient: message.recipient } })).toBe(0);
  });

  it('a delay never overwrites delivered, bounced or complained', async () => {
    for (const [type, extra, status] of [
      ['email.delivered', {}, 'delivered'],
      ['email.bounced', { bounce: { type: 'Permanent' } }, 'bounced'],
      ['email.complained', {}, 'complained'],
    ] as const) {
      const message = await sentMessage(database.db);
      await post('/webhooks/resend', signedResend(resendEvent(type, { email_id: message.providerMessageId, ...extra })));
      await waitFor(async () => (await messageWithEvents(message.id)).status === status);
      await post('/webhooks/resend', signedResend(resendEvent('email.delivery_delayed', { email_id: message.providerMessageId })));
      expect((await eventsOf(message.id, 'delivery_delayed')).status).toBe(status);
    }
  });

  it('an event that arrives before our own record of the provider id is applied once the id is written', async () => {
    const message = await sentMessage(database.db, { status: 'sending', providerMessageId: null });
    const providerId = 're_early_bird';
    const res = await post('/webhooks/resend', signedResend(resendEvent('email.delivered', { email_id: providerId })));
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await messageWithEvents(message.id)).events).toHaveLength(0);
    // The send worker records the provider's answer.
    await database.db.message.update({
      where: { id: message.id },
      data: { status: 'sent', providerMessageId: providerId, sentAt: new Date() },
    });
    const after = await eventsOf(message.id, 'delivered');
    expect(after.status).toBe('delivered');
    const stored = await database.db.providerEvent.findFirstOrThrow({ where: { providerMessageId: providerId } });
    expect(stored).toMatchObject({ outcome: 'applied', messageId: message.id });
  }, 30_000);
});

describe('Autosend webhooks', () => {
  it.each([
    ['email.sent', {}, 'sent', 'sent'],
    ['email.delivered', {}, 'delivered', 'delivered'],
    ['email.deferred', {}, 'delivery_delayed', 'delayed'],
    [
      'email.bounced',
      { bounceType: 'Permanent', bounceSubType: 'NoEmail', diagnosticCode: '550 5.1.1 no such user' },
      'bounced',
      'bounced',
    ],
    ['email.bounced', { bounceType: 'Transient' }, 'bounced', 'bounced'],
    ['email.spam_reported', {}, 'complained', 'complained'],
    ['email.opened', {}, 'opened', 'sent'],
    ['email.clicked', {}, 'clicked', 'sent'],
  ])('%s %j → timeline event %s, status %s', async (type, data, eventType, status) => {
    const message = await sentMessage(database.db, {
      provider: 'autosend',
      providerMessageId: `as_${Math.random().toString(16).slice(2)}`,
    });
    const res = await post('/webhooks/autosend', signedAutosend(autosendEvent(type, { ...data, emailId: message.providerMessageId })));
    expect(res.status).toBe(200);
    const after = await eventsOf(message.id, eventType);
    expect(after.status).toBe(status);
    const hard = type === 'email.spam_reported' || (data as { bounceType?: string }).bounceType === 'Permanent';
    const suppression = await database.db.suppression.findFirst({ where: { recipient: message.recipient } });
    expect(suppression === null).toBe(!hard);
    if (type === 'email.bounced' && hard) {
      expect(after.events.find((e) => e.type === 'bounced')!.detail).toMatchObject({
        bounce_kind: 'hard',
        bounce_sub_type: 'NoEmail',
        diagnostic: '550 5.1.1 no such user',
      });
    }
  });

  // Autosend does not document its bounce fields: every spelling is read, and none can make a bounce refused.
  it.each([
    [{ bounce_type: 'permanent' }, 'hard', null],
    [{ bounce: { type: 'Permanent', diagnosticCode: ['smtp; 550 5.1.1 user unknown'] } }, 'hard', 'smtp; 550 5.1.1 user unknown'],
    [{ diagnosticCode: '550 5.1.1 no such user' }, 'hard', '550 5.1.1 no such user'],
    [{ diagnostic_code: '552 5.2.2 mailbox full' }, 'soft', '552 5.2.2 mailbox full'],
    [{ bounce: { kind: 'Soft Bounce', smtpResponse: 421 } }, 'soft', null],
    [{}, 'soft', null],
  ])('reads the bounce %j as %s', async (bounce, kind, diagnostic) => {
    const message = await sentMessage(database.db, {
      provider: 'autosend',
      providerMessageId: `as_${Math.random().toString(16).slice(2)}`,
    });
    const res = await post(
      '/webhooks/autosend',
      signedAutosend(autosendEvent('email.bounced', { ...bounce, emailId: message.providerMessageId })),
    );
    expect(res.status).toBe(200);
    const after = await eventsOf(message.id, 'bounced');
    const detail = after.events.find((e) => e.type === 'bounced')!.detail as Record<string, unknown>;
    expect(detail.bounce_kind).toBe(kind);
    if (diagnostic) expect(detail.diagnostic).toBe(diagnostic);
    const suppression = await database.db.suppression.findFirst({ where: { recipient: message.recipient } });
    expect(suppression === null).toBe(kind === 'soft');
  });

  it('accepts the hmac-sha256= prefixed signature form', async () => {
    const message = await sentMessage(database.db, { provider: 'autosend', providerMessageId: 'as_prefixed' });
    const res = await post(
      '/webhooks/autosend',
      signedAutosend(autosendEvent('email.delivered', { emailId: 'as_prefixed' }), { prefix: true }),
    );
    expect(res.status).toBe(200);
    expect((await eventsOf(message.id, 'delivered')).status).toBe('delivered');
  });

  it('stores and acknowledges unknown types', async () => {
    const res = await post('/webhooks/autosend', signedAutosend(autosendEvent('email.unsubscribed')));
    expect(res.status).toBe(200);
    expect(await database.db.providerEvent.count({ where: { provider: 'autosend', type: 'unknown', outcome: 'ignored' } })).toBe(1);
  });

  it('dedupes on what is signed: a retry, or a replay under new unsigned X-Webhook-Delivery-Id values, is one event', async () => {
    const message = await sentMessage(database.db, { provider: 'autosend', providerMessageId: 'as_repeat' });
    const event = autosendEvent('email.delivered', { emailId: 'as_repeat' });
    const signed = signedAutosend(event, { deliveryId: 'dlv_same' });
    expect((await post('/webhooks/autosend', signed)).status).toBe(200);
    expect(await post('/webhooks/autosend', signed).then(json)).toEqual({ received: true, duplicate: true });
    // The delivery id is not signed: anyone holding one signed body can put any id beside it.
    for (const deliveryId of ['dlv_forged_1', 'dlv_forged_2', 'dlv_forged_3']) {
      expect(await post('/webhooks/autosend', signedAutosend(event, { deliveryId })).then(json)).toEqual({
        received: true,
        duplicate: true,
      });
    }
    await eventsOf(message.id, 'delivered');
    const eventId = `sha256:${createHash('sha256').update(signed.body).digest('hex')}`;
    expect(await database.db.providerEvent.count({ where: { provider: 'autosend', eventId } })).toBe(1);
    expect(await database.db.providerEvent.count({ where: { provider: 'autosend', eventId: { startsWith: 'dlv_' } } })).toBe(0);
  });

  it('rejects a wrong signature, a tampered body and a missing signature with 401', async () => {
    const event = autosendEvent('email.delivered');
    const wrong = signedAutosend(event, { secret: 'not-the-secret' });
    expect((await post('/webhooks/autosend', wrong)).status).toBe(401);
    const good = signedAutosend(event);
    expect((await post('/webhooks/autosend', { ...good, body: good.body.replace('maria', 'mallory') })).status).toBe(401);
    const { ['x-webhook-signature']: _omitted, ...unsigned } = good.headers;
    expect((await post('/webhooks/autosend', { body: good.body, headers: unsigned })).status).toBe(401);
  });

  it('rejects a correctly signed event whose createdAt is old (a replay)', async () => {
    const res = await post('/webhooks/autosend', signedAutosend(autosendEvent('email.delivered', {}, new Date(Date.now() - 60 * 60_000))));
    expect(res.status).toBe(401);
    expect((await json(res)).error.message).toMatch(/createdAt is not recent/);
  });

  it('answers 422 to a signed body that is not JSON', async () => {
    const body = '{"type":';
    const signature = createHmac('sha256', TEST_AUTOSEND_WEBHOOK_SECRET).update(body).digest('hex');
    const res = await harness.request('/webhooks/autosend', { method: 'POST', headers: { 'x-webhook-signature': signature }, body });
    expect(res.status).toBe(422);
  });
});

describe('not configured', () => {
  it('answers 503 naming the variable to set', async () => {
    const bare = await startHarness(testConfig(database.url));
    try {
      const resend = await bare.request('/webhooks/resend', { method: 'POST', body: '{}' });
      expect(resend.status).toBe(503);
      expect((await json(resend)).error.message).toMatch(/RESEND_WEBHOOK_SECRET/);
      const autosend = await bare.request('/webhooks/autosend', { method: 'POST', body: '{}' });
      expect(autosend.status).toBe(503);
      expect((await json(autosend)).error.message).toMatch(/AUTOSEND_WEBHOOK_SECRET/);
    } finally {
      await bare.close();
    }
  });
});

describe('events whose job was lost', () => {
  it('are queued again by the maintenance pass and applied', async () => {
    const message = await sentMessage(database.db);
    // Stored, acknowledged, but its job never made it to Redis (e.g. Redis went away after the insert).
    await database.db.providerEvent.create({
      data: {
        id: 'pev_lost_job',
        provider: 'resend',
        eventId: 'msg_lost_job',
        type: 'delivered',
        providerMessageId: message.providerMessageId,
        occurredAt: new Date(),
        receivedAt: new Date(Date.now() - 5 * 60_000),
        payload: { provider_type: 'email.delivered', message_id: null, recipient: null, bounce: null, detail: {}, raw: {} },
      },
    });
    expect(await harness.container.providerEvents.requeueStale()).toBeGreaterThanOrEqual(1);
    expect((await eventsOf(message.id, 'delivered')).status).toBe('delivered');
    expect(await database.db.providerEvent.findUniqueOrThrow({ where: { id: 'pev_lost_job' } })).toMatchObject({ outcome: 'applied' });
  });

  it('are marked unmatched at once when they carry nothing to join on', async () => {
    const res = await post('/webhooks/resend', signedResend(resendEvent('email.delivered', { email_id: null }), { id: 'msg_no_join' }));
    expect(res.status).toBe(200);
    await waitFor(
      async () => (await database.db.providerEvent.findFirst({ where: { eventId: 'msg_no_join', outcome: 'unmatched' } })) !== null,
    );
  });
});
