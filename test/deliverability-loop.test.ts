import { randomBytes } from 'node:crypto';
import { ClerkAPIResponseError } from '@clerk/backend/errors';
import { createClerkWriteback } from '../src/deliverability/clerk-writeback';
import { createSuppressionService } from '../src/deliverability/suppressions';
import type { EmailProvider, OutgoingEmail } from '../src/providers/types';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { resendEvent, signedResend, TEST_RESEND_WEBHOOK_SECRET } from './helpers/provider-webhooks';
import { waitFor } from './helpers/wait';
import { FAKE_CLERK_SECRET_KEY, startFakeClerk, type FakeClerk } from './fakes/fake-clerk';

/**
 * The feedback loop end to end: Clerk webhook → send → provider bounce/complaint webhook → suppression →
 * Clerk metadata write-back → the next message to that address is suppressed, not sent.
 */

let database: TestDatabase;
let harness: Harness;
let clerk: FakeClerk;
const sends: OutgoingEmail[] = [];

// Stands in for the Resend adapter (built elsewhere): what matters here is the id it returns.
const resend: EmailProvider = {
  name: 'resend',
  channel: 'email',
  async send(message) {
    sends.push(message);
    return { kind: 'sent' as const, providerMessageId: `re_${randomBytes(8).toString('hex')}` };
  },
};

beforeAll(async () => {
  database = await createTestDatabase();
  clerk = await startFakeClerk();
  harness = await startHarness(
    testConfig(database.url, {
      RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET,
      CLERK_SECRET_KEY: FAKE_CLERK_SECRET_KEY,
      CLERK_API_URL: clerk.url,
    }),
    { workers: true, overrides: { providers: { email: [resend], sms: [] } } },
  );
});

afterAll(async () => {
  await harness.close();
  await clerk.close();
  await database.drop();
});

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
const newAddress = () => `person-${randomBytes(5).toString('hex')}@example.org`;

async function clerkEmail(to: string, userId: string | null): Promise<string> {
  return acceptClerkEvent(harness.request, emailCreated({ to, data: { user_id: userId } }));
}

const settled = (id: string, statuses: string[] = ['sent', 'suppressed', 'failed']) =>
  waitFor(
    async () => {
      const m = await database.db.message.findUniqueOrThrow({ where: { id }, include: { events: { orderBy: { id: 'asc' } } } });
      return statuses.includes(m.status) ? m : null;
    },
    { timeoutMs: 20_000 },
  );

async function providerWebhook(type: string, providerMessageId: string, data: Record<string, unknown> = {}): Promise<void> {
  const res = await harness.request('/webhooks/resend', {
    method: 'POST',
    ...signedResend(resendEvent(type, { email_id: providerMessageId, ...data })),
  });
  expect(res.status).toBe(200);
}

const writebackOutcome = (messageId: string) =>
  waitFor(
    async () => {
      const event = await database.db.messageEvent.findFirst({ where: { messageId, type: 'clerk_writeback' } });
      return event?.detail as Record<string, unknown> | undefined;
    },
    { timeoutMs: 20_000 },
  );

it('a permanent bounce marks the message bounced, suppresses the address, tells Clerk, and the next message is suppressed', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
  const first = await settled(await clerkEmail(address, user.id));
  expect(first.status).toBe('sent');

  await providerWebhook('email.bounced', first.providerMessageId!, {
    to: [address],
    bounce: { type: 'Permanent', subType: 'General', message: 'No such user', diagnosticCode: ['smtp; 550 5.1.1'] },
  });
  const bounced = await settled(first.id, ['bounced']);
  expect(bounced.lastError).toMatch(/hard bounce/);

  const suppression = await database.db.suppression.findUniqueOrThrow({
    where: { channel_recipient: { channel: 'email', recipient: address } },
  });
  expect(suppression).toMatchObject({ reason: 'hard_bounce', sourceMessageId: first.id });

  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });
  expect(clerk.users.get(user.id)!.publicMetadata).toEqual({
    email_status: 'undeliverable',
    auth_relay: {
      email_status: 'undeliverable',
      email_address: address,
      reason: 'hard_bounce',
      at: expect.any(String),
      message_id: first.id,
    },
  });
  expect(await writebackOutcome(first.id)).toMatchObject({ outcome: 'updated', email_status: 'undeliverable', user_ids: [user.id] });

  const sendsBefore = sends.length;
  const second = await settled(await clerkEmail(address, user.id));
  expect(second.status).toBe('suppressed');
  expect(second.lastError).toBe('recipient is suppressed (hard_bounce)');
  expect(second.events.find((e) => e.type === 'suppressed')!.detail).toMatchObject({
    suppression_id: suppression.id,
    source_message_id: first.id,
  });
  expect(sends.length).toBe(sendsBefore);

  const stats = await json(await harness.request('/api/stats?window=24h', { headers: admin }));
  expect(stats.rates.window.hard_bounces).toBeGreaterThanOrEqual(1);
  expect(stats.counts.suppressed).toBeGreaterThanOrEqual(1);
  expect(stats.providers.find((p: { provider: string }) => p.provider === 'resend').rates.window.bounce_rate).toBeGreaterThan(0);
});

