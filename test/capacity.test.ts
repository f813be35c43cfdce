import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { OUTBOUND_CONCURRENCY } from '../workers/outbound-webhooks-worker';

let database: TestDatabase;
let harness: Harness;
beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(
    testConfig(database.url, { SEND_CONCURRENCY: '7', EVENT_CONCURRENCY: '3', WRITEBACK_CONCURRENCY: '2', DATABASE_POOL_SIZE: '4' }),
    { workers: true },
  );
});
afterAll(async () => {
  await harness.close();
  await database.drop();
});

it('runs each queue with the concurrency configured for it', () => {
  const concurrency = Object.fromEntries(harness.workers!.workers.map((w) => [w.name, w.concurrency]));
  // Outbound event webhooks run at a fixed concurrency: their calls wait on the tenant's server, not on ours.
  expect(concurrency).toEqual({
    send: 7,
    'provider-events': 3,
    'clerk-writeback': 2,
    maintenance: 1,
    'outbound-webhooks': OUTBOUND_CONCURRENCY,
  });
});

// Nothing else in this file touches its database, so every connection to it is the container's pool.
it('opens at most DATABASE_POOL_SIZE Postgres connections', async () => {
  await Promise.all(Array.from({ length: 12 }, () => harness.container.db.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.2)`));
  const [{ n }] = await harness.container.db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()`;
  expect(n).toBeLessThanOrEqual(4);
  expect(n).toBeGreaterThan(1);
});
