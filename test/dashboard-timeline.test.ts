import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { logIn, type DashboardSession } from './helpers/dashboard';
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
import { seedMessage } from './helpers/seed';
import { waitFor } from './helpers/wait';

/**
 * What the message page says about each event: every event type that can reach a timeline, from every
 * provider's webhook and from our own pipeline, reads as one correct line.
 */

let database: TestDatabase;
let harness: Harness;
let session: DashboardSession;

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(
    testConfig(database.url, { RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET, AUTOSEND_WEBHOOK_SECRET: TEST_AUTOSEND_WEBHOOK_SECRET }),
    { workers: true },
  );
  session = await logIn(harness);
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const post = async (path: string, signed: { body: string; headers: Record<string, string> }) => {
  const res = await harness.request(path, { method: 'POST', headers: signed.headers, body: signed.body });
  expect(res.status).toBe(200);
};

/** Until `count` events other than Clerk write-backs are on the message's timeline. */
const untilEvents = (messageId: string, count: number) =>
  waitFor(async () => (await database.db.messageEvent.count({ where: { messageId, type: { not: 'clerk_writeback' } } })) >= count, {
    timeoutMs: 20_000,
  });

const unescape = (s: string): string =>
  s
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
const plain = (s: string): string =>
  unescape(s.replace(/<details[\s\S]*?<\/details>/g, '').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .replace(/ ([),.;:])/g, '$1')
    .trim();

