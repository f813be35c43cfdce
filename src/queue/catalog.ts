import { Queue, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { RedisClient, RedisKeys } from '../lib/redis';
import { injectTraceContext, type TraceCarrier } from '../lib/tracing';

/*
 * Every queue in one table: its BullMQ name, the zod schema of its jobs' data, its default job options, and
 * below, the functions that produce its jobs (with their job id schemes). Workers parse a job's data with the
 * schema before they run it (createJobWorker, queue/queues.ts). Adding a queue is one entry here, its producer, and its worker.
 *
 * Job data is stored in clear in Redis, so payloads carry ids only: message content stays in Postgres.
 */

/**
 * The W3C trace context of whatever queued the job (lib/tracing.ts `injectTraceContext`), optional on every
 * queue: absent when tracing is off.
 */
const Trace = z.object({ traceparent: z.string().optional(), tracestate: z.string().optional() }).optional() satisfies z.ZodType<
  TraceCarrier | undefined
>;

/** One provider's unbroken run of skips for one reason: a single `provider_skipped` event on the timeline. */
const SkipRun = z.object({
  /** message_events.id of the run's event (a bigint, as text so it survives the job's JSON). */
  eventId: z.string(),
  reason: z.string(),
  count: z.number().int(),
  firstAt: z.string(),
  lastAt: z.string(),
  retryInMs: z.number(),
  /** The count the event last recorded, and when: the rest is written once a while, not on every re-check. */
  writtenCount: z.number().int(),
  writtenAt: z.string(),
});

/**
 * Identical failures in a row past PROVIDER_ATTEMPTS on one provider (its last-resort retries): one
 * `send_failed` event, its count brought up to date on each further failure.
 */
const FailureRun = z.object({
  eventId: z.string(),
  provider: z.string(),
  /** outcome:status:code; a different answer starts a new event. */
  key: z.string(),
  count: z.number().int(),
  firstAt: z.string(),
  lastAt: z.string(),
});

const SendJob = z.object({
  messageId: z.string().min(1),
  /** Where the provider chain stands after earlier tries; absent on the first run. */
  providerIndex: z.number().int().nonnegative().optional(),
  providerAttempts: z.number().int().nonnegative().optional(),
  /** The last attempt at `providerIndex` got no answer: that provider may hold the message (send-decision.ts). */
  providerUnanswered: z.boolean().optional(),
  /** Skip runs by provider name, still being counted while the message waits for a provider (delivery/skip-log.ts). */
  skips: z.record(z.string(), SkipRun).optional(),
  /** The run of repeated failures still being counted (see FailureRun). */
  failures: FailureRun.optional(),
  trace: Trace,
});

const MaintenanceJob = z.discriminatedUnion('task', [
  z.object({ task: z.literal('sweep') }),
  z.object({ task: z.literal('deliverability') }),
  z.object({ task: z.literal('retention') }),
  z.object({ task: z.literal('rollup') }),
]);

/** Apply one stored provider webhook (provider_events.id) to its message. */
const ProviderEventJob = z.object({ providerEventId: z.string().min(1), trace: Trace });

/** Tell Clerk whether a user's email address can receive mail (public_metadata.email_status). */
const ClerkWritebackJob = z.object({
  emailStatus: z.enum(['undeliverable', 'deliverable']),
  recipient: z.string().min(1),
  /** The message behind it: its user_id finds the Clerk user, and its timeline records the outcome. */
  messageId: z.string().nullable(),
  reason: z.string(),
  at: z.string(),
  /** Tries so far (429s and server errors), so the job gives up after a bound. */
  tries: z.number().int().nonnegative().optional(),
  trace: Trace,
});

/** One outbound event to one tenant endpoint (webhook_deliveries.id), or the sweep that re-queues lost ones. */
const OutboundWebhookJob = z.union([
  z.object({ deliveryId: z.string().min(1), trigger: z.enum(['scheduled', 'manual']), trace: Trace }),
  z.object({ task: z.literal('sweep'), trace: Trace }),
]);

const DAY_S = 24 * 3600;

/**
 * A job retried `attempts` times with exponential backoff; the last day's completed ids are kept (the newest
 * `completedKept`), failed jobs for a week.
 */
function retried(attempts: number, backoff: { delay: number; jitter?: number }, completedKept: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', ...backoff },
    removeOnComplete: { age: DAY_S, count: completedKept },
    removeOnFail: { age: 7 * DAY_S },
  };
}

