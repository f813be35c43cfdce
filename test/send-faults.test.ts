import { Redis } from 'ioredis';
import { createDeliveryService } from '../src/delivery/delivery-service';
import { DependencyUnavailableError } from '../src/lib/errors';
import { createLogger } from '../src/lib/logger';
import { createProviderHealth } from '../src/providers/provider-health';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';

let database: TestDatabase;
let harness: Harness;
beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url, { EMAIL_FROM_DOMAIN: 'acme.test' }));
});
afterAll(async () => {
  await harness.close();
  await database.drop();
});

describe('Redis goes away during a send', () => {
  it('is recorded as our outage, not as the provider failing: no attempt, no send_failed, nothing on its circuit', async () => {
    const id = await acceptClerkEvent(harness.request, emailCreated());
    // The provider gate's Redis is gone (as the producer connection is in an outage: no offline queue).
    const deadRedis = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    deadRedis.on('error', () => undefined);
    const log = createLogger('silent');
    const { container } = harness;
    const delivery = createDeliveryService({
      db: database.db,
      store: container.messageStore,
      providers: container.providers,
      suppressions: container.suppressions,
      health: createProviderHealth({
        redis: deadRedis,
        prefix: container.config.QUEUE_PREFIX,
        providers: ['outbox'],
        limits: {},
        failureThreshold: 5,
        openMs: 30_000,
        probeLeaseMs: 5_000,
        maxWaitMs: 0,
        maxPauseMs: 60_000,
        log,
      }),
      config: container.config,
      log,
      metrics: container.metrics,
      messages: container.messages,
    });
    try {
      await expect(delivery.processSend({ messageId: id })).rejects.toBeInstanceOf(DependencyUnavailableError);
    } finally {
      deadRedis.disconnect();
    }
    const message = await database.db.message.findUniqueOrThrow({ where: { id } });
    expect(message).toMatchObject({ status: 'queued', attempts: 0, lastError: null, leaseUntil: null });
    expect(await database.db.messageEvent.count({ where: { messageId: id, type: 'send_failed' } })).toBe(0);
  });
});