it('finds the Clerk user by email address when the message has no user_id (complaint)', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, ['other@example.org', address.toUpperCase()]);
  const message = await settled(await clerkEmail(address, null));
  await providerWebhook('email.complained', message.providerMessageId!);
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });
  expect(clerk.users.get(user.id)!.publicMetadata.auth_relay).toMatchObject({ reason: 'complaint' });
  expect(await database.db.suppression.findFirst({ where: { recipient: address } })).toMatchObject({
    reason: 'complaint',
    expiresAt: null,
  });
});

it('waits out a Clerk 429 for its Retry-After, then writes', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
  clerk.failMetadataUpdates(1, {
    status: 429,
    headers: { 'retry-after': '2' },
    body: { errors: [{ code: 'too_many_requests', message: 'Too many requests', long_message: 'Rate limited' }] },
  });
  const message = await settled(await clerkEmail(address, user.id));
  await providerWebhook('email.bounced', message.providerMessageId!, { bounce: { type: 'Permanent' } });
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });
  const attempts = clerk.metadataRequests().filter((r) => r.path === `/v1/users/${user.id}/metadata`);
  expect(attempts).toHaveLength(2);
  expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(1_900);
});

it('records and drops a write-back for a Clerk user that does not exist', async () => {
  const message = await settled(await clerkEmail(newAddress(), 'user_deleted_meanwhile'));
  await providerWebhook('email.bounced', message.providerMessageId!, { bounce: { type: 'Permanent' } });
  expect(await writebackOutcome(message.id)).toMatchObject({ outcome: 'user_not_found', user_id: 'user_deleted_meanwhile', status: 404 });
  expect(clerk.metadataRequests().filter((r) => r.path === '/v1/users/user_deleted_meanwhile/metadata')).toHaveLength(1);
});

it('does not suppress on a soft bounce', async () => {
  const address = newAddress();
  const message = await settled(await clerkEmail(address, null));
  await providerWebhook('email.bounced', message.providerMessageId!, { bounce: { type: 'Transient', subType: 'MailboxFull' } });
  await settled(message.id, ['bounced']);
  expect(await database.db.suppression.findFirst({ where: { recipient: address } })).toBeNull();
  expect(await settled(await clerkEmail(address, null))).toMatchObject({ status: 'sent' });
});

it('releasing a suppression tells Clerk the address is deliverable and sends again', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
  const message = await settled(await clerkEmail(address, user.id));
  await providerWebhook('email.bounced', message.providerMessageId!, { bounce: { type: 'Permanent' } });
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });

  const res = await harness.request(`/api/suppressions?recipient=${encodeURIComponent(address)}&channel=email`, {
    method: 'DELETE',
    headers: admin,
  });
  expect(res.status).toBe(200);
  expect(await json(res)).toMatchObject({ released: true, suppression: { recipient: address, reason: 'hard_bounce' } });
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'deliverable', { timeoutMs: 20_000 });
  expect(clerk.users.get(user.id)!.publicMetadata.auth_relay).toMatchObject({ email_status: 'deliverable', reason: 'released' });
  expect(await settled(await clerkEmail(address, user.id))).toMatchObject({ status: 'sent' });
});

