import type { Worker } from 'bullmq';
import type { RedisClient } from '../src/lib/redis';
import type { ClerkWriteback } from '../src/deliverability/clerk-writeback';
import type { Logger } from '../src/lib/logger';
import { withJobSpan } from '../src/lib/tracing';
import type { Metrics } from '../src/metrics/metrics';
import { JOB_CATALOG, type ClerkWritebackJobData } from '../src/queue/catalog';
import { createJobWorker, runAgainLater } from '../src/queue/queues';

/**
 * Clerk write-backs. A 429 or a server error comes back as a delay (Clerk's Retry-After when it gives one)
 * and the job is moved to delayed; the service counts the tries and gives up after its bound.
 */
export function createClerkWritebackWorker(options: {
  connection: RedisClient;
  prefix: string;
  clerkWriteback: Pick<ClerkWriteback, 'process'>;
  metrics: Pick<Metrics, 'clerkWriteBack'>;
  log: Logger;
  /** WRITEBACK_CONCURRENCY */
  concurrency: number;
}): Worker<ClerkWritebackJobData> {
  const { clerkWriteback, metrics, log } = options;
  const worker = createJobWorker(
    'clerkWriteback',
    async (data, job, token) =>
      withJobSpan(JOB_CATALOG.clerkWriteback.name, job, async (span) => {
        const outcome = await clerkWriteback.process(data);
        const result = outcome.kind === 'retry' ? 'retry' : outcome.outcome;
        metrics.clerkWriteBack(result);
        span.setAttribute('auth_relay.outcome', result);
        if (outcome.kind === 'retry') return runAgainLater(job, token, { ...data, tries: outcome.tries }, outcome.delayMs);
        return outcome.outcome;
      }),
    // Clerk limits metadata updates to 10 per 10 s per user; a few at a time (default 5) is plenty.
    { connection: options.connection, prefix: options.prefix, concurrency: options.concurrency },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'clerk-writeback worker error'));
  worker.on('failed', (job, err) => {
    if (job) log.error({ message_id: job.data.messageId, err: err.message }, 'clerk write-back job failed');
  });
  return worker;
}
