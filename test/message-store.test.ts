import { createMessageStore, type AcceptedRow, type MessageChange, type MessageStore } from '../src/delivery/message-store';
import type { MessageStatus } from '../src/generated/prisma/enums';
import { databaseMessage, isDataError } from '../src/db/storable';
import { newId } from '../src/lib/ids';
import { MESSAGE_IN_PAYLOAD, messageIn as messageInDb } from './helpers/seed';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let database: TestDatabase;
let store: MessageStore;
let changes: MessageChange[];
/** What another connection saw of the message when the hook ran: the hook must come after the commit. */
let seenByHook: Promise<MessageStatus | undefined>[];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => database.drop());

beforeEach(() => {
  changes = [];
  seenByHook = [];
  store = createMessageStore({
    db: database.db,
    onChange: (change) => {
      changes.push(change);
      seenByHook.push(database.db.message.findUnique({ where: { id: change.messageId } }).then((m) => m?.status));
    },
  });
});

const payload = MESSAGE_IN_PAYLOAD;
const messageIn = (status: MessageStatus, extra?: Parameters<typeof messageInDb>[2]) => messageInDb(database.db, status, extra);

const statusOf = async (id: string) => (await database.db.message.findUniqueOrThrow({ where: { id } })).status;
const eventsOf = (id: string) => database.db.messageEvent.findMany({ where: { messageId: id }, orderBy: { id: 'asc' } });

const sent = (provider = 'resend') => ({
  provider,
  providerMessageId: `pm_${newId('x')}`,
  sentAt: new Date(),
  detail: {},
  headers: { 'X-Entity-Ref-ID': 'ref' },
  dropPayload: true,
});

describe('accept', () => {
  const row = (extra: Partial<AcceptedRow> = {}): AcceptedRow => ({
    id: newId('msg'),
    source: 'clerk',
    external_id: 'ema_once',
    channel: 'email',
    template: null,
    recipient: 'user@example.com',
    recipient_domain: 'example.com',
    user_id: null,
    subject: 'Your code',
    expires_at: null,
    created_at: new Date(),
    payload,
    redacted: payload,
    detail: { svix_id: 'msg_1' },
    traceparent: null,
    ...extra,
  });

  it('records a message with its received event once per external id, and announces only the new one', async () => {
    const first = row();
    expect(await store.recordAccepted([first])).toEqual(new Set([first.id]));
    expect(await store.recordAccepted([row()])).toEqual(new Set());
    expect((await eventsOf(first.id)).map((e) => [e.type, e.detail])).toEqual([['received', { svix_id: 'msg_1' }]]);
    expect(changes).toEqual([
      { messageId: first.id, status: 'queued', event: { type: 'received', detail: { svix_id: 'msg_1' } }, at: first.created_at },
    ]);
  });

  // The group INSERT runs on pg's pool, past Prisma: its refusal must still read as the data's fault (the
  // message service then isolates the one message and answers it 422), with Postgres' own words.
  it("tells a value Postgres refuses from the database being away, on the pool's own error", async () => {
    const refused = await store.recordAccepted([row({ external_id: 'ema_nul', template: 'a\u0000b' })]).catch((err: unknown) => err);
    expect(isDataError(refused)).toBe(true);
    expect(databaseMessage(refused)).toMatch(/SQLSTATE 22/);
    expect(changes).toEqual([]);
  });
});

