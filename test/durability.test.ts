import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createSweeper } from '../src/delivery/sweeper';
import { createLogger } from '../src/lib/logger';
import { postV1, TEST_API_KEY } from './helpers/api';
import { acceptClerkEvent, emailCreated, postClerkEvent } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { json, startHarness, type Harness } from './helpers/harness';
import { PrivateRedis, randomPort } from './helpers/redis-server';
import { waitFor } from './helpers/wait';
import { FAKE_RESEND_KEY, resendAnswers, startFakeResend } from './fakes/fake-resend';
import { Redis } from 'ioredis';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const postClerk = (harness: Harness, event: unknown): Promise<Response> => postClerkEvent(harness.request, event);

/** Redis back up (empty), and a sweeper that takes every message still in flight for lost. */
async function redisBackWithSweeper(redis: PrivateRedis, harness: Harness) {
  await redis.start();
  await waitFor(() => harness.container.redis.status === 'ready', { timeoutMs: 15_000 });
  return createSweeper({
    db: database.db,
    store: harness.container.messageStore,
    queues: harness.container.queues,
    log: createLogger('silent'),
    staleAfterMs: 0,
  });
}

describe('Redis goes away', () => {
  const redis = new PrivateRedis(randomPort());
  let harness: Harness;

  beforeAll(async () => {
    await redis.start();
    harness = await startHarness(testConfig(database.url, { REDIS_URL: redis.url }));
  });
  afterAll(async () => {
    await harness.close();
    await redis.stop();
  });

  it('answers 503 while Redis is down, and delivers every message exactly once when it is back', async () => {
    const before = emailCreated();
    const accepted = await postClerk(harness, before);
    expect(accepted.status).toBe(202);
    const beforeId = (await json(accepted)).message_id;

    await redis.stop();
    const during = emailCreated();
    const refused = await postClerk(harness, during);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect((await json(refused)).error.code).toBe('unavailable');
    const recorded = await database.db.message.findFirstOrThrow({ where: { externalId: during.data.id } });
    expect(recorded.status).toBe('queued');

    // Back, but empty: the job of the message accepted before the outage is gone too.
    const sweeper = await redisBackWithSweeper(redis, harness);
    expect((await sweeper.sweep()).requeued).toBeGreaterThanOrEqual(2);

    // Svix retries the refused webhook: it is the same message, not a second one.
    const retried = await postClerk(harness, during);
    expect(retried.status).toBe(200);
    expect((await json(retried)).message_id).toBe(recorded.id);

    const { startWorkers } = await import('../workers');
    const workers = await startWorkers(harness.container);
    try {
      for (const id of [beforeId, recorded.id]) {
        await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }), { timeoutMs: 15_000 });
      }
      expect(await database.db.outboxMessage.count({ where: { messageId: { in: [beforeId, recorded.id] } } })).toBe(2);
      // A second sweep finds nothing to do.
      expect((await sweeper.sweep()).requeued).toBe(0);
    } finally {
      await workers.close(5_000);
    }
  });
});

describe('Redis goes away under the send API', () => {
  const redis = new PrivateRedis(randomPort());
  let harness: Harness;

  beforeAll(async () => {
    await redis.start();
    harness = await startHarness(
      testConfig(database.url, { REDIS_URL: redis.url, API_KEYS: TEST_API_KEY, EMAIL_FROM: 'Acme <auth@acme.example>' }),
    );
  });
  afterAll(async () => {
    await harness.close();
    await redis.stop();
  });

  it('acknowledges a message it has recorded, so the app does not send it again, and delivers it once Redis is back', async () => {
    await redis.stop();
    // An app that got a 503 here would send again, and the user would get two.
    const res = await postV1(harness, '/messages', { channel: 'email', to: 'ops@example.com', subject: 'Hello', text: 'Hi' });
    expect(res.status).toBe(202);
    const { message_id } = await json(res);
    expect(await database.db.message.findUniqueOrThrow({ where: { id: message_id } })).toMatchObject({ status: 'queued' });

    const sweeper = await redisBackWithSweeper(redis, harness);
    await sweeper.sweep();
    const { startWorkers } = await import('../workers');
    const workers = await startWorkers(harness.container);
    try {
      await waitFor(() => database.db.message.findFirst({ where: { id: message_id, status: 'sent' } }), { timeoutMs: 15_000 });
      expect(await database.db.outboxMessage.count({ where: { messageId: message_id } })).toBe(1);
    } finally {
      await workers.close(5_000);
    }
  });
});

