import { hourlyOverview } from '../src/dashboard/overview';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { seedMessages } from './helpers/seed';

/** The overview's hourly latency charts, from messages written straight to the log. */

const HOUR_MS = 3_600_000;
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

it('charts accepted → sent and sent → delivered as exact percentiles, in seconds, in the hour each happened', async () => {
  const now = new Date();
  const hourStart = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
  const createdAt = new Date(hourStart + 10 * 60_000);
  for (const sendMs of [1_000, 2_000, 3_000, 4_000]) {
    await seedMessages(database.db, { count: 1, createdAt, sendMs, deliverMs: 500 + sendMs / 2 });
  }
  const overview = await hourlyOverview(database.db, now);
  const slot = overview.hours.findIndex((h) => h.getTime() === hourStart);
  expect(slot).toBe(21);
  // percentile_cont interpolates: the 95th of 1, 2, 3, 4 s is 3 + 0.85 s.
  expect(overview.acceptedToSent.p50[slot]).toBeCloseTo(2.5, 6);
  expect(overview.acceptedToSent.p95[slot]).toBeCloseTo(3.85, 6);
  expect(overview.sentToDelivered.p50[slot]).toBeCloseTo(1.75, 6);
  expect(overview.sentToDelivered.p95[slot]).toBeCloseTo(2.425, 6);
  expect(typeof overview.acceptedToSent.p50[slot]).toBe('number');
  expect(overview.acceptedToSent.p50.filter((v) => v !== null)).toHaveLength(1);
});
