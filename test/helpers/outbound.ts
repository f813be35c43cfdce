import type { Worker } from 'bullmq';
import { createRedisConnection } from '../../src/lib/redis';
import type { AddressPolicy } from '../../src/outbound/address-policy';
import { createOutboundDeliveries, type DeliveriesDeps } from '../../src/outbound/deliveries';
import { createOutboundWebhooksWorker } from '../../workers/outbound-webhooks-worker';
import { startFakeServer, type FakeServer } from '../fakes/fake-http-server';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver';
import { testConfig } from './config';
import { createTestDatabase, type TestDatabase } from './db';
import { startHarness, type Harness } from './harness';

export const DEV_POLICY: AddressPolicy = { production: false, allowList: { hosts: [], subnets: [] } };
export const PRODUCTION_POLICY: AddressPolicy = { production: true, allowList: { hosts: [], subnets: [] } };

export interface OutboundFixture {
  database: TestDatabase;
  harness: Harness;
  /** Stands in for ALERT_WEBHOOK_URL. */
  slack: FakeServer;
}

/**
 * The real service (no workers of its own) on a database of the file's own, with jest hooks that stop each
 * test's delivery workers and receivers and delete its endpoints. `startDeliveries` builds the delivery module
 * with the test's deps (a shortened schedule, timeout, policy, resolver) and a worker on the service's queue.
 */
export function useOutboundFixture() {
  const fixture = {} as OutboundFixture;
  const receivers: WebhookReceiver[] = [];
  const running: { worker: Worker; close(): Promise<void> }[] = [];
  let n = 0;

  beforeAll(async () => {
    fixture.database = await createTestDatabase();
    fixture.slack = await startFakeServer(() => ({ status: 200, body: 'ok' }));
    fixture.harness = await startHarness(testConfig(fixture.database.url, { ALERT_WEBHOOK_URL: fixture.slack.url }));
  });

  afterEach(async () => {
    for (const r of running.splice(0)) await r.close();
    for (const r of receivers.splice(0)) await r.close();
    await fixture.database.db.webhookEndpoint.deleteMany({});
    fixture.harness.container.outbound.publisher.endpointsChanged();
  });

  afterAll(async () => {
    await fixture.harness.close();
    await fixture.slack.close();
    await fixture.database.drop();
  });

  function startDeliveries(overrides: Partial<DeliveriesDeps> = {}) {
    const c = fixture.harness.container;
    const deliveries = createOutboundDeliveries({
      db: c.db,
      queue: c.queues.outboundWebhooks,
      policy: DEV_POLICY,
      resolve: async () => {
        throw new Error('no name should need resolving');
      },
      alerts: c.alerts,
      publisher: c.outbound.publisher,
      metrics: c.outbound.metrics,
      log: c.log,
      retentionDays: 30,
      schedule: [100, 100, 100],
      timeoutMs: 2_000,
      ...overrides,
    });
    const connection = createRedisConnection(c.config, 'worker');
    const worker = createOutboundWebhooksWorker({ connection, prefix: c.redisKeys.queue('outbound-webhooks'), deliveries, log: c.log });
    running.push({ worker, close: async () => (await worker.close(), connection.disconnect()) });
    return deliveries;
  }

  async function newReceiver(): Promise<WebhookReceiver> {
    const receiver = await startWebhookReceiver();
    receivers.push(receiver);
    return receiver;
  }

  /** A receiver, and an endpoint pointing at it whose secret it verifies with. */
  async function receiverWithEndpoint(body: { event_types?: string[]; description?: string } = {}) {
    const receiver = await newReceiver();
    const { endpoint, secret } = await fixture.harness.container.outbound.endpoints.create({
      url: receiver.url,
      description: body.description,
      eventTypes: body.event_types as never,
    });
    receiver.setSecret(secret);
    return { receiver, endpoint, secret };
  }

  /** A `suppression.created` event, the cheapest one to cause. */
  const suppressSomeone = () =>
    fixture.harness.container.suppressions.suppress({
      channel: 'email',
      recipient: `someone-${++n}-${Date.now()}@example.com`,
      reason: 'manual',
    });

  return { fixture, startDeliveries, newReceiver, receiverWithEndpoint, suppressSomeone, next: () => ++n };
}