describe('Redis loses its data while the workers run (a restart without AOF)', () => {
  const redis = new PrivateRedis(randomPort());
  const SWEEP_EVERY_MS = 1_000;
  const STALE_AFTER_MS = 2_000;

  beforeAll(() => redis.start());
  afterAll(() => redis.stop());

  it('registers the maintenance schedulers again, and the sweep sends every accepted message, with no restart', async () => {
    const resend = await startFakeResend();
    const config = testConfig(database.url, {
      REDIS_URL: redis.url,
      EMAIL_PROVIDERS: 'resend',
      RESEND_API_KEY: FAKE_RESEND_KEY,
      RESEND_BASE_URL: resend.url,
      EMAIL_FROM_DOMAIN: 'acme.test',
    });
    const harness = await startHarness(config, {
      workers: true,
      workerTuning: { sweepEveryMs: SWEEP_EVERY_MS },
      overrides: { sweepStaleAfterMs: STALE_AFTER_MS },
    });
    const admin = new Redis(redis.url);
    try {
      // Resend asks for 30 s: every message waits in a delayed job, the jobs that a flush takes away.
      resend.script(resendAnswers.rateLimited(30));
      const ids = [await acceptClerkEvent(harness.request, emailCreated())];
      await waitFor(() => resend.requests.length === 1);
      for (let i = 0; i < 19; i += 1) ids.push(await acceptClerkEvent(harness.request, emailCreated()));
      await waitFor(async () => (await harness.container.queues.send.getDelayedCount()) === ids.length, { timeoutMs: 15_000 });

      await admin.flushall();
      expect(await harness.container.queues.maintenance.getJobScheduler('sweep')).toBeUndefined();

      // About two sweep periods past the staleness bound, every one has gone out, once.
      const sent = await waitFor(
        async () => {
          const n = await database.db.message.count({ where: { id: { in: ids }, status: 'sent' } });
          return n === ids.length ? n : null;
        },
        { timeoutMs: STALE_AFTER_MS + 4 * SWEEP_EVERY_MS + 10_000 },
      ).catch(async () => database.db.message.count({ where: { id: { in: ids }, status: 'sent' } }));
      expect(sent).toBe(ids.length);
      expect(resend.deliveries).toHaveLength(ids.length);
      expect(await harness.container.queues.maintenance.getJobScheduler('sweep')).toBeDefined();
    } finally {
      admin.disconnect();
      await harness.close();
      await resend.close();
    }
  });
});

describe('Postgres does not answer', () => {
  it('answers 503 and queues nothing', async () => {
    const harness = await startHarness(testConfig('postgresql://postgres@127.0.0.1:1/none'));
    try {
      const res = await postClerk(harness, emailCreated());
      expect(res.status).toBe(503);
      expect((await json(res)).error.message).toMatch(/Database unavailable/);
      expect(await harness.container.queues.send.count()).toBe(0);
      const ready = await harness.request('/readyz');
      expect(ready.status).toBe(503);
      expect(await json(ready)).toMatchObject({ checks: { postgres: 'down', redis: 'ok' } });
    } finally {
      await harness.close();
    }
  });
});

describe('a worker killed mid-send', () => {
  let child: ChildProcess | undefined;
  afterEach(() => child?.kill('SIGKILL'));

  it('retries the job and the message is sent exactly once', async () => {
    const config = testConfig(database.url);
    const harness = await startHarness(config, { overrides: { sendLeaseMs: 1_500 } });
    try {
      child = spawn(process.execPath, [path.resolve(__dirname, '../dist/test/fixtures/killable-worker.js')], {
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          DATABASE_URL: config.DATABASE_URL,
          REDIS_URL: config.REDIS_URL,
          QUEUE_PREFIX: config.QUEUE_PREFIX,
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          TEST_LEASE_MS: '1500',
          TEST_LOCK_MS: '1500',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const lines = createInterface({ input: child.stdout! });
      const seen: string[] = [];
      lines.on('line', (l) => seen.push(l));
      await waitFor(() => seen.includes('ready'), { timeoutMs: 20_000 });

      const res = await postClerk(harness, emailCreated());
      const id = (await json(res)).message_id;
      await waitFor(() => seen.includes(`stored ${id}`), { timeoutMs: 15_000 });
      child.kill('SIGKILL');
      expect((await database.db.message.findUniqueOrThrow({ where: { id } })).status).toBe('sending');

      const { startWorkers } = await import('../workers');
      const workers = await startWorkers(harness.container, { lockDuration: 1_500, stalledInterval: 1_000 });
      try {
        const sent = await waitFor(() => database.db.message.findFirst({ where: { id, status: 'sent' } }), { timeoutMs: 20_000 });
        expect(sent.provider).toBe('outbox');
        expect(await database.db.outboxMessage.count({ where: { messageId: id } })).toBe(1);
        const events = await database.db.messageEvent.findMany({ where: { messageId: id, type: 'sent' } });
        expect(events).toHaveLength(1);
      } finally {
        await workers.close(5_000);
      }
    } finally {
      await harness.close();
    }
  });
});