export const JOB_CATALOG = {
  send: {
    name: 'send',
    data: SendJob,
    // Retries here cover infrastructure errors (Postgres unreachable, a bug); provider retries are scheduled by
    // the delivery service itself, and the sweeper re-drives anything these give up on. Completed ids are kept
    // for a day so a late duplicate add stays a no-op; the database is the real gate.
    defaults: retried(8, { delay: 1_000, jitter: 0.5 }, 50_000),
  },
  maintenance: {
    name: 'maintenance',
    data: MaintenanceJob,
    defaults: { removeOnComplete: { count: 100 }, removeOnFail: { count: 500 } },
  },
  providerEvents: {
    name: 'provider-events',
    data: ProviderEventJob,
    // An event can arrive before our own write of the provider's message id: retried with backoff
    // (1 s, 2 s, 4 s … about 17 minutes in all); after that the maintenance job picks it up again.
    defaults: retried(11, { delay: 1_000 }, 50_000),
  },
  clerkWriteback: {
    name: 'clerk-writeback',
    data: ClerkWritebackJob,
    // Clerk's own 429s and 5xx are retried by the write-back itself (bounded); these attempts cover our side
    // (Postgres unreachable).
    defaults: retried(5, { delay: 2_000 }, 10_000),
  },
  outboundWebhooks: {
    name: 'outbound-webhooks',
    data: OutboundWebhookJob,
    // The endpoint's retry schedule is kept by the delivery itself (moved to delayed); these attempts cover
    // our side (Postgres unreachable).
    defaults: retried(5, { delay: 5_000 }, 10_000),
  },
} as const satisfies Record<string, { name: string; data: z.ZodType; defaults: JobsOptions }>;

export type QueueKey = keyof typeof JOB_CATALOG;
export type JobData<K extends QueueKey> = z.infer<(typeof JOB_CATALOG)[K]['data']>;

export type SendJobData = JobData<'send'>;
export type SkipRun = z.infer<typeof SkipRun>;
export type SkipRuns = NonNullable<SendJobData['skips']>;
export type FailureRun = z.infer<typeof FailureRun>;
export type MaintenanceJobData = JobData<'maintenance'>;
export type ProviderEventJobData = JobData<'providerEvents'>;
export type ClerkWritebackJobData = JobData<'clerkWriteback'>;
export type OutboundWebhookJobData = JobData<'outboundWebhooks'>;

export type Queues = { [K in QueueKey]: Queue<JobData<K>> } & {
  all(): Queue[];
  close(): Promise<void>;
};

const QUEUE_KEYS = Object.keys(JOB_CATALOG) as QueueKey[];

/** Each queue under its own prefix from `keys`: in cluster mode each queue is one hash slot. */
export function createQueues(connection: RedisClient, keys: RedisKeys): Queues {
  const byKey = Object.fromEntries(
    QUEUE_KEYS.map((key) => {
      const { name, defaults } = JOB_CATALOG[key];
      return [key, new Queue(name, { connection, prefix: keys.queue(name), defaultJobOptions: defaults })];
    }),
  ) as { [K in QueueKey]: Queue<JobData<K>> };
  const all = (): Queue[] => QUEUE_KEYS.map((key) => byKey[key] as Queue);
  return {
    ...byKey,
    all,
    async close() {
      await Promise.all(all().map((q) => q.close()));
    },
  };
}

/* Producers. */

/**
 * The job id of a message's send job: the message id itself, so adding it twice is a no-op; an admin retry
 * (a new send generation) gets a job of its own.
 */