it('a hard-bounce suppression that runs out tells Clerk the address is deliverable again, once', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
  const message = await settled(await clerkEmail(address, user.id));
  await providerWebhook('email.bounced', message.providerMessageId!, { bounce: { type: 'Permanent' } });
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });

  await database.db.suppression.updateMany({ where: { recipient: address }, data: { expiresAt: new Date(Date.now() - 1_000) } });
  expect(await harness.container.suppressions.handleExpired()).toBeGreaterThanOrEqual(1);
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'deliverable', { timeoutMs: 20_000 });
  expect(clerk.users.get(user.id)!.publicMetadata.auth_relay).toMatchObject({ email_status: 'deliverable', reason: 'expired' });
  const entry = await database.db.suppression.findFirstOrThrow({ where: { recipient: address } });
  expect(entry.expiryHandledAt).not.toBeNull();
  // Handled once: the next pass finds nothing for this address.
  expect(await harness.container.suppressions.handleExpired()).toBe(0);

  // A new hard bounce renews the same entry, and its later expiry is announced again.
  const next = await settled(await clerkEmail(address, user.id));
  await providerWebhook('email.bounced', next.providerMessageId!, { bounce: { type: 'Permanent' } });
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });
  expect(await database.db.suppression.findFirstOrThrow({ where: { recipient: address } })).toMatchObject({ expiryHandledAt: null });
});

it('blocking a bounced address for good by hand keeps the bounce, so its release still tells Clerk', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
  const message = await settled(await clerkEmail(address, user.id));
  await providerWebhook('email.bounced', message.providerMessageId!, { bounce: { type: 'Permanent' } });
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });

  const added = await harness.request('/api/suppressions', {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ recipient: address, reason: 'support ticket 42' }),
  });
  expect(await json(added)).toMatchObject({
    reason: 'hard_bounce',
    source_message_id: message.id,
    expires_at: null,
    detail: { note: 'support ticket 42', provider: 'resend' },
  });

  const res = await harness.request(`/api/suppressions?recipient=${encodeURIComponent(address)}`, { method: 'DELETE', headers: admin });
  expect(res.status).toBe(200);
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'deliverable', { timeoutMs: 20_000 });
});

it('a release stands when the Clerk job cannot be queued, and maintenance tells Clerk later', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
  const message = await settled(await clerkEmail(address, user.id));
  await providerWebhook('email.complained', message.providerMessageId!);
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'undeliverable', { timeoutMs: 20_000 });

  const redisDown = createSuppressionService({
    db: database.db,
    config: harness.container.config,
    queues: {
      clerkWriteback: {
        add: async () => {
          throw new Error('Connection is closed.');
        },
      },
    } as never,
    log: harness.container.log,
  });
  const released = await redisDown.release({ channel: 'email', recipient: address });
  expect(released).toMatchObject({ recipient: address, reason: 'complaint', detail: { released_at: expect.any(String) } });
  expect(await harness.container.suppressions.active('email', address)).toBeNull();
  // Released twice is not found the second time.
  expect(await redisDown.release({ channel: 'email', recipient: address })).toBeNull();

  expect(await harness.container.suppressions.handleExpired()).toBeGreaterThanOrEqual(1);
  await waitFor(() => clerk.users.get(user.id)!.publicMetadata.email_status === 'deliverable', { timeoutMs: 20_000 });
  expect(clerk.users.get(user.id)!.publicMetadata.auth_relay).toMatchObject({ reason: 'released' });
  // The ended entry is the record of the release.
  const listed = await json(
    await harness.request(`/api/suppressions?recipient=${encodeURIComponent(address)}&include_expired=true`, { headers: admin }),
  );
  expect(listed.data).toEqual([
    expect.objectContaining({ reason: 'complaint', detail: expect.objectContaining({ released_at: expect.any(String) }) }),
  ]);
});

it('a write-back the suppression list no longer agrees with is not sent (jobs out of order)', async () => {
  const address = newAddress();
  const user = clerk.addUser(`user_${randomBytes(4).toString('hex')}`, [address]);
  const message = await settled(await clerkEmail(address, user.id));
  const writeback = createClerkWriteback({
    db: database.db,
    store: harness.container.messageStore,
    clerk: {
      getUserList: async () => {
        throw new Error('must not be called');
      },
      updateUserMetadata: async () => {
        throw new Error('must not be called');
      },
    } as never,
    suppressions: harness.container.suppressions,
    log: harness.container.log,
  });
  const job = { recipient: address, messageId: message.id, reason: 'released', at: new Date().toISOString() };
  await harness.container.suppressions.suppress({
    channel: 'email',
    recipient: address,
    reason: 'hard_bounce',
    sourceMessageId: message.id,
  });
  // A "deliverable" from an earlier release, delayed by a 429, must not undo the newer bounce.
  expect(await writeback.process({ ...job, emailStatus: 'deliverable' })).toEqual({ kind: 'done', outcome: 'superseded' });
  await harness.container.suppressions.release({ channel: 'email', recipient: address });
  expect(await writeback.process({ ...job, emailStatus: 'undeliverable', reason: 'hard_bounce' })).toEqual({
    kind: 'done',
    outcome: 'superseded',
  });
  expect(clerk.users.get(user.id)!.publicMetadata.email_status).not.toBe('undeliverable');
});