describe('send run', () => {
  it('claims only an in-flight, unexpired message whose lease has lapsed, and reads it as it was', async () => {
    const at = new Date();
    const lease = new Date(at.getTime() + 30_000);
    const queued = await messageIn('queued');
    const first = await store.claimForSend(queued, at, lease, null);
    expect(first).toMatchObject({ claimed: true, queuedRecorded: false, suppression: null });
    expect(first!.message).toMatchObject({ id: queued, status: 'queued', channel: 'email', content: { payload } });
    expect(await statusOf(queued)).toBe('sending');
    // Another run holds the lease.
    expect(await store.claimForSend(queued, at, lease, null)).toMatchObject({ claimed: false, message: { status: 'sending' } });
    expect(await store.claimForSend(await messageIn('delivered'), at, lease, null)).toMatchObject({ claimed: false });
    const expired = await messageIn('queued', { expiresAt: at });
    expect(await store.claimForSend(expired, at, lease, null)).toMatchObject({ claimed: false, message: { expiresAt: at } });
    expect(await statusOf(expired)).toBe('queued');
    expect(await store.claimForSend(newId('msg'), at, lease, null)).toBeNull();
    expect(await eventsOf(queued)).toEqual([]);
  });

  it("records a job's queued event with its claim, once however often the job runs", async () => {
    const id = await messageIn('queued');
    const queuedAt = new Date(Date.now() - 1_000);
    const at = new Date();
    expect(await store.claimForSend(id, at, new Date(at.getTime() - 1), queuedAt)).toMatchObject({ claimed: true, queuedRecorded: true });
    // The job again (its lease lapsed): claimed, the event not written twice.
    expect(await store.claimForSend(id, at, at, queuedAt)).toMatchObject({ claimed: true, queuedRecorded: false });
    expect((await eventsOf(id)).map((e) => [e.type, e.occurredAt])).toEqual([['queued', queuedAt]]);
    expect(changes.map((c) => [c.event.type, c.at])).toEqual([['queued', queuedAt]]);
  });

  it("reads the recipient's suppression in force with the claim", async () => {
    const at = new Date();
    const id = await messageIn('queued');
    const expiresAt = new Date(at.getTime() + 60_000);
    await database.db.suppression.create({
      data: { id: newId('sup'), channel: 'email', recipient: 'user@example.com', reason: 'hard_bounce', expiresAt },
    });
    try {
      expect((await store.claimForSend(id, at, new Date(at.getTime() + 30_000), null))?.suppression).toMatchObject({
        reason: 'hard_bounce',
        sourceMessageId: null,
        expiresAt,
      });
      // Lapsed by the claim's time: no longer in force.
      const later = new Date(expiresAt.getTime() + 1);
      expect((await store.claimForSend(id, later, new Date(later.getTime() + 30_000), null))?.suppression).toBeNull();
    } finally {
      await database.db.suppression.deleteMany({});
    }
  });

  it('releases only a message still sending, and touches only one in flight', async () => {
    const sending = await messageIn('sending');
    expect(await store.release(sending)).toBe(true);
    expect(await statusOf(sending)).toBe('queued');
    const settled = await messageIn('sent');
    expect(await store.release(settled)).toBe(false);
    expect(await store.touch(settled, new Date())).toBe(false);
    expect(await statusOf(settled)).toBe('sent');
    expect(await store.touch(sending, new Date())).toBe(true);
  });

  it('marks sent only from in flight; on a delivered message it writes nothing, announces nothing, returns false', async () => {
    const delivered = await messageIn('delivered', { provider: 'resend' });
    expect(await store.markSent(delivered, sent())).toBe(false);
    expect(await statusOf(delivered)).toBe('delivered');
    expect(await eventsOf(delivered)).toEqual([]);
    expect(changes).toEqual([]);

    const sending = await messageIn('sending');
    const outcome = sent();
    expect(await store.markSent(sending, outcome)).toBe(true);
    const row = await database.db.message.findUniqueOrThrow({ where: { id: sending }, include: { content: true } });
    expect(row).toMatchObject({
      status: 'sent',
      provider: 'resend',
      providerMessageId: outcome.providerMessageId,
      attempts: 1,
      leaseUntil: null,
    });
    expect(row.content).toMatchObject({ payload: null, headers: { 'X-Entity-Ref-ID': 'ref' } });
    expect((await eventsOf(sending)).map((e) => [e.type, e.detail])).toEqual([
      ['sent', { provider_message_id: outcome.providerMessageId }],
    ]);
    expect(changes).toEqual([
      {
        messageId: sending,
        status: 'sent',
        event: { type: 'sent', provider: 'resend', detail: { provider_message_id: outcome.providerMessageId } },
        at: outcome.sentAt,
      },
    ]);
    expect(await Promise.all(seenByHook)).toEqual(['sent']);
  });

  it.each([
    ['markFailed', 'failed'],
    ['expire', 'expired'],
    ['suppress', 'suppressed'],
  ] as const)('%s ends only an in-flight message', async (transition, status) => {
    const end = (id: string) =>
      transition === 'expire' ? store.expire(id, { reason: 'why' }) : store[transition](id, { reason: 'why' }, true);
    const settled = await messageIn('sent', { provider: 'resend' });
    expect(await end(settled)).toBeNull();
    expect(await statusOf(settled)).toBe('sent');
    expect(await eventsOf(settled)).toEqual([]);
    expect(changes).toEqual([]);

    const queued = await messageIn('queued');
    expect(await end(queued)).toEqual({ provider: null, channel: 'email' });
    const row = await database.db.message.findUniqueOrThrow({ where: { id: queued }, include: { content: true } });
    expect(row).toMatchObject({ status, lastError: 'why' });
    expect(row.content?.payload).toBeNull();
    expect((await eventsOf(queued)).map((e) => [e.type, e.detail])).toEqual([[status, { reason: 'why' }]]);
    expect(changes.map((c) => [c.status, c.event.type])).toEqual([[status, status]]);
    expect(await Promise.all(seenByHook)).toEqual([status]);
  });

  it('keeps the clear payload of a message that is not a code when it fails', async () => {
    const id = await messageIn('sending');
    await store.markFailed(id, { reason: 'every provider failed' }, false);
    expect((await database.db.messageContent.findUniqueOrThrow({ where: { messageId: id } })).payload).toEqual(payload);
  });

  it('counts a failed attempt and records failovers, fallbacks and skips while the message is sending', async () => {
    const id = await messageIn('sending');
    await store.recordAttemptFailed(id, 'resend', 'resend: boom', {
      class: 'transient',
      outcome: 'retry',
      status: 503,
      code: null,
      message: 'boom',
      raw: null,
    });
    await store.recordFailover(id, 'smtp', 'resend');
    await store.recordFallback(id, { message_id: 'msg_other', channel: 'email' });
    const at = new Date();
    const skip = { reason: 'rate_limited', retry_in_ms: 100, count: 1, first_at: at.toISOString(), last_at: at.toISOString() };
    const eventId = await store.recordSkip(id, 'smtp', at, skip);
    await store.updateSkip(eventId, { ...skip, count: 4 });
    expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'sending',
      attempts: 1,
      lastError: 'resend: boom',
      provider: 'resend',
    });
    expect((await eventsOf(id)).map((e) => [e.type, e.provider, e.detail])).toEqual([
      ['send_failed', 'resend', { class: 'transient', outcome: 'retry', status: 503, code: null, message: 'boom', raw: null }],
      ['failover', 'smtp', { from: 'resend' }],
      ['fallback', null, { message_id: 'msg_other', channel: 'email' }],
      ['provider_skipped', 'smtp', { ...skip, count: 4 }],
    ]);
    // Updating a skip run's count is not a new event.
    expect(changes.map((c) => [c.status, c.event.type])).toEqual([
      ['sending', 'send_failed'],
      ['sending', 'failover'],
      ['sending', 'fallback'],
      ['sending', 'provider_skipped'],
    ]);
  });
});

