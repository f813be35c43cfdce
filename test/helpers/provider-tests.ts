import type { Db } from '../../src/db/prisma';
import type { OutgoingEmail, ProviderFailure, ProviderOutcome, SentOutcome } from '../../src/providers/types';
import { testConfig } from './config';
import { createTestDatabase, type TestDatabase } from './db';
import { startHarness, type Harness } from './harness';
import { waitFor } from './wait';
import { FAKE_CLERK_SECRET_KEY, startFakeClerk, type FakeClerk } from '../fakes/fake-clerk';
import type { IdempotentFake } from '../fakes/idempotent-fake';
import type { ContainerOverrides } from '../../src/container';

/** An email as the delivery service hands it to an adapter. */
export const outgoingEmail = (overrides: Partial<OutgoingEmail> = {}): OutgoingEmail => ({
  messageId: 'msg_test1',
  to: 'maria@example.com',
  from: 'Acme <auth@acme.example>',
  subject: '482913 is your code',
  html: '<p>482913</p>',
  text: '482913',
  headers: { 'X-Entity-Ref-ID': 'msg_test1' },
  tags: [{ name: 'message_id', value: 'msg_test1' }],
  idempotencyKey: 'unused',
  ...overrides,
});

/** The failure a send resolves with (failing the test if it sent, or rejected). */
export async function providerError(send: Promise<ProviderOutcome>): Promise<ProviderFailure> {
  const outcome = await send;
  expect(outcome.kind).not.toBe('sent');
  return outcome as ProviderFailure;
}

/** The `sent` outcome a send resolves with (failing the test on any other outcome). */
export async function sentOutcome(send: Promise<ProviderOutcome>): Promise<SentOutcome> {
  const outcome = await send;
  expect(outcome).toMatchObject({ kind: 'sent' });
  return outcome as SentOutcome;
}

/** The message with its timeline once its status is one of `statuses`. */
export const settledMessage = (db: Db, id: string, statuses: string[]) =>
  waitFor(
    async () => {
      const m = await db.message.findUniqueOrThrow({ where: { id }, include: { events: { orderBy: { id: 'asc' } } } });
      return statuses.includes(m.status) ? m : null;
    },
    { timeoutMs: 20_000 },
  );

/** Each of `ids` reached the fake provider as one delivery under its own idempotency key, and has one `sent` event. */
export async function expectSentOnce(provider: Pick<IdempotentFake, 'deliveries'>, db: Db, ids: string[]): Promise<void> {
  expect(provider.deliveries).toHaveLength(ids.length);
  expect(new Set(provider.deliveries.map((d) => d.idempotencyKey)).size).toBe(ids.length);
  const sentEvents = await db.messageEvent.groupBy({
    by: ['messageId'],
    where: { messageId: { in: ids }, type: 'sent' },
    _count: true,
  });
  expect(sentEvents.map((e) => e._count)).toEqual(ids.map(() => 1));
}

export interface ProviderHarness {
  database: TestDatabase;
  clerk: FakeClerk;
  harness: Harness;
  settled(id: string, statuses: string[]): ReturnType<typeof settledMessage>;
  close(): Promise<void>;
}

/** The real service with workers, on its own database, writing back to a fake Clerk, with these provider variables. */
export async function startProviderHarness(env: Record<string, string>, overrides: ContainerOverrides = {}): Promise<ProviderHarness> {
  const database = await createTestDatabase();
  const clerk = await startFakeClerk();
  const harness = await startHarness(
    testConfig(database.url, {
      EMAIL_FROM: 'Acme <auth@acme.example>',
      CLERK_SECRET_KEY: FAKE_CLERK_SECRET_KEY,
      CLERK_API_URL: clerk.url,
      ...env,
    }),
    { workers: true, overrides },
  );
  return {
    database,
    clerk,
    harness,
    settled: (id, statuses) => settledMessage(database.db, id, statuses),
    async close() {
      await harness.close();
      await clerk.close();
      await database.drop();
    },
  };
}
