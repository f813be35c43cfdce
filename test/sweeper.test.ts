import type { Worker } from 'bullmq';
import type { Db } from '../src/db/prisma';
import type { NewMessage } from '../src/delivery/message-service';
import { createSweeper } from '../src/delivery/sweeper';
import { createLogger } from '../src/lib/logger';
import { createRedisConnection } from '../src/lib/redis';
import { createSendWorker } from '../workers/send-worker';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { LogCapture, startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';

let database: TestDatabase;
let harness: Harness;

beforeAll(async () => {
  database = await createTestDatabase();
  // No workers: the messages stay queued, as when the workers are down or behind.
  harness = await startHarness(testConfig(database.url));
});

afterAll(async () => {
  await harness.close();
  await database.drop();
});

const codeEmail = (issuedMinutesAgo: number, maxAgeSeconds: number): NewMessage => ({
  source: 'api',
  recipient: 'user@example.com',
  payload: { channel: 'email', subject: '482913 is your code', html: '<p>482913</p>', text: '482913' },
  secrets: ['482913'],
  codeBearing: true,
  issuedAt: new Date(Date.now() - issuedMinutesAgo * 60_000),
  maxAgeSeconds,
});

const clearPayload = async (messageId: string) => (await database.db.messageContent.findUniqueOrThrow({ where: { messageId } })).payload;

describe('sweeper', () => {
  it('clears the code of a message still queued past its lifetime, and keeps live codes and plain messages', async () => {
    const { messages, sweeper } = harness.container;
    const expired = await messages.accept(codeEmail(10, 300));
    const live = await messages.accept(codeEmail(1, 300));
    const plain = await messages.accept({
      source: 'api',
      recipient: 'user@example.com',
      payload: { channel: 'email', subject: 'Welcome', html: '<p>Hi</p>', text: 'Hi' },
      secrets: [],
      codeBearing: false,
      maxAgeSeconds: 0,
    });

    expect(await sweeper.sweep()).toEqual({ requeued: 0, purged: 1 });
    expect(await clearPayload(expired.messageId)).toBeNull();
    expect(await clearPayload(live.messageId)).toMatchObject({ subject: '482913 is your code' });
    expect(await clearPayload(plain.messageId)).toMatchObject({ subject: 'Welcome' });
    // What the log keeps was redacted from the start.
    const kept = await database.db.messageContent.findUniqueOrThrow({ where: { messageId: expired.messageId } });
    expect(JSON.stringify(kept.redacted)).not.toContain('482913');

    expect(await sweeper.sweep()).toEqual({ requeued: 0, purged: 0 });
  });
});

describe('sweeper under a backlog', () => {
  const BACKLOG = 300;
  const LOST_WARNING = 'requeued a message that had lost its job';
  const plainEmail = (i: number): NewMessage => ({
    source: 'api',
    recipient: `backlog-${i}@example.com`,
    payload: { channel: 'email', subject: 'Welcome', html: '<p>Hi</p>', text: 'Hi' },
    secrets: [],
    codeBearing: false,
    maxAgeSeconds: 0,
  });
  /** Every queued message last touched five minutes ago: older than the sweeper's one-minute bound. */
  const backdate = () => database.db.$executeRaw`UPDATE messages SET updated_at = now() - interval '5 minutes' WHERE status = 'queued'`;
  const sentCount = (ids: string[]) => database.db.message.count({ where: { id: { in: ids }, status: 'sent' } });
  const warnings = (logs: LogCapture) => logs.lines.filter((line) => line.includes(LOST_WARNING));

  function startSendWorker(): { worker: Worker; close(): Promise<void> } {
    const container = harness.container;
    const connection = createRedisConnection(container.config, 'worker');
    const worker = createSendWorker({
      connection,
      prefix: container.redisKeys.queue('send'),
      delivery: container.delivery,
      log: createLogger('silent'),
      concurrency: 20,
    });
    return {
      worker,
      close: async () => {
        await worker.close();
        connection.disconnect();
      },
    };
  }

  it('leaves alone the jobs the worker is running or has just finished while it looks, and warns of none', async () => {
    const ids: string[] = [];
    for (let i = 0; i < BACKLOG; i += 1) ids.push((await harness.container.messages.accept(plainEmail(i))).messageId);
    await backdate();

    // The worker drains the backlog between the sweeper's read of the stale messages and its look at their
    // jobs, as a busy worker does while a sweep walks a few hundred of them.
    let worker: ReturnType<typeof startSendWorker> | undefined;
    let paused = false;
    const db = database.db.$extends({
      query: {
        message: {
          async findMany({ args, query }) {
            const rows = await query(args);
            if (!paused) {
              paused = true;
              worker = startSendWorker();
              await waitFor(async () => (await sentCount(ids)) >= BACKLOG / 2, { timeoutMs: 30_000 });
            }
            return rows;
          },
        },
      },
    }) as unknown as Db;
    const logs = new LogCapture();
    const sweeper = createSweeper({
      db,
      store: harness.container.messageStore,
      queues: harness.container.queues,
      log: createLogger('warn', logs),
    });
    try {
      expect((await sweeper.sweep()).requeued).toBe(0);
      expect(warnings(logs)).toEqual([]);
      await waitFor(async () => (await sentCount(ids)) === BACKLOG, { timeoutMs: 30_000 });
    } finally {
      await worker?.close();
    }
    expect(await database.db.outboxMessage.count({ where: { messageId: { in: ids } } })).toBe(BACKLOG);
  });

  it('queues once, with one warning, a message whose job was really removed', async () => {
    const { messageId } = await harness.container.messages.accept(plainEmail(BACKLOG));
    await harness.container.queues.send.remove(messageId);
    await backdate();
    const logs = new LogCapture();
    const sweeper = createSweeper({
      db: database.db,
      store: harness.container.messageStore,
      queues: harness.container.queues,
      log: createLogger('warn', logs),
    });

    expect(await sweeper.sweep()).toEqual({ requeued: 1, purged: 0 });
    expect(await harness.container.queues.send.getJobState(messageId)).toBe('waiting');
    // Its job lives again: the next sweeps leave it alone, even once it looks stale again.
    expect(await sweeper.sweep()).toEqual({ requeued: 0, purged: 0 });
    await backdate();
    expect(await sweeper.sweep()).toEqual({ requeued: 0, purged: 0 });
    expect(warnings(logs)).toHaveLength(1);
    expect(warnings(logs)[0]).toContain(messageId);
  });
});