describe('admin retry', () => {
  it('requeues in a new generation only from the status the admin saw', async () => {
    const id = await messageIn('failed');
    const at = new Date();
    expect(await store.requeue(id, 'failed', at)).toBe(1);
    expect(await store.requeue(id, 'failed', at)).toBeNull();
    expect(await database.db.message.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'queued', sendGeneration: 1 });
    expect((await eventsOf(id)).map((e) => [e.type, e.detail])).toEqual([
      ['retried', { previous_status: 'failed', by: 'admin', generation: 1 }],
    ]);
    expect(changes.map((c) => [c.status, c.event.type])).toEqual([['queued', 'retried']]);
  });
});

describe('provider reports', () => {
  let n = 0;
  const report = (
    type: 'delivered' | 'bounced' | 'complained' | 'opened',
    extra: { provider?: string; bounceKind?: 'hard' | 'soft' } = {},
  ) => ({
    type,
    provider: extra.provider ?? 'resend',
    at: new Date(),
    dedupeKey: `resend:evt_${++n}_${newId('x')}`,
    detail: { provider_type: `email.${type}`, provider_event_id: `evt_${n}`, provider_message_id: 'pm_1' },
    bounceKind: extra.bounceKind,
    failure: type === 'bounced' ? `${extra.bounceKind ?? 'soft'} bounce` : null,
  });
  const apply = async (id: string, r: ReturnType<typeof report>) => {
    const m = await database.db.message.findUniqueOrThrow({ where: { id } });
    return store.applyProviderEvent(m, r);
  };

  it('moves the status forward only: a delivered after a bounce is recorded and changes nothing', async () => {
    const id = await messageIn('sent', { provider: 'resend' });
    expect(await apply(id, report('bounced', { bounceKind: 'hard' }))).toEqual({ outcome: 'applied', moved: 'bounced' });
    expect(await apply(id, report('delivered'))).toEqual({ outcome: 'applied', moved: null });
    const row = await database.db.message.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ status: 'bounced', lastError: 'hard bounce' });
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(['bounced', 'delivered']);
    expect(changes.map((c) => [c.status, c.event.type])).toEqual([
      ['bounced', 'bounced'],
      ['bounced', 'delivered'],
    ]);
    expect(await Promise.all(seenByHook)).toEqual(['bounced', 'bounced']);
  });

  it('keeps a delivered message delivered on a soft bounce, and moves it on a hard one', async () => {
    const id = await messageIn('sent', { provider: 'resend' });
    expect(await apply(id, report('delivered'))).toEqual({ outcome: 'applied', moved: 'delivered' });
    expect((await database.db.message.findUniqueOrThrow({ where: { id } })).deliveredAt).not.toBeNull();
    expect(await apply(id, report('bounced', { bounceKind: 'soft' }))).toEqual({ outcome: 'applied', moved: null });
    expect(await statusOf(id)).toBe('delivered');
    expect(await apply(id, report('bounced', { bounceKind: 'hard' }))).toEqual({ outcome: 'applied', moved: 'bounced' });
    expect(await apply(id, report('opened'))).toEqual({ outcome: 'applied', moved: null });
    expect(await statusOf(id)).toBe('bounced');
  });

  it('records a report from a provider that did not send the message, notes it, and changes nothing', async () => {
    const id = await messageIn('sent', { provider: 'smtp' });
    expect(await apply(id, report('complained'))).toEqual({ outcome: 'applied', moved: null });
    expect(await statusOf(id)).toBe('sent');
    const [event] = await eventsOf(id);
    expect(event!.detail).toMatchObject({ not_applied: 'the message was sent by smtp, not resend' });
  });

  it('records a report once: the second time is a duplicate, announced not at all', async () => {
    const id = await messageIn('sent', { provider: 'resend' });
    const once = report('delivered');
    await apply(id, once);
    expect(await apply(id, once)).toEqual({ outcome: 'duplicate', moved: null });
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(['delivered']);
    expect(changes).toHaveLength(1);
  });
});

