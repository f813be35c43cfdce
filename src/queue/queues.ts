import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * Every queue and the payload of its jobs, in one place. Job data is stored in clear in Redis, so payloads
 * carry ids only: message content stays in Postgres.
 */
export interface QueuePayloads {
  send: SendJobData;
  maintenance: MaintenanceJobData;
}

export type QueueName = keyof QueuePayloads;

export interface SendJobData {
  messageId: string;
  /** Where the provider chain stands after earlier tries; absent on the first run. */
  providerIndex?: number;
  providerAttempts?: number;
}

export type MaintenanceJobData = { task: 'sweep' } | { task: 'retention' };

/** Redis for the HTTP path: fail fast when Redis is gone so the receiver answers 503 and Svix retries. */
export function createProducerConnection(url: string): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
}

/** Redis for workers: BullMQ needs blocking commands to wait out outages (maxRetriesPerRequest: null). */
export function createWorkerConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

const SEND_JOB_DEFAULTS: JobsOptions = {
  // Retries here cover infrastructure errors (Postgres unreachable, a bug); provider retries are scheduled by
  // the delivery service itself, and the sweeper re-drives anything these give up on.
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  // Completed ids are kept for a day so a late duplicate add stays a no-op; the database is the real gate.
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export interface Queues {
  send: Queue<SendJobData>;
  maintenance: Queue<MaintenanceJobData>;
  all(): Queue[];
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string): Queues {
  const send = new Queue<SendJobData>('send', { connection, prefix, defaultJobOptions: SEND_JOB_DEFAULTS });
  const maintenance = new Queue<MaintenanceJobData>('maintenance', {
    connection,
    prefix,
    defaultJobOptions: { removeOnComplete: { count: 100 }, removeOnFail: { count: 500 } },
  });
  const all = (): Queue[] => [send, maintenance];
  return {
    send,
    maintenance,
    all,
    async close() {
      await Promise.all(all().map((q) => q.close()));
    },
  };
}

/** The job id of a message's send job: the message id itself, so adding it twice is a no-op. */
export const sendJobId = (messageId: string): string => messageId;
