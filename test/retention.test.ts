import { createRetention } from '../src/delivery/retention';
import { createLogger } from '../src/lib/logger';
import { RETENTION_CRON } from '../src/queue/catalog';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness } from './helpers/harness';
import { seedMessage } from './helpers/seed';
import { waitFor } from './helpers/wait';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY);

it('removes bodies after BODY_RETENTION_DAYS and messages after RETENTION_DAYS, in batches', async () => {
  const fresh = await seedMessage(database.db, { createdAt: daysAgo(1) });
  const oldBodies: string[] = [];
  for (let i = 0; i < 5; i++) oldBodies.push(await seedMessage(database.db, { createdAt: daysAgo(8 + i) }));
  await database.db.outboxMessage.create({
    data: { messageId: oldBodies[0]!, channel: 'email', to: 'a@example.com', createdAt: daysAgo(8) },
  });
  await database.db.outboxMessage.create({ data: { messageId: fresh, channel: 'email', to: 'b@example.com', createdAt: daysAgo(1) } });
  const expired: string[] = [];
  for (let i = 0; i < 3; i++)
    expired.push(await seedMessage(database.db, { createdAt: daysAgo(31 + i), events: [{ type: 'received' }, { type: 'sent' }] }));

  const verification = (id: string, expiresAt: Date) =>
    database.db.verification.create({
      data: {
        id,
        channel: 'email',
        recipient: 'v@example.com',
        purpose: 'login',
        status: 'verified',
        maxAttempts: 5,
        createdAt: new Date(expiresAt.getTime() - 300_000),
        expiresAt,
      },
    });
  for (let i = 0; i < 3; i++) await verification(`ver_old_${i}`, daysAgo(31 + i));
  await verification('ver_recent', daysAgo(29));

  const providerEvent = (id: string, processedAt: Date | null) =>
    database.db.providerEvent.create({
      data: {
        id,
        provider: 'resend',
        eventId: id,
        type: 'email.delivered',
        occurredAt: daysAgo(40),
        payload: { to: ['someone@example.com'] },
        receivedAt: daysAgo(40),
        processedAt,
      },
    });
  await providerEvent('pev_old', daysAgo(31));
  await providerEvent('pev_recent', daysAgo(2));
  await providerEvent('pev_unprocessed', null);

  const retention = createRetention({
    db: database.db,
    config: { RETENTION_DAYS: 30, BODY_RETENTION_DAYS: 7 },
    log: createLogger('silent'),
    batchSize: 2,
  });
  expect(await retention.run()).toEqual({ messages: 3, bodies: 5, outbox: 1, verifications: 3, providerEvents: 1 });
  expect((await database.db.verification.findMany({ select: { id: true } })).map((v) => v.id)).toEqual(['ver_recent']);
  expect((await database.db.providerEvent.findMany({ orderBy: { id: 'asc' } })).map((e) => e.id)).toEqual([
    'pev_recent',
    'pev_unprocessed',
  ]);

  expect(await database.db.message.count({ where: { id: { in: expired } } })).toBe(0);
  expect(await database.db.messageEvent.count({ where: { messageId: { in: expired } } })).toBe(0);
  // Old enough to lose the body, not the message or its timeline.
  expect(await database.db.message.count({ where: { id: { in: oldBodies } } })).toBe(5);
  expect(await database.db.messageContent.count({ where: { messageId: { in: oldBodies } } })).toBe(0);
  expect(await database.db.messageEvent.count({ where: { messageId: { in: oldBodies } } })).toBe(5);
  expect(await database.db.messageContent.count({ where: { messageId: fresh } })).toBe(1);
  expect(await database.db.outboxMessage.count()).toBe(1);

  expect(await retention.run()).toEqual({ messages: 0, bodies: 0, outbox: 0, verifications: 0, providerEvents: 0 });
});

describe('the daily job', () => {
  it('is scheduled once a day and runs retention on the maintenance worker', async () => {
    const harness = await startHarness(testConfig(database.url, { RETENTION_DAYS: '30' }), { workers: true });
    try {
      const scheduler = await harness.container.queues.maintenance.getJobScheduler('retention');
      expect(scheduler).toMatchObject({ pattern: RETENTION_CRON, tz: 'UTC' });

      const old = await seedMessage(database.db, { createdAt: daysAgo(45) });
      const job = await harness.container.queues.maintenance.add('retention', { task: 'retention' });
      await waitFor(async () => (await job.getState()) === 'completed', { timeoutMs: 15_000 });
      expect(await database.db.message.count({ where: { id: old } })).toBe(0);
    } finally {
      await harness.close();
    }
  });
});
