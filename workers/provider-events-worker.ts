import type { Worker } from 'bullmq';
import type { RedisClient } from '../src/lib/redis';
import { MessageNotFoundYetError, type ProviderEvents } from '../src/deliverability/provider-events';
import type { Logger } from '../src/lib/logger';
import { withJobSpan } from '../src/lib/tracing';
import { JOB_CATALOG, type ProviderEventJobData } from '../src/queue/catalog';
import { createJobWorker } from '../src/queue/queues';

/**
 * Applies stored provider events. An event for a message we cannot match yet (the webhook beat our own
 * write of the provider's id) throws, and BullMQ retries it with the queue's exponential backoff.
 */
export function createProviderEventsWorker(options: {
  connection: RedisClient;
  prefix: string;
  providerEvents: Pick<ProviderEvents, 'apply'>;
  log: Logger;
  /** EVENT_CONCURRENCY */
  concurrency: number;
}): Worker<ProviderEventJobData> {
  const { providerEvents, log } = options;
  const worker = createJobWorker(
    'providerEvents',
    (data, job) => withJobSpan(JOB_CATALOG.providerEvents.name, job, () => providerEvents.apply(data.providerEventId)),
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
    },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'provider-events worker error'));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const waiting = err instanceof MessageNotFoundYetError;
    log[waiting ? 'info' : 'error'](
      { provider_event_id: job.data.providerEventId, attempts: job.attemptsMade, err: err.message },
      waiting ? 'provider event waits for its message' : 'provider event job failed',
    );
  });
  return worker;
}