it('without CLERK_SECRET_KEY the write-back is skipped and says so on the timeline', async () => {
  const message = await settled(await clerkEmail(newAddress(), 'user_x'));
  const writeback = createClerkWriteback({
    db: database.db,
    store: harness.container.messageStore,
    clerk: null,
    suppressions: harness.container.suppressions,
    log: harness.container.log,
  });
  const outcome = await writeback.process({
    emailStatus: 'undeliverable',
    recipient: message.recipient,
    messageId: message.id,
    reason: 'hard_bounce',
    at: new Date().toISOString(),
  });
  expect(outcome).toEqual({ kind: 'done', outcome: 'skipped' });
  expect(await writebackOutcome(message.id)).toMatchObject({ outcome: 'skipped', reason: 'CLERK_SECRET_KEY is not set' });
});

it('gives up on a Clerk that keeps failing, after a bounded number of tries', async () => {
  const message = await settled(await clerkEmail(newAddress(), 'user_y'));
  const failing = {
    getUserList: async () => ({ data: [], totalCount: 0 }),
    updateUserMetadata: async () => {
      throw new ClerkAPIResponseError('Service Unavailable', { data: [], status: 503 });
    },
  };
  await harness.container.suppressions.suppress({
    channel: 'email',
    recipient: message.recipient,
    reason: 'hard_bounce',
    sourceMessageId: message.id,
  });
  const writeback = createClerkWriteback({
    db: database.db,
    store: harness.container.messageStore,
    clerk: failing as never,
    suppressions: harness.container.suppressions,
    log: harness.container.log,
    maxTries: 3,
  });
  const job = {
    emailStatus: 'undeliverable' as const,
    recipient: message.recipient,
    messageId: message.id,
    reason: 'hard_bounce',
    at: new Date().toISOString(),
  };
  const first = await writeback.process(job);
  expect(first).toMatchObject({ kind: 'retry', tries: 1 });
  const second = await writeback.process({ ...job, tries: 1 });
  expect(second).toMatchObject({ kind: 'retry', tries: 2 });
  expect(await writeback.process({ ...job, tries: 2 })).toEqual({ kind: 'done', outcome: 'gave_up' });
  expect(await writebackOutcome(message.id)).toMatchObject({ outcome: 'gave_up', tries: 3 });
});

