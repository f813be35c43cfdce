import { TEST_ADMIN_TOKEN, testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { seedMessages } from './helpers/seed';

let database: TestDatabase;
let harness: Harness;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url));
  const db = database.db;
  await seedMessages(db, { count: 15, provider: 'resend', domain: 'gmail.com', outcome: 'delivered', sendMs: 1_000, deliverMs: 2_000 });
  await seedMessages(db, { count: 2, provider: 'resend', domain: 'gmail.com', outcome: 'hard_bounce' });
  await seedMessages(db, { count: 1, provider: 'resend', domain: 'gmail.com', outcome: 'soft_bounce' });
  await seedMessages(db, { count: 2, provider: 'resend', domain: 'yahoo.com', outcome: 'complaint', sendMs: 1_000, deliverMs: 2_000 });
  await seedMessages(db, { count: 10, provider: 'autosend', domain: 'example.net', outcome: 'delivered', sendMs: 3_000, deliverMs: 8_000 });
  await seedMessages(db, { count: 1, outcome: 'queued' });
  await seedMessages(db, { count: 4, provider: 'unosend', channel: 'sms', outcome: 'delivered' });
  // Two days old: outside a 24 h window, but among the last 1,000 sends.
  await seedMessages(db, {
    count: 5,
    provider: 'resend',
    domain: 'gmail.com',
    outcome: 'hard_bounce',
    createdAt: new Date(Date.now() - 48 * 3600_000),
  });
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const stats = async (query = '') => {
  const res = await harness.request(`/api/stats${query}`, { headers: admin });
  expect(res.status).toBe(200);
  return json(res);
};

it('counts messages per status in the window', async () => {
  const s = await stats('?window=24h');
  expect(s.window).toBe('24h');
  expect(s.total).toBe(35);
  expect(s.counts).toMatchObject({ delivered: 29, bounced: 3, complained: 2, queued: 1, sent: 0, suppressed: 0 });
});

it('computes hard-bounce and complaint rates over email sends, over the window and the last 1,000 sends', async () => {
  const s = await stats();
  // 30 email sends in the window: 2 hard bounces (the soft one does not count), 2 complaints.
  expect(s.rates.window).toEqual({ sent: 30, hard_bounces: 2, complaints: 2, bounce_rate: 2 / 30, complaint_rate: 2 / 30 });
  expect(s.rates.last_1000_sends).toEqual({ sent: 35, hard_bounces: 7, complaints: 2, bounce_rate: 7 / 35, complaint_rate: 2 / 35 });
});

it('breaks the numbers down per provider and per recipient domain', async () => {
  const s = await stats();
  const resend = s.providers.find((p: { provider: string }) => p.provider === 'resend');
  expect(resend.rates.window).toMatchObject({ sent: 20, hard_bounces: 2, complaints: 2, bounce_rate: 0.1 });
  expect(resend.counts).toMatchObject({ delivered: 15, bounced: 3, complained: 2 });
  const autosend = s.providers.find((p: { provider: string }) => p.provider === 'autosend');
  expect(autosend.rates.window).toMatchObject({ sent: 10, hard_bounces: 0, bounce_rate: 0 });
  expect(autosend.latency).toEqual({
    accepted_to_sent: { p50_ms: 3_000, p95_ms: 3_000 },
    sent_to_delivered: { p50_ms: 8_000, p95_ms: 8_000 },
  });

  const gmail = s.recipient_domains.find((d: { domain: string }) => d.domain === 'gmail.com');
  expect(gmail.rates.window).toMatchObject({ sent: 18, hard_bounces: 2 });
  expect(gmail.rates.last_1000_sends).toMatchObject({ sent: 23, hard_bounces: 7 });
  const yahoo = s.recipient_domains.find((d: { domain: string }) => d.domain === 'yahoo.com');
  expect(yahoo.rates.window).toMatchObject({ sent: 2, complaints: 2, complaint_rate: 1 });
});

it('reports latency percentiles from accepted to sent and from sent to delivered', async () => {
  const s = await stats();
  // 24 messages sent 1 s after acceptance (Resend, SMS), 10 after 3 s (Autosend); delivered 2 s or 8 s later.
  expect(s.latency.accepted_to_sent.p50_ms).toBe(1_000);
  expect(s.latency.accepted_to_sent.p95_ms).toBe(3_000);
  expect(s.latency.sent_to_delivered.p50_ms).toBe(2_000);
  expect(s.latency.sent_to_delivered.p95_ms).toBe(8_000);
});

it('honours the window', async () => {
  const s = await stats('?window=3d');
  expect(s.total).toBe(40);
  expect(s.rates.window.hard_bounces).toBe(7);
  const bad = await harness.request('/api/stats?window=forever', { headers: admin });
  expect(bad.status).toBe(422);
  expect((await json(bad)).error.message).toMatch(/window/);
});
