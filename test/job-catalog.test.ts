import type { Job, Queue } from 'bullmq';
import { redisKeys } from '../src/lib/redis';
import { createQueues, JOB_CATALOG, sendJob, type QueueKey } from '../src/queue/catalog';
import { addJobs, MalformedJobError, parseJobData } from '../src/queue/queues';
import { acceptClerkEvent, emailCreated } from './helpers/clerk-events';
import { testConfig } from './helpers/config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { startHarness, type Harness } from './helpers/harness';
import { waitFor } from './helpers/wait';

/*
 * The job catalog (src/queue/catalog.ts) on real BullMQ queues in the shared Redis, under this file's own
 * QUEUE_PREFIX (testConfig), with the real workers running.
 */

let database: TestDatabase;
let harness: Harness;
beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(testConfig(database.url), { workers: true });
});
afterAll(async () => {
  await harness?.close();
  await database?.drop();
});

const settledJob = (queue: Queue, id: string) =>
  waitFor(
    async () => {
      const state = await queue.getJobState(id);
      // Read once settled: a job read while it ran has no failedReason yet.
      return state === 'failed' || state === 'completed' ? { job: (await queue.getJob(id)) as Job, state } : null;
    },
    { timeoutMs: 20_000 },
  );

it('creates one queue per catalog entry, under its name, with its default job options', () => {
  const queues = harness.container.queues;
  expect(queues.all().map((q) => q.name)).toEqual(Object.values(JOB_CATALOG).map((entry) => entry.name));
  for (const key of Object.keys(JOB_CATALOG) as QueueKey[]) {
    expect(queues[key].name).toBe(JOB_CATALOG[key].name);
    expect(queues[key].defaultJobOptions).toMatchObject(JOB_CATALOG[key].defaults);
  }
});

it('addJobs queues a job alone (plain add) exactly as it queues jobs together (addBulk): its id, the catalog defaults, once', async () => {
  // A prefix of its own and no worker on it: the jobs stay as they were added.
  const queues = createQueues(
    harness.container.redis,
    redisKeys(`${harness.container.config.QUEUE_PREFIX}-add-jobs`, harness.container.config.REDIS_MODE),
  );
  try {
    await addJobs(queues.send, [sendJob('msg_alone')]);
    await addJobs(queues.send, [sendJob('msg_first'), sendJob('msg_second')]);
    await addJobs(queues.send, [sendJob('msg_alone')]);
    await addJobs(queues.send, []);
    const [alone, first, second] = await Promise.all(['msg_alone', 'msg_first', 'msg_second'].map((id) => queues.send.getJob(id)));
    expect(await queues.send.getWaitingCount()).toBe(3);
    for (const job of [alone, first, second]) expect(job?.name).toBe('send');
    expect(alone?.data).toEqual({ messageId: 'msg_alone' });
    const { jobId: _aloneId, ...aloneOpts } = alone!.opts;
    const { jobId: _firstId, ...firstOpts } = first!.opts;
    expect(aloneOpts).toEqual(firstOpts);
    expect(aloneOpts).toMatchObject(JOB_CATALOG.send.defaults);
  } finally {
    await queues.send.obliterate({ force: true });
    await queues.close();
  }
});

const MALFORMED: [QueueKey, string, unknown, RegExp][] = [
  ['send', 'bad-send', { messageId: 42 }, /^malformed send job bad-send: messageId: .*expected string/],
  ['send', 'bad-send-2', {}, /^malformed send job bad-send-2: messageId: /],
  ['providerEvents', 'bad-event', { providerEventId: '' }, /^malformed provider-events job bad-event: providerEventId: /],
  [
    'clerkWriteback',
    'bad-writeback',
    { emailStatus: 'maybe', recipient: 'a@example.com', messageId: null, reason: 'x', at: 'now' },
    /^malformed clerk-writeback job bad-writeback: emailStatus: /,
  ],
  ['maintenance', 'bad-task', { task: 'reboot' }, /^malformed maintenance job bad-task: task: /],
  ['outboundWebhooks', 'bad-delivery', { deliveryId: 'whd_1', trigger: 'later' }, /^malformed outbound-webhooks job bad-delivery: /],
  ['send', 'bad-trace', { messageId: 'msg_x', trace: { traceparent: 7 } }, /^malformed send job bad-trace: trace\.traceparent: /],
];

it.each(MALFORMED)(
  'a malformed %s job (%s) fails at once, saying what is wrong, without spending its retries',
  async (key, jobId, data, reason) => {
    const queue = harness.container.queues[key] as unknown as Queue;
    await queue.add('malformed', data, { jobId });
    const { job, state } = await settledJob(queue, jobId);
    expect(state).toBe('failed');
    expect(job.failedReason).toMatch(reason);
    expect(job.attemptsMade).toBe(1);
  },
);

it('one malformed job does not hold up the messages queued with it', async () => {
  const queue = harness.container.queues.send as unknown as Queue;
  await queue.add('malformed', { messageId: ['x'] }, { jobId: 'bad-send-3' });
  const id = await acceptClerkEvent(harness.request, emailCreated());
  const sent = await waitFor(
    async () => {
      const message = await database.db.message.findUniqueOrThrow({ where: { id } });
      return message.status === 'sent' ? message : null;
    },
    { timeoutMs: 20_000 },
  );
  expect(sent.status).toBe('sent');
  expect((await settledJob(queue, 'bad-send-3')).state).toBe('failed');
});

it('parses job data with its queue schema: unknown keys are dropped, a wrong type is named', () => {
  expect(parseJobData('providerEvents', { id: '1', data: { providerEventId: 'pev_1', extra: true } })).toEqual({
    providerEventId: 'pev_1',
  });
  expect(() => parseJobData('send', { id: '2', data: { messageId: 'msg_1', providerIndex: -1 } })).toThrow(MalformedJobError);
  expect(() => parseJobData('send', { id: '2', data: { messageId: 'msg_1', providerIndex: -1 } })).toThrow(
    /^malformed send job 2: providerIndex: /,
  );
});

it("keeps each job's trace context and the send path's own fields through the parse", () => {
  const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=1' };
  const failures = { eventId: '7', provider: 'resend', key: 'retry:503:', count: 2, firstAt: 'a', lastAt: 'b' };
  const send = { messageId: 'msg_1', providerIndex: 1, providerAttempts: 0, providerUnanswered: true, failures, trace };
  expect(parseJobData('send', { id: '1', data: send })).toEqual(send);
  expect(parseJobData('providerEvents', { id: '2', data: { providerEventId: 'pev_1', trace } })).toEqual({
    providerEventId: 'pev_1',
    trace,
  });
  const writeback = { emailStatus: 'deliverable', recipient: 'a@example.com', messageId: null, reason: 'released', at: 'now', trace };
  expect(parseJobData('clerkWriteback', { id: '3', data: writeback })).toEqual(writeback);
  const delivery = { deliveryId: 'whd_1', trigger: 'manual', trace };
  expect(parseJobData('outboundWebhooks', { id: '4', data: delivery })).toEqual(delivery);
  expect(parseJobData('outboundWebhooks', { id: '5', data: { task: 'sweep' } })).toEqual({ task: 'sweep' });
});