describe('/api/suppressions', () => {
  it('adds, lists with search and pagination, and releases', async () => {
    const tag = randomBytes(3).toString('hex');
    for (let i = 0; i < 3; i++) {
      const res = await harness.request('/api/suppressions', {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ recipient: `Manual-${tag}-${i}@Example.org`, reason: 'asked us to stop' }),
      });
      expect(res.status).toBe(201);
      expect(await json(res)).toMatchObject({
        recipient: `manual-${tag}-${i}@example.org`,
        reason: 'manual',
        channel: 'email',
        expires_at: null,
        detail: { note: 'asked us to stop' },
      });
    }
    const page1 = await json(await harness.request(`/api/suppressions?search=${tag}&limit=2`, { headers: admin }));
    expect(page1.data).toHaveLength(2);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = await json(
      await harness.request(`/api/suppressions?search=${tag}&limit=2&cursor=${page1.next_cursor}`, { headers: admin }),
    );
    expect(page2.data).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();
    const all = [...page1.data, ...page2.data].map((s: { recipient: string }) => s.recipient).sort();
    expect(all).toEqual([0, 1, 2].map((i) => `manual-${tag}-${i}@example.org`));

    const released = await harness.request(`/api/suppressions/${page2.data[0].id}`, { method: 'DELETE', headers: admin });
    expect(released.status).toBe(200);
    expect((await json(await harness.request(`/api/suppressions?search=${tag}`, { headers: admin }))).data).toHaveLength(2);
  });

  it('stores a phone number as messages do, however it was typed, and refuses what could never match', async () => {
    const added = await harness.request('/api/suppressions', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ recipient: '+44 (7700) 900-124', channel: 'sms' }),
    });
    expect(added.status).toBe(201);
    expect((await json(added)).recipient).toBe('+447700900124');
    expect(await harness.container.suppressions.active('sms', '+447700900124')).not.toBeNull();

    for (const [recipient, channel] of [
      ['07700 900124', 'sms'],
      ['maria@', 'email'],
      ['maria at example.org', 'email'],
    ]) {
      const res = await harness.request('/api/suppressions', {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ recipient, channel }),
      });
      expect(res.status).toBe(422);
      expect((await json(res)).error.message).toMatch(/^recipient: must be/);
    }
  });

  it('answers 422 to a cursor it did not hand out', async () => {
    // Not base64 of a position, and a position in another ordering (the message log's oldest-change-first).
    for (const cursor of ['garbage', Buffer.from('u|2026-01-01T00:00:00.000Z|x').toString('base64url')]) {
      const res = await harness.request(`/api/suppressions?cursor=${cursor}`, { headers: admin });
      expect(res.status).toBe(422);
      expect((await json(res)).error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^cursor: /) });
    }
  });

  it('finds one recipient exactly, and releases with a JSON body too', async () => {
    const address = newAddress();
    const added = await harness.request('/api/suppressions', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ recipient: address }),
    });
    expect(added.status).toBe(201);
    const exact = await json(
      await harness.request(`/api/suppressions?recipient=${encodeURIComponent(address.toUpperCase())}`, { headers: admin }),
    );
    expect(exact.data.map((s: { recipient: string }) => s.recipient)).toEqual([address]);
    const prefix = address.slice(0, 10);
    expect((await json(await harness.request(`/api/suppressions?recipient=${prefix}`, { headers: admin }))).data).toEqual([]);

    const released = await harness.request('/api/suppressions', {
      method: 'DELETE',
      headers: admin,
      body: JSON.stringify({ recipient: address }),
    });
    expect(released.status).toBe(200);
    expect(await json(released)).toMatchObject({ released: true, suppression: { recipient: address, channel: 'email' } });
  });

  it('suppresses SMS numbers per channel', async () => {
    const res = await harness.request('/api/suppressions', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ recipient: '+447700900999', channel: 'sms' }),
    });
    expect(res.status).toBe(201);
    expect((await json(await harness.request('/api/suppressions?channel=sms', { headers: admin }))).data[0]).toMatchObject({
      recipient: '+447700900999',
    });
  });

  it('stops suppressing once an entry has expired', async () => {
    const address = newAddress();
    const added = await harness.request('/api/suppressions', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ recipient: address, expires_at: new Date(Date.now() + 3_600_000).toISOString() }),
    });
    expect(added.status).toBe(201);
    expect(await settled(await clerkEmail(address, null))).toMatchObject({ status: 'suppressed' });
    await database.db.suppression.updateMany({ where: { recipient: address }, data: { expiresAt: new Date(Date.now() - 1_000) } });
    expect(await settled(await clerkEmail(address, null))).toMatchObject({ status: 'sent' });
    expect((await json(await harness.request(`/api/suppressions?search=${address}`, { headers: admin }))).data).toHaveLength(0);
    expect(
      (await json(await harness.request(`/api/suppressions?search=${address}&include_expired=true`, { headers: admin }))).data,
    ).toHaveLength(1);
  });

  it('answers clear errors', async () => {
    const bad = await harness.request('/api/suppressions', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ recipient: 'not-an-address' }),
    });
    expect(bad.status).toBe(422);
    expect((await json(bad)).error.message).toMatch(/email address/);
    const past = await harness.request('/api/suppressions', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ recipient: 'a@example.org', expires_at: '2020-01-01T00:00:00Z' }),
    });
    expect(past.status).toBe(422);
    expect((await json(past)).error.message).toMatch(/expires_at: must be in the future/);
    const unknown = await harness.request('/api/suppressions?recipient=nobody@example.org', { method: 'DELETE', headers: admin });
    expect(unknown.status).toBe(404);
    expect((await harness.request('/api/suppressions')).status).toBe(401);
    expect((await harness.request('/api/suppressions?cursor=zzz', { headers: admin })).status).toBe(422);
  });
});