describe('Clerk write-back', () => {
  it('records the outcome on a kept message, with its status, and nothing for one gone', async () => {
    const id = await messageIn('bounced', { provider: 'resend' });
    expect(await store.recordWriteback(id, { email_status: 'undeliverable', outcome: 'updated' })).toBe(true);
    expect(await store.recordWriteback('msg_gone', { email_status: 'undeliverable', outcome: 'updated' })).toBe(false);
    expect((await eventsOf(id)).map((e) => [e.type, e.provider, e.detail])).toEqual([
      ['clerk_writeback', 'clerk', { email_status: 'undeliverable', outcome: 'updated' }],
    ]);
    expect(changes.map((c) => [c.messageId, c.status, c.event.type])).toEqual([[id, 'bounced', 'clerk_writeback']]);
  });
});

describe('change hook', () => {
  it('a failing hook does not fail the committed write', async () => {
    const failing = createMessageStore({
      db: database.db,
      onChange: () => {
        throw new Error('subscriber down');
      },
    });
    const rejecting = createMessageStore({ db: database.db, onChange: async () => Promise.reject(new Error('subscriber down')) });
    const a = await messageIn('sending');
    const b = await messageIn('sending');
    expect(await failing.markSent(a, sent())).toBe(true);
    expect(await rejecting.markSent(b, sent())).toBe(true);
    expect([await statusOf(a), await statusOf(b)]).toEqual(['sent', 'sent']);
  });
});
