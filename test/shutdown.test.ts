import { createOutbox } from '../src/providers/outbox';
import type { EmailProvider } from '../src/providers/types';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';

/** What SIGTERM does to the workers (src/main.ts calls the same `close(grace)`), with a provider that takes its time. */

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

function slowOutbox(ms: number): EmailProvider & { started: string[]; finished: string[]; abandon(): void } {
  const outbox = createOutbox(database.db).email;
  const started: string[] = [];
  const finished: string[] = [];
  const pending: { timer: NodeJS.Timeout; fail(err: Error): void }[] = [];
  return {
    ...outbox,
    started,
    finished,
    async send(message) {
      started.push(message.messageId);
      await new Promise((resolve, reject) => pending.push({ timer: setTimeout(resolve, ms), fail: reject }));
      finished.push(message.messageId);
      return outbox.send(message);
    },
    /** Fails a send left behind now, while the database is there, rather than 30 s later into a dropped one. */
    abandon() {
      for (const { timer, fail } of pending) {
        clearTimeout(timer);
        fail(new Error('abandoned by the test'));
      }
    },
  };
}

const acceptOne = (harness: Harness): Promise<string> => acceptClerkEvent(harness.request, emailCreated());

it('lets an in-flight send finish before the workers close', async () => {
  const provider = slowOutbox(1_500);
  const harness = await startHarness(testConfig(database.url), { workers: true, overrides: { providers: { email: [provider], sms: [] } } });
  try {
    const id = await acceptOne(harness);
    await waitFor(() => provider.started.includes(id));
    await harness.workers!.close(10_000);
    // close() waited for the send: it had finished, and the message was recorded sent.
    expect(provider.finished).toContain(id);
    expect((await database.db.message.findUniqueOrThrow({ where: { id } })).status).toBe('sent');
  } finally {
    await harness.close();
  }
});

it('stops waiting at the bound and leaves the unfinished send to be retried', async () => {
  const provider = slowOutbox(30_000);
  const harness = await startHarness(testConfig(database.url), { workers: true, overrides: { providers: { email: [provider], sms: [] } } });
  try {
    const id = await acceptOne(harness);
    await waitFor(() => provider.started.includes(id));
    await harness.workers!.close(500);
    // close() came back at its bound, while the send was still under way.
    expect(provider.finished).not.toContain(id);
    // Not sent by this process; its job is still there for another worker (stalled, then retried).
    expect((await database.db.message.findUniqueOrThrow({ where: { id } })).status).toBe('sending');
    expect(await harness.container.queues.send.getJob(id)).toBeDefined();
  } finally {
    provider.abandon();
    await harness.close();
  }
});
