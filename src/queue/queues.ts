import { DelayedError, Queue, type Job, type JobsOptions } from 'bullmq';
import type { RedisClient, RedisKeys } from '../lib/redis';
import type { Traced } from '../lib/tracing';

/*
 * The payload of each queue's jobs. Job data is stored in clear in Redis, so payloads carry ids only:
 * message content stays in Postgres.
 */

/** One provider's unbroken run of skips for one reason: a single `provider_skipped` event on the timeline. */
export interface SkipRun {
  /** message_events.id of the run's event (a bigint, as text so it survives the job's JSON). */
  eventId: string;
  reason: string;
  count: number;
  firstAt: string;
  lastAt: string;
  retryInMs: number;
  /** The count the event last recorded, and when: the rest is written once a while, not on every re-check. */
  writtenCount: number;
  writtenAt: string;
}

/**
 * Identical failures in a row past PROVIDER_ATTEMPTS on one provider (its last-resort retries): one
 * `send_failed` event, its count brought up to date on each further failure.
 */
export interface FailureRun {
  eventId: string;
  provider: string;
  /** outcome:status:code; a different answer starts a new event. */
  key: string;
  count: number;
  firstAt: string;
  lastAt: string;
}

/** Skip runs by provider name, carried in the send job's data from one re-check to the next. */
export type SkipRuns = Record<string, SkipRun>;

export interface SendJobData extends Traced {
  messageId: string;
  /** Where the provider chain stands after earlier tries; absent on the first run. */
  providerIndex?: number;
  providerAttempts?: number;
  /** The last attempt at `providerIndex` got no answer: that provider may hold the message (send-decision.ts). */
  providerUnanswered?: boolean;
  /** Skip runs still being counted while the message waits for a provider (see delivery/skip-log.ts). */
  skips?: SkipRuns;
  /** The run of repeated failures still being counted (see FailureRun). */
  failures?: FailureRun;
}

export type MaintenanceJobData = { task: 'sweep' } | { task: 'deliverability' } | { task: 'retention' };

/** Apply one stored provider webhook (provider_events.id) to its message. */
export interface ProviderEventJobData extends Traced {
  providerEventId: string;
}

/** Tell Clerk whether a user's email address can receive mail (public_metadata.email_status). */
export interface ClerkWritebackJobData extends Traced {
  emailStatus: 'undeliverable' | 'deliverable';
  recipient: string;
  /** The message behind it: its user_id finds the Clerk user, and its timeline records the outcome. */
  messageId: string | null;
  reason: string;
  at: string;
  /** Tries so far (429s and server errors), so the job gives up after a bound. */
  tries?: number;
}

/** One outbound event to one tenant endpoint (webhook_deliveries.id), or the sweep that re-queues lost ones. */
export type OutboundWebhookJobData = { deliveryId: string; trigger: 'scheduled' | 'manual' } | { task: 'sweep' };

const SEND_JOB_DEFAULTS: JobsOptions = {
  // Retries here cover infrastructure errors (Postgres unreachable, a bug); provider retries are scheduled by
  // the delivery service itself, and the sweeper re-drives anything these give up on.
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  // Completed ids are kept for a day so a late duplicate add stays a no-op; the database is the real gate.
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

const PROVIDER_EVENT_JOB_DEFAULTS: JobsOptions = {
  // An event can arrive before our own write of the provider's message id: retried with backoff
  // (1 s, 2 s, 4 s … about 17 minutes in all); after that the maintenance job picks it up again.
  attempts: 11,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export interface Queues {
  send: Queue<SendJobData>;
  maintenance: Queue<MaintenanceJobData>;
  providerEvents: Queue<ProviderEventJobData>;
  clerkWriteback: Queue<ClerkWritebackJobData>;
  outboundWebhooks: Queue<OutboundWebhookJobData>;
  all(): Queue[];
  close(): Promise<void>;
}

/** Each queue under its own prefix from `keys`: in cluster mode each queue is one hash slot. */
export function createQueues(connection: RedisClient, keys: RedisKeys): Queues {
  const send = new Queue<SendJobData>('send', { connection, prefix: keys.queue('send'), defaultJobOptions: SEND_JOB_DEFAULTS });
  const maintenance = new Queue<MaintenanceJobData>('maintenance', {
    connection,
    prefix: keys.queue('maintenance'),
    defaultJobOptions: { removeOnComplete: { count: 100 }, removeOnFail: { count: 500 } },
  });
  const providerEvents = new Queue<ProviderEventJobData>('provider-events', {
    connection,
    prefix: keys.queue('provider-events'),
    defaultJobOptions: PROVIDER_EVENT_JOB_DEFAULTS,
  });
  const clerkWriteback = new Queue<ClerkWritebackJobData>('clerk-writeback', {
    connection,
    prefix: keys.queue('clerk-writeback'),
    // Clerk's own 429s and 5xx are retried by the write-back itself (bounded); these attempts cover our side
    // (Postgres unreachable).
    defaultJobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  const outboundWebhooks = new Queue<OutboundWebhookJobData>('outbound-webhooks', {
    connection,
    prefix: keys.queue('outbound-webhooks'),
    // The endpoint's retry schedule is kept by the delivery itself (moved to delayed); these attempts cover
    // our side (Postgres unreachable).
    defaultJobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  const all = (): Queue[] => [send, maintenance, providerEvents, clerkWriteback, outboundWebhooks];
  return {
    send,
    maintenance,
    providerEvents,
    clerkWriteback,
    outboundWebhooks,
    all,
    async close() {
      await Promise.all(all().map((q) => q.close()));
    },
  };
}

/**
 * The job id of a message's send job: the message id itself, so adding it twice is a no-op; an admin retry
 * (a new send generation) gets a job of its own.
 */
export const sendJobId = (messageId: string, generation = 0): string =>
  generation === 0 ? messageId : `${messageId}-retry-${generation}`;

/** A message's send job, in the shape `add` and `addBulk` take. */
export const sendJob = (messageId: string, generation = 0) =>
  ({ name: 'send', data: { messageId } satisfies SendJobData, opts: { jobId: sendJobId(messageId, generation) } }) as const;

/** A delivery's scheduled job: its id is the delivery's, so queueing it again is a no-op while it lives. */
export const outboundJob = (deliveryId: string) =>
  ({ name: 'deliver', data: { deliveryId, trigger: 'scheduled' } satisfies OutboundWebhookJobData, opts: { jobId: deliveryId } }) as const;

/** The job id of a stored provider event's job: its row id, so queueing it again is a no-op while it lives. */
export const providerEventJobId = (providerEventId: string): string => providerEventId;

/**
 * Queue a job again whatever became of the previous one with its id: a failed one is retried, a finished or
 * vanished one is added afresh, a live one (waiting, delayed, active) is left alone.
 */
export async function requeueJob<T>(queue: Queue<T>, jobId: string, add: () => Promise<unknown>): Promise<'added' | 'retried' | 'alive'> {
  const job = await queue.getJob(jobId);
  if (job) {
    const state = await job.getState();
    if (state === 'failed') {
      await job.retry('failed');
      return 'retried';
    }
    if (state !== 'completed' && state !== 'unknown') return 'alive';
    await job.remove();
  }
  await add();
  return 'added';
}

/**
 * From inside a worker: runs the job again with `data` after `delayMs`, without spending one of its attempts
 * (BullMQ's delayed-job pattern), so a provider's Retry-After is kept to the millisecond.
 */
export async function runAgainLater<T>(job: Job<T>, token: string | undefined, data: T, delayMs: number): Promise<never> {
  await job.updateData(data);
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
