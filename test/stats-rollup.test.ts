import { createStats } from '../src/deliverability/stats';
import { fold } from '../src/deliverability/stats-rollup';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { seedMessages } from './helpers/seed';

/**
 * The stats' hourly rollup against real Postgres: what it holds equals a count over the messages, folding
 * twice or twice at once changes nothing, and the stats read from it answer what they answer from the
 * messages alone, also right after a message changed and before the next fold.
 */

let database: TestDatabase;
const now = new Date();
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3600_000);

beforeAll(async () => {
  database = await createTestDatabase();
  const db = database.db;
  for (const [h, n] of [
    [1, 3],
    [5, 4],
    [30, 6],
    [100, 2],
  ] as const) {
    await seedMessages(db, { count: n, provider: 'resend', domain: 'gmail.com', outcome: 'delivered', createdAt: hoursAgo(h + 0.5) });
    await seedMessages(db, { count: 1, provider: 'resend', domain: 'gmail.com', outcome: 'hard_bounce', createdAt: hoursAgo(h + 0.2) });
    await seedMessages(db, {
      count: 2,
      provider: 'autosend',
      domain: 'yahoo.com',
      outcome: 'complaint',
      sendMs: 2_345,
      createdAt: hoursAgo(h),
    });
    await seedMessages(db, { count: 1, provider: 'unosend', channel: 'sms', outcome: 'delivered', createdAt: hoursAgo(h + 0.1) });
    await seedMessages(db, { count: 1, outcome: 'queued', createdAt: hoursAgo(h + 0.3) });
  }
});

afterAll(async () => {
  await database.drop();
});

const rollupRows = () => database.db.$queryRaw<unknown[]>`SELECT * FROM message_stats_hourly ORDER BY hour, scope, key, status`;
const latencyRows = () => database.db.$queryRaw<unknown[]>`SELECT * FROM message_latency_hourly ORDER BY hour, scope, key, kind, bucket_ms`;

const dailyRows = () =>
  database.db.$queryRaw<unknown[]>`SELECT day, scope, key, kind, bucket_ms, messages FROM message_latency_daily ORDER BY 1, 2, 3, 4, 5`;
const hourlySummedByDay = () => database.db.$queryRaw<unknown[]>`
  SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, scope, key, kind, bucket_ms, sum(messages)::int AS messages
  FROM message_latency_hourly GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`;

const directCounts = () => database.db.$queryRaw<unknown[]>`
  SELECT date_trunc('hour', created_at) AS hour, coalesce(provider, '') AS key, status,
         count(*)::int AS messages, count(*) FILTER (WHERE channel = 'email' AND sent_at IS NOT NULL)::int AS email_sent
  FROM messages GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;

const stats = () => createStats({ db: database.db, now: () => now });

it('holds, per hour, provider and status, what a count over the messages says; folding again changes nothing', async () => {
  const live = await stats().compute('7d', { lastSends: false });
  expect(await fold(database.db)).toEqual({ hours: expect.any(Number) });
  const byProvider = await database.db.$queryRaw<unknown[]>`
    SELECT hour, key, status, messages, email_sent FROM message_stats_hourly WHERE scope = 'provider' ORDER BY 1, 2, 3`;
  expect(byProvider).toEqual(await directCounts());

  const [rows, latency] = [await rollupRows(), await latencyRows()];
  await fold(database.db);
  await Promise.all([fold(database.db), fold(database.db)]);
  expect(await rollupRows()).toEqual(rows);
  expect(await latencyRows()).toEqual(latency);
  // The daily histograms are the hourly ones summed per UTC day; the seeded sends fall on three days or more.
  const daily = await dailyRows();
  expect(daily).toEqual(await hourlySummedByDay());
  expect(new Set(daily.map((r) => String((r as { day: Date }).day))).size).toBeGreaterThanOrEqual(3);

  // Read from the rollup now, the answer is the one read from the messages alone.
  expect(await stats().compute('7d', { lastSends: false })).toEqual(live);
  expect(live.total).toBe(35);
  expect(live.rates.window).toMatchObject({ sent: 27, hard_bounces: 4, complaints: 8 });
  // 2,345 ms counts as 2,300 (two significant digits); the others were sent after 1 s.
  expect(live.providers.find((p) => p.provider === 'autosend')!.latency.accepted_to_sent).toEqual({ p50_ms: 2_300, p95_ms: 2_300 });
  expect(live.latency.accepted_to_sent).toEqual({ p50_ms: 1_000, p95_ms: 2_300 });
});

it('answers right after a message changes or arrives in a folded hour, before the next fold', async () => {
  await fold(database.db);
  const before = await stats().compute('7d', { lastSends: false });
  await database.db.$executeRaw`
    UPDATE messages SET status = 'failed', updated_at = now()
    WHERE id = (SELECT id FROM messages WHERE status = 'queued' AND created_at < ${hoursAgo(30)} LIMIT 1)`;
  await seedMessages(database.db, { count: 3, provider: 'autosend', domain: 'example.net', outcome: 'delivered', createdAt: hoursAgo(50) });

  const after = await stats().compute('7d', { lastSends: false });
  expect(after.total).toBe(before.total + 3);
  expect(after.counts).toMatchObject({ queued: before.counts.queued - 1, failed: before.counts.failed + 1 });
  expect(after.recipient_domains.find((d) => d.domain === 'example.net')).toMatchObject({ total: 3 });

  await fold(database.db);
  expect(await stats().compute('7d', { lastSends: false })).toEqual(after);
  expect(await dailyRows()).toEqual(await hourlySummedByDay());
  const byProvider = await database.db.$queryRaw<unknown[]>`
    SELECT hour, key, status, messages, email_sent FROM message_stats_hourly WHERE scope = 'provider' ORDER BY 1, 2, 3`;
  expect(byProvider).toEqual(await directCounts());
});

it('counts the current hour once in a window of days, whatever changed earlier today', async () => {
  // Its own log: six sends in the current hour at 9 s, seven earlier at 1 s, so counting the current hour twice
  // moves the median. Run in the first hour of a UTC day there is no earlier hour today, and nothing to catch.
  const own = await createTestDatabase();
  try {
    const current = new Date(Math.max(Math.floor(now.getTime() / 3600_000) * 3600_000, now.getTime() - 1_000));
    await seedMessages(own.db, {
      count: 6,
      provider: 'resend',
      domain: 'now.example',
      outcome: 'delivered',
      sendMs: 9_000,
      createdAt: current,
    });
    await seedMessages(own.db, { count: 6, provider: 'resend', domain: 'gmail.com', outcome: 'delivered', createdAt: hoursAgo(30) });
    const earlierToday = new Date(Math.max(Math.floor(now.getTime() / 86_400_000) * 86_400_000, now.getTime() - 2 * 3600_000));
    await seedMessages(own.db, { count: 1, provider: 'resend', domain: 'gmail.com', outcome: 'delivered', createdAt: earlierToday });
    const ownStats = createStats({ db: own.db, now: () => now });
    const live = await ownStats.compute('7d', { lastSends: false });
    expect(live.latency.accepted_to_sent.p50_ms).toBe(1_000);

    await fold(own.db);
    // A change earlier today (a delivery report, say) makes its hour live again; nothing else about the log moved.
    await own.db.$executeRaw`UPDATE messages SET updated_at = now() WHERE created_at = ${earlierToday}`;
    expect(await ownStats.compute('7d', { lastSends: false })).toEqual(live);
  } finally {
    await own.drop();
  }
});