/** The timeline's rows: the badge and the "What happened" cell, as text. */
async function timelineRows(messageId: string): Promise<{ badge: string; what: string }[]> {
  const page = await (await session.get(`/dashboard/messages/${messageId}`)).text();
  const timeline = page.slice(page.indexOf('<h2>Timeline'), page.indexOf('<h2>Headers'));
  return [...timeline.matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
    .map((m) => m[1]!)
    .filter((row) => row.includes('class="badge'))
    .map((row) => ({
      badge: plain(row.match(/<span class="badge[^"]*">([^<]*)<\/span>/)![1]!),
      what: plain(row.slice(row.indexOf('<td class="what">'))),
    }));
}

// [provider, provider's event type, extra data, the badge, what the row must say]
const WEBHOOK_EVENTS: [string, string, Record<string, unknown>, string, string][] = [
  [
    'resend',
    'email.sent',
    {},
    'confirmed',
    'resend confirms it accepted the message, as we recorded when we sent it; nothing was sent twice (reported by resend, email.sent)',
  ],
  [
    'resend',
    'email.delivered',
    {},
    'delivered',
    "Delivered: the recipient's mail server accepted it (reported by resend, email.delivered)",
  ],
  [
    'resend',
    'email.delivery_delayed',
    {},
    'delayed',
    "Delayed: the recipient's server has not accepted it yet; resend keeps trying (reported by resend, email.delivery_delayed)",
  ],
  [
    'resend',
    'email.bounced',
    { bounce: { type: 'Transient', subType: 'MailboxFull', message: 'Mailbox full' } },
    'bounced',
    'soft / Transient / MailboxFull bounce reported by resend: Mailbox full',
  ],
  ['resend', 'email.complained', {}, 'complained', 'The recipient marked it as spam (reported by resend, email.complained)'],
  [
    'resend',
    'email.failed',
    { failed: { reason: 'reached_daily_quota' } },
    'failed',
    'Not sent: resend could not send it: reached_daily_quota (reported by resend, email.failed)',
  ],
  [
    'resend',
    'email.suppressed',
    { suppressed: { type: 'OnAccountSuppressionList', message: 'The email address is on the account suppression list' } },
    'suppressed',
    "Not sent: the address is on resend's suppression list (OnAccountSuppressionList): The email address is on the account suppression list (reported by resend, email.suppressed)",
  ],
  ['resend', 'email.opened', {}, 'opened', 'Opened by the recipient (reported by resend, email.opened)'],
  [
    'resend',
    'email.clicked',
    { click: { link: 'https://acme.example/' } },
    'clicked',
    'A link in it was clicked (reported by resend, email.clicked)',
  ],
  [
    'autosend',
    'email.sent',
    {},
    'confirmed',
    'autosend confirms it accepted the message, as we recorded when we sent it; nothing was sent twice (reported by autosend, email.sent)',
  ],
  [
    'autosend',
    'email.delivered',
    {},
    'delivered',
    "Delivered: the recipient's mail server accepted it (reported by autosend, email.delivered)",
  ],
  [
    'autosend',
    'email.deferred',
    {},
    'delayed',
    "Delayed: the recipient's server has not accepted it yet; autosend keeps trying (reported by autosend, email.deferred)",
  ],
  [
    'autosend',
    'email.bounced',
    { bounceType: 'Permanent', diagnosticCode: '550 5.1.1 user unknown' },
    'bounced',
    'hard / Permanent bounce reported by autosend: 550 5.1.1 user unknown',
  ],
  ['autosend', 'email.spam_reported', {}, 'complained', 'The recipient marked it as spam (reported by autosend, email.spam_reported)'],
  ['autosend', 'email.opened', {}, 'opened', 'Opened by the recipient (reported by autosend, email.opened)'],
  ['autosend', 'email.clicked', {}, 'clicked', 'A link in it was clicked (reported by autosend, email.clicked)'],
];

describe('one line per event', () => {
  it.each(['resend', 'autosend'])('every %s webhook event type', async (provider) => {
    const message = await sentMessage(database.db, { provider, providerMessageId: `${provider}_${Date.now()}` });
    const events = WEBHOOK_EVENTS.filter(([p]) => p === provider);
    for (const [, type, data] of events) {
      if (provider === 'resend')
        await post(
          '/webhooks/resend',
          signedResend(resendEvent(type, { email_id: message.providerMessageId, to: [message.recipient], ...data })),
        );
      else
        await post(
          '/webhooks/autosend',
          signedAutosend(autosendEvent(type, { emailId: message.providerMessageId, to: { email: message.recipient }, ...data })),
        );
    }
    await untilEvents(message.id, events.length);
    // The Clerk write-backs that a complaint or a hard bounce queues are not what this test reads.
    const rows = (await timelineRows(message.id)).filter((r) => r.badge !== 'Clerk write-back');
    expect(rows.map((r) => ({ badge: r.badge, what: r.what })).sort((a, b) => a.what.localeCompare(b.what))).toEqual(
      events.map(([, , , badge, what]) => ({ badge, what })).sort((a, b) => a.what.localeCompare(b.what)),
    );
  });

  it('every event type of our own, whichever provider sent', async () => {
    const own: [{ type: string; provider?: string; detail?: Record<string, unknown> }, string, string][] = [
      [{ type: 'received' }, 'received', 'Accepted'],
      [{ type: 'received', detail: { fallback_for: 'msg_sms1' } }, 'received', 'Accepted as the fallback for msg_sms1'],
      [{ type: 'queued' }, 'queued', 'Queued for sending'],
      [
        {
          type: 'send_failed',
          provider: 'unosend',
          detail: { class: 'transient', status: 429, code: 'rate_limited', message: 'slow down' },
        },
        'send failed',
        'transient error from unosend (429 rate_limited): slow down',
      ],
      [
        {
          type: 'send_failed',
          provider: 'resend',
          detail: {
            class: 'transient',
            status: 500,
            code: null,
            message: 'boom',
            count: 12,
            first_at: '2026-03-01T10:00:00.000Z',
            last_at: '2026-03-01T10:05:00.000Z',
          },
        },
        'send failed',
        'transient error from resend (500), 12 times between 2026-03-01 10:00:00.000 UTC and 2026-03-01 10:05:00.000 UTC: boom',
      ],
      [
        { type: 'provider_skipped', provider: 'resend', detail: { reason: 'paused', retry_in_ms: 3000 } },
        'provider skipped',
        'resend skipped: it asked us to slow down (rate limit); free again in 3.0 s',
      ],
      [
        {
          type: 'provider_skipped',
          provider: 'resend',
          detail: {
            reason: 'paused',
            retry_in_ms: 3000,
            count: 37,
            first_at: '2026-03-01T10:00:00.000Z',
            last_at: '2026-03-01T10:04:10.000Z',
          },
        },
        'provider skipped',
        'resend skipped 37 times between 2026-03-01 10:00:00.000 UTC and 2026-03-01 10:04:10.000 UTC: it asked us to slow down (rate limit); free again in 3.0 s',
      ],
      [{ type: 'failover', provider: 'outbox', detail: { from: 'autosend' } }, 'failover', 'Failing over from autosend to outbox'],
      [
        { type: 'failover', provider: 'autosend', detail: { from: 'resend', duplicate_possible: true } },
        'failover',
        'Failing over from resend to autosend; a duplicate is possible (resend may have sent it)',
      ],
      [{ type: 'sent', provider: 'unosend', detail: { provider_message_id: 'uno_1' } }, 'sent', 'Sent: accepted by unosend as uno_1'],
      [{ type: 'sent', provider: 'outbox', detail: { provider_message_id: 'outbox_1' } }, 'sent', 'Sent: accepted by outbox as outbox_1'],
      [
        { type: 'fallback', detail: { message_id: 'msg_email1', channel: 'email' } },
        'fallback',
        'Could not be delivered here; sent by email as msg_email1',
      ],
      [{ type: 'retried', detail: { previous_status: 'expired', by: 'admin' } }, 'retried', 'Retried by an admin (was expired)'],
      [
        {
          type: 'suppressed',
          detail: { reason: 'recipient is suppressed (provider_suppression)', suppression_reason: 'provider_suppression' },
        },
        'suppressed',
        "Not sent: the recipient is suppressed (on the provider's suppression list)",
      ],
      [
        { type: 'failed', detail: { reason: 'every provider failed; last: resend: invalid from' } },
        'failed',
        'Failed: every provider failed; last: resend: invalid from',
      ],
      [
        { type: 'expired', detail: { reason: 'the code expired before it could be sent' } },
        'expired',
        'Expired: the code expired before it could be sent',
      ],
      [
        { type: 'clerk_writeback', provider: 'clerk', detail: { email_status: 'deliverable', outcome: 'user_not_found' } },
        'Clerk write-back',
        'Clerk email_status = deliverable: no Clerk user has this address',
      ],
    ];
    const id = await seedMessage(database.db, { events: own.map(([e]) => e) });
    const rows = await timelineRows(id);
    expect(rows).toEqual(own.map(([, badge, what]) => ({ badge, what })));
  });
});

it("Resend's documented example, dated 2024, is not trusted before the send: no negative latency anywhere", async () => {
  const message = await sentMessage(database.db);
  const created = '2024-02-22T23:41:12.126Z';
  await post(
    '/webhooks/resend',
    signedResend(resendEvent('email.delivered', { email_id: message.providerMessageId, to: [message.recipient] }, new Date(created))),
  );
  await untilEvents(message.id, 1);
  const after = await database.db.message.findUniqueOrThrow({ where: { id: message.id }, include: { events: true } });
  expect(after.status).toBe('delivered');
  expect(after.deliveredAt!.getTime()).toBeGreaterThanOrEqual(after.sentAt!.getTime());
  expect(after.events[0]!.detail).toMatchObject({ provider_time: created, provider_time_before: 'sent' });

  const page = await (await session.get(`/dashboard/messages/${message.id}`)).text();
  expect(page).not.toMatch(/\+-|-\d+ ms/);
  expect(plain(page)).toContain('resend dated it 2024-02-22 23:41:12.126 UTC, before the message was sent; shown at our time instead');
  const stats = (await json(
    await harness.request('/api/stats?window=24h', { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } }),
  )) as {
    latency: { sent_to_delivered: { p50_ms: number | null } };
  };
  expect(stats.latency.sent_to_delivered.p50_ms).toBeGreaterThanOrEqual(0);
});

it("keeps Resend's suppression type and message, and names the reason for what it is (no bounce was seen)", async () => {
  const message = await sentMessage(database.db);
  const suppressed = { type: 'OnAccountSuppressionList', message: 'The email address is on the account suppression list' };
  await post(
    '/webhooks/resend',
    signedResend(resendEvent('email.suppressed', { email_id: message.providerMessageId, to: [message.recipient], suppressed })),
  );
  const suppression = await waitFor(() => database.db.suppression.findFirst({ where: { recipient: message.recipient } }), {
    timeoutMs: 20_000,
  });
  expect(suppression).toMatchObject({
    reason: 'provider_suppression',
    detail: {
      provider: 'resend',
      provider_suppression: { suppression_type: 'OnAccountSuppressionList', message: suppressed.message, reason: null },
    },
  });
  const page = plain(await (await session.get(`/dashboard/suppressions?q=${encodeURIComponent(message.recipient)}`)).text());
  expect(page).toContain(
    `${message.recipient} email on the provider's suppression list not sent: the address is on resend's suppression list (OnAccountSuppressionList): ${suppressed.message}`,
  );
  expect(page).not.toContain('hard bounce');
});

it('a bounce from a provider that did not send the message (here: sent by the outbox) is recorded and not applied', async () => {
  const message = await sentMessage(database.db, { provider: 'outbox', providerMessageId: null });
  await database.db.message.update({ where: { id: message.id }, data: { providerMessageId: `outbox_${message.id}` } });
  const bounce = { type: 'Permanent', subType: 'General', message: 'No such user', diagnosticCode: ['smtp; 550 5.1.1'] };
  await post(
    '/webhooks/resend',
    signedResend(resendEvent('email.bounced', { to: [message.recipient], tags: { message_id: message.id }, bounce })),
  );
  await untilEvents(message.id, 1);
  await waitFor(async () => (await database.db.providerEvent.findFirst({ where: { messageId: message.id } }))?.processedAt ?? null, {
    timeoutMs: 20_000,
  });
  expect((await database.db.message.findUniqueOrThrow({ where: { id: message.id } })).status).toBe('sent');
  expect(await database.db.suppression.findFirst({ where: { recipient: message.recipient } })).toBeNull();
  const [row] = await timelineRows(message.id);
  expect(row!.what).toContain('Not applied: the message was sent by outbox, not resend');
});