export const sendJobId = (messageId: string, generation = 0): string => (generation === 0 ? messageId : `${messageId}-retry-${generation}`);

/** A message's send job, in the shape `add` and `addBulk` take. */
export const sendJob = (messageId: string, generation = 0) =>
  ({ name: 'send', data: { messageId } satisfies SendJobData, opts: { jobId: sendJobId(messageId, generation) } }) as const;

/** A delivery's scheduled job: its id is the delivery's, so queueing it again is a no-op while it lives. */
export const outboundJob = (deliveryId: string) =>
  ({ name: 'deliver', data: { deliveryId, trigger: 'scheduled' } satisfies OutboundWebhookJobData, opts: { jobId: deliveryId } }) as const;

/** A delivery's "resend" (dashboard, API): one attempt now, outside its schedule, under a job id of its own. */
export const outboundResendJob = (deliveryId: string, at: Date) =>
  ({
    name: 'deliver',
    data: { deliveryId, trigger: 'manual' } satisfies OutboundWebhookJobData,
    opts: { jobId: `${deliveryId}-resend-${at.getTime()}`, attempts: 1 },
  }) as const;

/** The job id of a stored provider event's job: its row id, so queueing it again is a no-op while it lives. */
export const providerEventJobId = (providerEventId: string): string => providerEventId;

export async function enqueueProviderEvent(queues: Pick<Queues, 'providerEvents'>, providerEventId: string): Promise<void> {
  // Queued on the webhook request: the event's job continues that request's trace.
  await queues.providerEvents.add('apply', injectTraceContext({ providerEventId }), { jobId: providerEventJobId(providerEventId) });
}

/** Queues a Clerk write-back; `jobKey` names the change, so queueing the same change again is a no-op. */
export async function enqueueClerkWriteback(
  queues: Pick<Queues, 'clerkWriteback'>,
  data: ClerkWritebackJobData,
  jobKey: string,
): Promise<void> {
  // Queued while a message's event is applied: the write-back joins that message's trace.
  await queues.clerkWriteback.add('writeback', injectTraceContext(data), { jobId: jobKey });
}

export const SWEEP_EVERY_MS = 30_000;
export const DELIVERABILITY_EVERY_MS = 60_000;
/** Daily, at a quiet hour (UTC): deletes are batched, but there is no reason to do them at peak. */
export const RETENTION_CRON = '17 3 * * *';
/** Folds the messages changed since the last run into the stats' hourly rollup (deliverability/stats-rollup.ts). */
export const ROLLUP_EVERY_MS = 60_000;
export const MAINTENANCE_SCHEDULER_IDS = ['sweep', 'deliverability', 'retention', 'rollup'] as const;

/**
 * Periodic housekeeping as BullMQ job schedulers (the scheduler id is the task), so it runs once per interval
 * however many worker processes there are. `sweepEveryMs` is shortened by tests only.
 */
export async function scheduleMaintenance(queues: Pick<Queues, 'maintenance'>, sweepEveryMs = SWEEP_EVERY_MS): Promise<void> {
  const repeat = {
    sweep: { every: sweepEveryMs },
    deliverability: { every: DELIVERABILITY_EVERY_MS },
    retention: { pattern: RETENTION_CRON, tz: 'UTC' },
    rollup: { every: ROLLUP_EVERY_MS },
  };
  for (const task of MAINTENANCE_SCHEDULER_IDS)
    await queues.maintenance.upsertJobScheduler(task, repeat[task], { name: task, data: { task } });
}

export const OUTBOUND_SWEEP_EVERY_MS = 60_000;

/** Registers the sweep that re-queues deliveries whose job was lost (once per interval, whatever the number of workers). */
export async function scheduleOutboundSweep(queues: Pick<Queues, 'outboundWebhooks'>): Promise<void> {
  await queues.outboundWebhooks.upsertJobScheduler(
    'outbound-sweep',
    { every: OUTBOUND_SWEEP_EVERY_MS },
    { name: 'sweep', data: { task: 'sweep' } },
  );
}
